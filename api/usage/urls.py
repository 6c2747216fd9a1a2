from django.urls import path

from api.usage.apis import UserUsageApi

urlpatterns = [
    path("user/usage", UserUsageApi.as_view(), name="user-usage"),
]
