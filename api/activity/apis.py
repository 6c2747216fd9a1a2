from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.activity.models import ActivityAction
from api.activity.selectors import activity_list_for_user
from api.core.pagination import PageNumberPagination
from api.users.models import User


class ActivityOutputSerializer(serializers.Serializer[Any]):
    action = serializers.ChoiceField(choices=ActivityAction.choices)
    created_at = serializers.DateTimeField()
    ip = serializers.IPAddressField(allow_null=True)
    detail = serializers.CharField()


class UserActivityApi(APIView):
    """The signed-in user's account activity, newest first."""

    pagination_class = PageNumberPagination

    @extend_schema(tags=["activity"], responses={200: ActivityOutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        user = cast(User, request.user)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(activity_list_for_user(user=user), request, view=self)
        data: Any = ActivityOutputSerializer(page, many=True).data
        return paginator.get_paginated_response(data)
