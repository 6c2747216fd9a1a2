from django.urls import path

from api.restream.apis import UserDestinationDetailApi, UserDestinationsApi

urlpatterns = [
    path("user/channel/destinations", UserDestinationsApi.as_view(), name="user-channel-destinations"),
    path(
        "user/channel/destinations/<str:destination_id>",
        UserDestinationDetailApi.as_view(),
        name="user-channel-destination",
    ),
]
