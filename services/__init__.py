"""atomfleet orchestrator side: Django project, HTTP API, run state, Celery app, CLI."""
