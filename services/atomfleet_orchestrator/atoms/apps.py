from django.apps import AppConfig


class AtomsConfig(AppConfig):
    name = "atomfleet_orchestrator.atoms"
    label = "atoms"
    default_auto_field = "django.db.models.BigAutoField"
