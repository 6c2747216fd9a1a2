"""The owner's webhooks: add (the secret is shown in that answer only), list, delete, and the
record of every delivery try."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.core.fields import StrictRegexField
from api.core.pagination import PageNumberPagination
from api.core.schema import error_response
from api.core.throttling import client_ip
from api.users.models import User
from api.webhooks.models import URL_MAX_LENGTH, DeliveryState, WebhookEvent
from api.webhooks.selectors import webhook_attempt_list, webhook_get_for_owner, webhook_list_for_owner
from api.webhooks.services import webhook_create, webhook_delete
from api.webhooks.targets import WEBHOOK_URL_PATTERN

# The path converter's bound: ids beyond what the database holds are 404, never an overflow.
WEBHOOK_ID_PATTERN = r"[1-9][0-9]{0,17}"
WEBHOOK_ID_PARAMETER = OpenApiParameter(
    "webhook_id",
    {"type": "integer", "minimum": 1, "maximum": 10**18 - 1},
    OpenApiParameter.PATH,
    description="The webhook's id.",
)
NO_WEBHOOK = error_response("You have no webhook with that id.")


def signed_in_user(request: Request) -> User:
    return cast(User, request.user)


class WebhookOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices))
    created_at = serializers.DateTimeField()


class WebhookCreatedOutputSerializer(WebhookOutputSerializer):
    secret = serializers.CharField(
        help_text="The `whsec_` signing secret (Standard Webhooks). Shown in this answer only: keep it."
    )


class WebhookAttemptOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField(help_text="When the try was made.")
    event = serializers.ChoiceField(choices=WebhookEvent.choices, source="delivery.event")
    message_id = serializers.CharField(source="delivery.message_id", help_text="The `webhook-id` header.")
    video_url = serializers.CharField(source="delivery.video_url")
    attempt = serializers.IntegerField(source="number", help_text="1 for the first try of the delivery.")
    status_code = serializers.IntegerField(
        allow_null=True, help_text="The receiver's HTTP status; null if none."
    )
    error = serializers.CharField(help_text="Why the try failed; empty when it succeeded.")
    response_excerpt = serializers.CharField(
        help_text="The start of the receiver's answer (at most 256 characters)."
    )
    duration_ms = serializers.IntegerField()
    delivery_state = serializers.ChoiceField(choices=DeliveryState.choices, source="delivery.state")


class UserWebhooksApi(APIView):
    class InputSerializer(serializers.Serializer[Any]):
        class Meta:
            ref_name = "WebhookCreateInput"

        url = StrictRegexField(
            WEBHOOK_URL_PATTERN,
            max_length=URL_MAX_LENGTH,
            error_messages={
                "invalid": "An http:// or https:// URL with a host name or IPv4 address and no user name or password."
            },
            help_text="Where the events are posted. Its address is checked at every delivery.",
        )
        events = serializers.ListField(
            child=serializers.ChoiceField(choices=WebhookEvent.choices),
            min_length=1,
            max_length=len(WebhookEvent),
        )

    @extend_schema(tags=["webhooks"], responses={200: WebhookOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        endpoints = webhook_list_for_owner(owner=signed_in_user(request))
        return Response(WebhookOutputSerializer(endpoints, many=True).data)

    @extend_schema(
        tags=["webhooks"],
        request=InputSerializer,
        responses={
            201: WebhookCreatedOutputSerializer,
            400: error_response("Invalid input: not an http(s) URL, a refused address, or no event."),
            409: error_response("The account already has as many webhooks as allowed."),
        },
        description="Add a webhook. Its `whsec_` secret is in this answer only.",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = webhook_create(
            owner=signed_in_user(request), client_ip=client_ip(request), **serializer.validated_data
        )
        data = {**WebhookOutputSerializer(endpoint).data, "secret": secret}
        return Response(WebhookCreatedOutputSerializer(data).data, status=status.HTTP_201_CREATED)


class UserWebhookDetailApi(APIView):
    @extend_schema(
        tags=["webhooks"],
        parameters=[WEBHOOK_ID_PARAMETER],
        request=None,
        responses={204: None, 404: NO_WEBHOOK},
    )
    def delete(self, request: Request, webhook_id: str) -> Response:
        endpoint = webhook_get_for_owner(owner=signed_in_user(request), webhook_id=int(webhook_id))
        webhook_delete(endpoint=endpoint, client_ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserWebhookDeliveriesApi(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(
        tags=["webhooks"],
        parameters=[WEBHOOK_ID_PARAMETER],
        responses={200: WebhookAttemptOutputSerializer(many=True), 404: NO_WEBHOOK},
        description="Every try at delivering this webhook's events, newest first.",
    )
    def get(self, request: Request, webhook_id: str) -> Response:
        endpoint = webhook_get_for_owner(owner=signed_in_user(request), webhook_id=int(webhook_id))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(webhook_attempt_list(endpoint=endpoint), request, view=self)
        return paginator.get_paginated_response(WebhookAttemptOutputSerializer(page, many=True).data)
