from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "atomfleet_orchestrator.events"
    label = "events"
