from django.urls import path

from atomfleet_orchestrator.events.api import views

urlpatterns = [
    path("events", views.list_events, name="event-list"),
    path("events/stream-token", views.stream_token, name="event-stream-token"),
    path("runs/<uuid:run_id>/events", views.run_events, name="run-events"),
    path("workflows/<uuid:workflow_id>/events", views.workflow_events, name="workflow-events"),
]
