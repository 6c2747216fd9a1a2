from django.urls import path

from api.profiles.apis import ProfileApi, ProfilePictureApi

urlpatterns = [
    path("user/profile", ProfileApi.as_view(), name="user-profile"),
    path("user/profile/picture", ProfilePictureApi.as_view(), name="user-profile-picture"),
]
