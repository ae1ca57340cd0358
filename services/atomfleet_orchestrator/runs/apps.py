from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "atomfleet_orchestrator.runs"
    label = "runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from atomfleet_orchestrator.observability import set_outbox_stats_provider
        from atomfleet_orchestrator.runs.dispatch import outbox_stats

        # The API's /metrics counts the outbox at scrape time (one indexed query).
        set_outbox_stats_provider(outbox_stats)
