"""GET/POST /api/videos/<url>/comments and DELETE /api/videos/<url>/comments/<id>.

Reads are open to whoever may watch the video (a stale token reads anonymously, never a 401);
posting and deleting need a signed-in user. A video one may not watch has no comments for them: 404.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from api.comments.models import COMMENT_MAX_LENGTH, Comment
from api.comments.polling import DELETIONS_HEADER, deletions_if_nothing_new, remember_watchable
from api.comments.selectors import comment_list
from api.comments.services import comment_create, comment_delete
from api.comments.throttling import CommentPostRateThrottle
from api.core.authentication import JWTHeaderOrCookieAuthentication, OptionalJWTAuthentication
from api.core.errors import NotFound
from api.core.fields import StrictCharField
from api.core.schema import error_response
from api.users.models import User
from api.videos.apis import NO_PUBLIC_VIDEO, VIDEO_URL_PARAMETER, signed_in_or_none, signed_in_user
from api.videos.models import Video, VideoVisibility
from api.videos.selectors import video_get_watchable
from tidecast_common.layout import is_video_url


def watchable_video(request: Request, url: str) -> Video:
    if not is_video_url(url):
        raise NotFound(NO_PUBLIC_VIDEO)
    return video_get_watchable(url=url, user=signed_in_or_none(request))


def poll_cache_control(video: Video) -> str:
    """A public or unlisted video's list is the same for everyone: a shared cache (nginx) may keep
    it COMMENTS_CACHE_SECONDS, so a crowd polling one chat costs the API about one request per
    poll URL and second. A private video's is its owner's alone."""
    if video.visibility == VideoVisibility.PRIVATE:
        return "private, no-store"
    return public_cache_control()


def public_cache_control() -> str:
    if settings.COMMENTS_CACHE_SECONDS <= 0:
        return "private, no-store"
    return f"public, max-age={settings.COMMENTS_CACHE_SECONDS}"


class CommentAuthorSerializer(serializers.Serializer[Any]):
    username = serializers.CharField()
    display_name = serializers.SerializerMethodField()

    def get_display_name(self, user: User) -> str:
        try:
            return str(user.profile.display_name)
        except ObjectDoesNotExist:
            return ""


class CommentOutputSerializer(serializers.Serializer[Any]):
    class Meta:
        ref_name = "Comment"

    id = serializers.IntegerField()
    author = CommentAuthorSerializer()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class _ReadOpenWriteSignedIn(APIView):
    """GET for whoever may watch the video; anything else signed in (401 otherwise)."""

    def _reading(self) -> bool:
        request = getattr(self, "request", None)  # None while the schema generator inspects the view
        return request is None or request.method in ("GET", "HEAD", "OPTIONS")

    def get_authenticators(self) -> list[BaseAuthentication]:
        if self._reading():
            return [OptionalJWTAuthentication()]
        return [JWTHeaderOrCookieAuthentication()]

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()] if self._reading() else [IsAuthenticated()]


class VideoCommentsApi(_ReadOpenWriteSignedIn):
    class QuerySerializer(serializers.Serializer[Any]):
        after = serializers.IntegerField(required=False, min_value=0, max_value=2**62, default=0)
        last = serializers.IntegerField(required=False, min_value=0, max_value=1000, default=0)

    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "CommentInput"

        text = StrictCharField(min_length=1, max_length=COMMENT_MAX_LENGTH)

    def get_throttles(self) -> list[BaseThrottle]:
        request = getattr(self, "request", None)
        return [CommentPostRateThrottle()] if request is not None and request.method == "POST" else []

    @extend_schema(
        tags=["comments"],
        parameters=[
            VIDEO_URL_PARAMETER,
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0, "maximum": 2**62},
                description="Only comments with a greater id (for polling).",
            ),
            OpenApiParameter(
                "last",
                {"type": "integer", "minimum": 0, "maximum": 1000},
                description="Only the newest this many (still oldest first), e.g. to open a chat.",
            ),
            OpenApiParameter(
                DELETIONS_HEADER,
                int,
                OpenApiParameter.HEADER,
                response=[200],
                description="How many of the video's comments have been deleted so far: when it "
                "changes, read the list again (`last`) to drop what went.",
            ),
        ],
        responses={
            200: CommentOutputSerializer(many=True),
            400: error_response("`after` or `last` is not a whole number in range."),
            404: error_response(NO_PUBLIC_VIDEO),
        },
    )
    def get(self, request: Request, url: str) -> Response:
        """The video's comments, oldest first, at most COMMENTS_PAGE_SIZE: ask again with
        `after` set to the last id for the next ones."""
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after, last = query.validated_data["after"], query.validated_data["last"]
        deletions = deletions_if_nothing_new(url, after) if after and not last and is_video_url(url) else None
        if deletions is not None:
            # Nothing new on a video anyone may watch: the answer a crowd's polls mostly get.
            return Response(
                [], headers={"Cache-Control": public_cache_control(), DELETIONS_HEADER: str(deletions)}
            )
        video = watchable_video(request, url)
        comments = comment_list(video=video, after=after, last=last, limit=settings.COMMENTS_PAGE_SIZE)
        remember_watchable(video)
        data = CommentOutputSerializer(comments, many=True).data
        headers = {"Cache-Control": poll_cache_control(video), DELETIONS_HEADER: str(video.comments_deleted)}
        return Response(data, headers=headers)

    @extend_schema(
        tags=["comments"],
        parameters=[VIDEO_URL_PARAMETER],
        request=InputSerializer,
        responses={
            201: CommentOutputSerializer,
            403: error_response(
                "Comments are turned off for this video (`comments_disabled`), or no CSRF token."
            ),
            404: error_response(NO_PUBLIC_VIDEO),
        },
    )
    def post(self, request: Request, url: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        video = watchable_video(request, url)
        comment = comment_create(
            video=video, author=signed_in_user(request), text=serializer.validated_data["text"]
        )
        return Response(CommentOutputSerializer(comment).data, status=status.HTTP_201_CREATED)


class VideoCommentDetailApi(_ReadOpenWriteSignedIn):
    @extend_schema(
        tags=["comments"],
        parameters=[VIDEO_URL_PARAMETER, OpenApiParameter("comment_id", int, OpenApiParameter.PATH)],
        request=None,
        responses={
            204: None,
            403: error_response("Neither the author nor the video's owner (or no CSRF token)."),
            404: error_response("No such video or comment."),
        },
    )
    def delete(self, request: Request, url: str, comment_id: int) -> Response:
        video = watchable_video(request, url)
        comment_delete(video=video, comment_id=comment_id, user=signed_in_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


__all__ = ["Comment", "VideoCommentDetailApi", "VideoCommentsApi"]
