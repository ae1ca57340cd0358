from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "atomfleet_orchestrator.tenancy"
    label = "tenancy"
    default_auto_field = "django.db.models.BigAutoField"
