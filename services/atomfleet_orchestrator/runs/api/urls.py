from django.urls import path

from atomfleet_orchestrator.runs.api import files, lean, views

urlpatterns = [
    path("atoms", views.list_atoms, name="atom-list"),
    path("atoms/<str:name>/runs", lean.submit, name="run-submit"),  # the DRF view answers what it does not
    path("atoms/<str:name>/runs/batch", views.submit_many, name="run-submit-batch"),
    path("runs", views.RunList.as_view(), name="run-list"),
    path("runs/<uuid:run_id>", views.run_detail, name="run-detail"),
    path("runs/<uuid:run_id>/cancel", views.cancel, name="run-cancel"),
    path("runs/<uuid:run_id>/result", views.result, name="run-result"),
    path("runs/<uuid:run_id>/artifacts/<str:name>", views.artifact, name="run-artifact"),
    path("files", files.upload, name="file-upload"),
]
