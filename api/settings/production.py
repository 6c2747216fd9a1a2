"""Production: every secret from the environment, no defaults; refuse to start without them."""

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

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
