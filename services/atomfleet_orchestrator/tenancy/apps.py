from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "atomfleet_orchestrator.tenancy"
    label = "tenancy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the token cache's invalidation signals and the OpenAPI security scheme.
        from atomfleet_orchestrator.tenancy import schema, tokens  # noqa: F401
