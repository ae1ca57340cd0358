from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "atomfleet_orchestrator.tenancy"
    label = "tenancy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the token cache's invalidation signals.
        from atomfleet_orchestrator.tenancy import tokens  # noqa: F401
