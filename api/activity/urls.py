from django.urls import path

from api.activity.apis import UserActivityApi

urlpatterns = [
    path("user/activity", UserActivityApi.as_view(), name="user-activity"),
]
