"""The Django project that hosts the API and the Celery app.

``celery -A services.orchestrator`` finds the app in the ``celery`` submodule; it is not imported
here because the settings package lives below this one.
"""
