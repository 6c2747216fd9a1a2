from django.urls import path

from api.comments.apis import VideoCommentDetailApi, VideoCommentsApi

urlpatterns = [
    path("videos/<str:url>/comments", VideoCommentsApi.as_view(), name="video-comments"),
    path("videos/<str:url>/comments/<int:comment_id>", VideoCommentDetailApi.as_view(), name="video-comment"),
]
