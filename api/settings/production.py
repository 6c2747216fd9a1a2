"""Production: every secret from the environment, no defaults; refuse to start without them."""

import hmac

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

DEBUG = False


def _required(name: str, min_length: int = 32) -> str:
    value: str = env.str(name, default="")
    if len(value) < min_length:
        raise ImproperlyConfigured(
            f"{name} must be set to a random value of at least {min_length} characters"
        )
    return value


SECRET_KEY = _required("SECRET_KEY")
SIMPLE_JWT["SIGNING_KEY"] = env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY  # noqa: F405
INGEST_SHARED_SECRET = _required("INGEST_SHARED_SECRET")
HLS_REPORT_SECRET = env.str("HLS_REPORT_SECRET", default="")
PLAYBACK_TOKEN_KEY = _required("PLAYBACK_TOKEN_KEY")
if hmac.compare_digest(PLAYBACK_TOKEN_KEY, SIMPLE_JWT["SIGNING_KEY"]):  # noqa: F405
    raise ImproperlyConfigured("PLAYBACK_TOKEN_KEY must differ from the JWT signing key")
if HLS_REPORT_SECRET and hmac.compare_digest(HLS_REPORT_SECRET, INGEST_SHARED_SECRET):
    raise ImproperlyConfigured("HLS_REPORT_SECRET must differ from INGEST_SHARED_SECRET")

# nginx (docker/nginx) sets X-Forwarded-Proto itself, passing on a TLS load balancer's value only
# when the balancer is one of its TRUSTED_PROXIES.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=True)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
# Sent on HTTPS responses only (SecurityMiddleware); 0 turns it off.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Webhooks never reach loopback, private or link-local addresses unless explicitly allowed.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
