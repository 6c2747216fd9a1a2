from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.core.admin_login import admin_login
from api.core.metrics import metrics_view
from api.ingest_hooks.authentication import IngestSecretAuthentication, IsIngest

handler400 = "api.core.views.bad_request"
handler404 = "api.core.views.not_found"
handler500 = "api.core.views.server_error"

urlpatterns = [
    # Ahead of admin.site.urls: the admin's own sign-in view, with failure counting around it.
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # The hooks' own schema, for the ingest's eyes only (the same shared secret as the hooks).
    path(
        "api/internal/schema/",
        SpectacularAPIView.as_view(
            authentication_classes=[IngestSecretAuthentication],
            permission_classes=[IsIngest],
            custom_settings={
                "TITLE": "Tidecast ingest hooks",
                "DESCRIPTION": "Called by the RTMP ingest and the HLS server with the X-Ingest-Secret header.",
                "PREPROCESSING_HOOKS": ["api.core.schema.internal_endpoints"],
            },
        ),
        name="internal-schema",
    ),
    path("api/", include("api.users.urls")),
    path("api/", include("api.profiles.urls")),
    path("api/", include("api.channels.urls")),
    path("api/", include("api.videos.urls")),
    path("api/", include("api.activity.urls")),
    path("api/", include("api.webhooks.urls")),
    path("api/", include("api.usage.urls")),
    path("api/", include("api.comments.urls")),
    path("api/", include("api.restream.urls")),
    path("api/", include("api.uploads.urls")),
    path("api/internal/", include("api.ingest_hooks.urls")),
    path("api/internal/", include("api.usage.internal_urls")),
    path("metrics", metrics_view, name="metrics"),
    path("", include("api.web.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
