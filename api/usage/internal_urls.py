from django.urls import path

from api.usage.apis import EgressApi, RecordingStoredApi

urlpatterns = [
    path("storage/stored", RecordingStoredApi.as_view(), name="ingest-storage-stored"),
    path("egress", EgressApi.as_view(), name="hls-egress"),
]
