from django.urls import path

from api.channels.apis import (
    ChannelPublicDetailApi,
    ChannelPublicListApi,
    UserChannelApi,
    UserChannelStreamKeyApi,
)

urlpatterns = [
    path("user/channel", UserChannelApi.as_view(), name="user-channel"),
    path("user/channel/stream-key", UserChannelStreamKeyApi.as_view(), name="user-channel-stream-key"),
    path("channels/", ChannelPublicListApi.as_view(), name="channels"),
    path("channels/<str:name>", ChannelPublicDetailApi.as_view(), name="channel-detail"),
]
