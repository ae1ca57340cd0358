"""A minimal Django site wired like the orchestrator's API: settings, URLs and views in one module.

``DJANGO_SETTINGS_MODULE=tests.observability.api_site`` with gunicorn
``-c tests/observability/gunicorn_test_conf.py 'django.core.wsgi:get_wsgi_application()'``.
"""

from __future__ import annotations

import os

from django.http import HttpResponse, JsonResponse
from django.urls import path

from atomfleet_orchestrator.observability import (
    OutboxStats,
    configure,
    record_reconciler_action,
    record_run_submitted,
    set_outbox_stats_provider,
)
from atomfleet_orchestrator.observability.views import metrics_view

SECRET_KEY = "observability-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
MIDDLEWARE = ["atomfleet_orchestrator.observability.middleware.RequestMetricsMiddleware"]
ROOT_URLCONF = __name__
USE_TZ = True

configure(broker_url=os.environ["OBS_BROKER_URL"])
set_outbox_stats_provider(lambda: OutboxStats(waiting=2, oldest_age_seconds=42.0))


def runs(request):  # type: ignore[no-untyped-def]
    if request.method == "POST":
        record_run_submitted("text.stats", "default")
        return JsonResponse({"id": "00000000-0000-0000-0000-000000000001"}, status=201)
    return JsonResponse({"results": []})


def run_detail(request, run_id):  # type: ignore[no-untyped-def]
    return JsonResponse({"id": str(run_id)})


def reconcile(request):  # type: ignore[no-untyped-def]
    record_reconciler_action("redispatched", 2)
    return HttpResponse(status=204)


urlpatterns = [
    path("api/v1/runs", runs),
    path("api/v1/runs/<uuid:run_id>", run_detail),
    path("test/reconcile", reconcile),
    path("metrics", metrics_view),
]
