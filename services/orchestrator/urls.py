from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from services.http.health import healthz, readyz
from services.observability.views import metrics_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path(
        "api/v1/schema",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny]),
        name="openapi-schema",
    ),
    path("api/v1/", include("services.runs.api.urls")),
]

handler400 = "services.http.errors.bad_request_view"
handler404 = "services.http.errors.not_found_view"
handler500 = "services.http.errors.server_error_view"
