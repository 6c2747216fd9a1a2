"""Page-number pagination that refuses what its schema refuses: `page` is a whole number from 1."""

from __future__ import annotations

import re
from typing import Any

from django.core.paginator import Paginator
from rest_framework import exceptions, pagination
from rest_framework.request import Request
from rest_framework.views import APIView

_PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,17}")


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's, except that `?page=` (empty), `?page=0` or `?page=x` is a 400, never page one."""

    last_page_strings = ()

    def get_page_number(self, request: Request, paginator: Paginator[Any]) -> int:
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if _PAGE_NUMBER.fullmatch(raw) is None:
            raise exceptions.ValidationError({self.page_query_param: ["A page is a whole number from 1."]})
        return int(raw)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "A page of the results, from 1; past the last page is 404.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 10**18 - 1},
            }
        ]
