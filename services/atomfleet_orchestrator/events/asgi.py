"""ASGI application of the events process (``atomfleet events``): Django with the events routes."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atomfleet_orchestrator.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

# Only the stream and its probes: the API's routes and middleware (request metrics, body limits,
# all synchronous) stay with gunicorn. The stream's views answer errors with the shared body.
settings.ROOT_URLCONF = "atomfleet_orchestrator.events.urls"
settings.MIDDLEWARE = []

application = get_asgi_application()
