"""Posting comments is throttled per signed-in user (THROTTLE_COMMENTS)."""

from __future__ import annotations

from rest_framework.request import Request

from api.core.throttling import ClientIPRateThrottle


class CommentPostRateThrottle(ClientIPRateThrottle):
    scope = "comments"

    def get_cache_key(self, request: Request, view: object) -> str:
        return self.cache_format % {"scope": self.scope, "ident": f"user-{request.user.pk}"}
