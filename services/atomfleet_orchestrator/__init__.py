"""atomfleet's orchestrator: the Django project that owns run state (API, lifecycle, Celery app, CLI).

``celery -A atomfleet_orchestrator`` finds the app in the ``celery`` submodule; it is not imported
here because Django's settings must be configured first.
"""
