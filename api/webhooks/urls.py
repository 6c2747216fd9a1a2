from django.urls import path, re_path

from api.webhooks.apis import (
    WEBHOOK_ID_PATTERN,
    UserWebhookDeliveriesApi,
    UserWebhookDetailApi,
    UserWebhooksApi,
)

urlpatterns = [
    path("user/webhooks", UserWebhooksApi.as_view(), name="user-webhooks"),
    re_path(
        rf"^user/webhooks/(?P<webhook_id>{WEBHOOK_ID_PATTERN})$",
        UserWebhookDetailApi.as_view(),
        name="user-webhook",
    ),
    re_path(
        rf"^user/webhooks/(?P<webhook_id>{WEBHOOK_ID_PATTERN})/deliveries$",
        UserWebhookDeliveriesApi.as_view(),
        name="user-webhook-deliveries",
    ),
]
