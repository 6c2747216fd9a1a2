from django.urls import path

from api.usage.apis import EgressApi, RecordingStateApi, RecordingStoredApi

urlpatterns = [
    path("storage/stored", RecordingStoredApi.as_view(), name="ingest-storage-stored"),
    path("storage/state", RecordingStateApi.as_view(), name="ingest-storage-state"),
    path("egress", EgressApi.as_view(), name="hls-egress"),
]
