"""The WSGI entry point. Without DJANGO_SETTINGS_MODULE it runs the production settings, which
never run in debug and refuse to start without their secrets: a server started bare fails safe.
`make run` (runstack) and Docker name their settings explicitly."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings.production")

application = get_wsgi_application()
