from django.urls import path

from api.uploads.apis import UploadCollectionApi, UploadDetailApi

urlpatterns = [
    path("uploads/", UploadCollectionApi.as_view(), name="uploads"),
    path("uploads/<str:id>", UploadDetailApi.as_view(), name="upload"),
]
