from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from atomfleet_orchestrator.http.health import healthz, readyz

# The API's /metrics is not routed here: the gunicorn master serves it on its own port
# (ATOMFLEET_METRICS_PORT, see observability/gunicorn_hooks.py), which no Ingress routes to.
urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path(
        "api/v1/schema",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny]),
        name="openapi-schema",
    ),
    path("api/v1/", include("atomfleet_orchestrator.runs.api.urls")),
    path("api/v1/", include("atomfleet_orchestrator.events.api.urls")),
    path("api/v1/", include("atomfleet_orchestrator.workflows.api.urls")),
    path("api/v1/", include("atomfleet_orchestrator.webhooks.api.urls")),
]

handler400 = "atomfleet_orchestrator.http.errors.bad_request_view"
handler404 = "atomfleet_orchestrator.http.errors.not_found_view"
handler500 = "atomfleet_orchestrator.http.errors.server_error_view"
