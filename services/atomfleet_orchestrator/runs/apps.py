from django.apps import AppConfig
from django.conf import settings


class RunsConfig(AppConfig):
    name = "atomfleet_orchestrator.runs"
    label = "runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every orchestrator process (API, workers, beat, manage) loads and checks the catalog:
        # an atom on an undeclared queue or a too-short visibility timeout stops it here.
        from atomfleet.catalog import load_catalog

        load_catalog(settings.ATOMFLEET_QUEUES, settings.ATOMFLEET_VISIBILITY_TIMEOUT)

        from atomfleet_orchestrator.observability import set_outbox_stats_provider
        from atomfleet_orchestrator.runs.dispatch import outbox_stats

        # The API's /metrics counts the outbox at scrape time (one indexed query).
        set_outbox_stats_provider(outbox_stats)
