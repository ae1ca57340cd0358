from django.urls import path

from atomfleet_orchestrator.workflows.api import views

urlpatterns = [
    path("workflows", views.WorkflowList.as_view(), name="workflow-list"),
    path("workflows/<uuid:workflow_id>", views.detail, name="workflow-detail"),
    path("workflows/<uuid:workflow_id>/cancel", views.cancel, name="workflow-cancel"),
    path("workflows/<uuid:workflow_id>/retry", views.retry, name="workflow-retry"),
]
