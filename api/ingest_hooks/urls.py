from django.urls import path

from api.ingest_hooks.apis import PublishAuthorizeApi, PublishEndApi, PublishHeartbeatApi, ViewersApi

urlpatterns = [
    path("publish/authorize", PublishAuthorizeApi.as_view(), name="ingest-publish-authorize"),
    path("publish/heartbeat", PublishHeartbeatApi.as_view(), name="ingest-publish-heartbeat"),
    path("publish/end", PublishEndApi.as_view(), name="ingest-publish-end"),
    path("viewers", ViewersApi.as_view(), name="ingest-viewers"),
]
