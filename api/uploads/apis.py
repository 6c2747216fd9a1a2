"""tus 1.0.0 over DRF: thin views around api.uploads.protocol (headers) and services (bytes).

A PATCH body is never parsed by DRF: the view hands the service a `readinto` over the request's
body (api.uploads.body: straight from the socket under gunicorn), which it reads into one bounded
buffer. While it reads, the connection's socket (gunicorn's, or the
development server's) times out after UPLOAD_READ_TIMEOUT_SECONDS of silence.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.core.errors import DomainError
from api.core.schema import error_response
from api.uploads import protocol
from api.uploads.body import body_readinto
from api.uploads.selectors import NO_UPLOAD, upload_get_for_owner
from api.uploads.services import (
    upload_append,
    upload_check_open,
    upload_create,
    upload_received_bytes,
    upload_terminate,
)
from api.videos.apis import signed_in_user
from api.videos.serializers import VideoOwnerOutputSerializer

TUS_RESUMABLE_HEADER = OpenApiParameter(
    "Tus-Resumable", str, OpenApiParameter.HEADER, required=True, enum=[protocol.TUS_VERSION]
)
UPLOAD_ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)
WRONG_VERSION = error_response("Tus-Resumable is missing or names another protocol version.")
NOT_YOURS = error_response(NO_UPLOAD + " (another user's upload is not found either)")


class SignedInExceptOptions(BasePermission):
    """OPTIONS tells the server's capabilities to anyone (tus discovery); the rest needs sign-in."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method == "OPTIONS" or IsAuthenticated().has_permission(request, view)


def _socket_of(request: Request) -> socket.socket | None:
    meta = request._request.META
    candidate = meta.get("gunicorn.socket")
    if isinstance(candidate, socket.socket):
        return candidate
    raw = getattr(getattr(meta.get("wsgi.input"), "stream", meta.get("wsgi.input")), "raw", None)
    candidate = getattr(raw, "_sock", None)
    return candidate if isinstance(candidate, socket.socket) else None


@contextmanager
def _read_timeout(request: Request) -> Iterator[None]:
    """Every read of the body gives up after UPLOAD_READ_TIMEOUT_SECONDS without a byte."""
    sock = _socket_of(request)
    if sock is None:
        yield
        return
    previous = sock.gettimeout()
    sock.settimeout(settings.UPLOAD_READ_TIMEOUT_SECONDS)
    try:
        yield
    finally:
        sock.settimeout(previous)


class TusApiView(APIView):
    permission_classes = [SignedInExceptOptions]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, protocol.TusError):
            exc = DomainError(exc.message, code=exc.code, status_code=exc.status)
        response = super().handle_exception(exc)
        if response.status_code == status.HTTP_412_PRECONDITION_FAILED:
            response["Tus-Version"] = protocol.TUS_VERSION
        return response

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = protocol.TUS_VERSION
        response["Access-Control-Expose-Headers"] = ", ".join(protocol.EXPOSED_HEADERS)
        response["Cache-Control"] = "no-store"
        return response

    def _capabilities(self) -> Response:
        response = Response(status=status.HTTP_204_NO_CONTENT)
        for name, value in protocol.Capabilities(max_size=settings.UPLOAD_MAX_BYTES).headers().items():
            response[name] = value
        return response


class UploadCollectionApi(TusApiView):
    """Create an upload (tus creation); OPTIONS tells the server's tus capabilities."""

    @extend_schema(exclude=True)
    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        return self._capabilities()

    @extend_schema(
        tags=["uploads"],
        operation_id="uploads_create",
        summary="Create a tus upload (and its video)",
        description=(
            "tus 1.0.0 creation. `Upload-Metadata` carries `filename`, `title` and `description`, "
            "each base64-encoded. The answer's `Location` is where the bytes go (PATCH), "
            "`Video-Url` the video's url."
        ),
        request=None,
        parameters=[
            TUS_RESUMABLE_HEADER,
            OpenApiParameter(
                "Upload-Length", str, OpenApiParameter.HEADER, required=True, pattern="^[1-9][0-9]{0,18}$"
            ),
            OpenApiParameter("Upload-Metadata", str, OpenApiParameter.HEADER),
        ],
        responses={
            201: OpenApiResponse(VideoOwnerOutputSerializer, description="Created: see Location."),
            400: error_response("A missing or malformed Upload-Length or Upload-Metadata, or a bad title."),
            409: error_response("You need a channel to upload videos."),
            412: WRONG_VERSION,
            413: error_response("Larger than UPLOAD_MAX_BYTES or than the storage quota that remains."),
        },
    )
    def post(self, request: Request) -> Response:
        headers = request.headers
        protocol.check_resumable(headers.get("Tus-Resumable"))
        length = protocol.parse_upload_length(headers.get("Upload-Length"))
        metadata = protocol.parse_metadata(headers.get("Upload-Metadata"))
        upload = upload_create(user=signed_in_user(request), length=length, metadata=metadata)
        data = VideoOwnerOutputSerializer(upload.video, context={"request": request}).data
        response = Response(data, status=status.HTTP_201_CREATED)
        response["Location"] = f"/api/uploads/{upload.id}"
        response["Video-Url"] = upload.video.url
        response["Upload-Expires"] = protocol.expires_header(upload.expires_at)
        return response


class UploadDetailApi(TusApiView):
    """One upload: its offset (HEAD), more bytes (PATCH), or its end (DELETE)."""

    @extend_schema(exclude=True)
    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        return self._capabilities()

    def head(self, request: Request, id: str) -> Response:
        protocol.check_resumable(request.headers.get("Tus-Resumable"))
        upload = upload_get_for_owner(owner=signed_in_user(request), upload_id=id)
        upload_check_open(upload=upload)
        response = Response(status=status.HTTP_200_OK)
        response["Upload-Offset"] = str(upload_received_bytes(upload=upload))
        response["Upload-Length"] = str(upload.length)
        if upload.completed_at is None:
            response["Upload-Expires"] = protocol.expires_header(upload.expires_at)
        return response

    @extend_schema(
        tags=["uploads"],
        operation_id="uploads_append",
        summary="Append bytes at Upload-Offset (tus core)",
        request={protocol.OFFSET_CONTENT_TYPE: OpenApiTypes.BINARY},
        parameters=[
            UPLOAD_ID_PARAMETER,
            TUS_RESUMABLE_HEADER,
            OpenApiParameter(
                "Upload-Offset", str, OpenApiParameter.HEADER, required=True, pattern="^[0-9]{1,19}$"
            ),
        ],
        responses={
            204: OpenApiResponse(description="Appended; Upload-Offset is the new offset."),
            400: error_response("A malformed Upload-Offset, or a body running past Upload-Length."),
            404: NOT_YOURS,
            409: error_response("Upload-Offset is not where the received bytes end."),
            410: error_response("The upload expired before it was finished."),
            411: error_response("No Content-Length."),
            412: WRONG_VERSION,
            415: error_response(f"The body is not {protocol.OFFSET_CONTENT_TYPE}."),
        },
    )
    def patch(self, request: Request, id: str) -> Response:
        headers = request.headers
        protocol.check_resumable(headers.get("Tus-Resumable"))
        upload = upload_get_for_owner(owner=signed_in_user(request), upload_id=id)
        protocol.check_patch_content_type(headers.get("Content-Type"))
        offset = protocol.parse_upload_offset(headers.get("Upload-Offset"))
        body_bytes = protocol.parse_content_length(headers.get("Content-Length"))
        with _read_timeout(request):
            readinto = body_readinto(
                meta=request._request.META, read=request._request.read, content_length=body_bytes
            )
            result = upload_append(upload=upload, offset=offset, body_bytes=body_bytes, readinto=readinto)
        response = Response(status=status.HTTP_204_NO_CONTENT)
        response["Upload-Offset"] = str(result.offset)
        if not result.complete:
            response["Upload-Expires"] = protocol.expires_header(upload.expires_at)
        return response

    @extend_schema(
        tags=["uploads"],
        operation_id="uploads_terminate",
        summary="Discard the upload and its video (tus termination)",
        request=None,
        parameters=[UPLOAD_ID_PARAMETER, TUS_RESUMABLE_HEADER],
        responses={204: None, 404: NOT_YOURS, 409: error_response("The video is live."), 412: WRONG_VERSION},
    )
    def delete(self, request: Request, id: str) -> Response:
        protocol.check_resumable(request.headers.get("Tus-Resumable"))
        upload = upload_get_for_owner(owner=signed_in_user(request), upload_id=id)
        upload_terminate(upload=upload)
        return Response(status=status.HTTP_204_NO_CONTENT)
