from django.urls import path

from api.videos.apis import (
    UserChannelVideoDetailApi,
    UserChannelVideosApi,
    VideoPlaybackTokenApi,
    VideoPublicDetailApi,
    VideoPublicListApi,
)

urlpatterns = [
    path("user/channel/videos", UserChannelVideosApi.as_view(), name="user-channel-videos"),
    path("user/channel/videos/<str:url>", UserChannelVideoDetailApi.as_view(), name="user-channel-video"),
    path("videos/", VideoPublicListApi.as_view(), name="videos"),
    path("videos/<str:url>", VideoPublicDetailApi.as_view(), name="video-detail"),
    path("videos/<str:url>/playback-token", VideoPlaybackTokenApi.as_view(), name="video-playback-token"),
]
