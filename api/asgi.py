"""The ASGI entry point; like api.wsgi it falls back to the production settings, never to debug."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings.production")

application = get_asgi_application()
