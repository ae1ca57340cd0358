"""WSGI entry point (gunicorn: ``atomfleet_orchestrator.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atomfleet_orchestrator.settings")

application = get_wsgi_application()

# Build the Celery app now: the API publishes runs with it, and its start-up checks (queues of
# every atom declared, visibility timeout) must stop a misconfigured API as they stop workers.
import atomfleet_orchestrator.celery  # noqa: E402,F401
