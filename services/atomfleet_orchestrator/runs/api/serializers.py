from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from atomfleet_orchestrator.runs.models import AtomRun


class SubmitRunSerializer(serializers.Serializer):
    args = serializers.JSONField(help_text="arguments, validated against the atom's JSON Schema")
    idempotency_key = serializers.CharField(max_length=200, required=False, allow_null=True)


class AtomSerializer(serializers.Serializer):
    name = serializers.CharField()
    queue = serializers.CharField()
    description = serializers.CharField()
    schema = serializers.JSONField()
    soft_time_limit = serializers.IntegerField()
    time_limit = serializers.IntegerField()
    idempotent = serializers.BooleanField()
    max_retries = serializers.IntegerField(source="retry.max_retries")


class RunSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    result_url = serializers.SerializerMethodField()

    class Meta:
        model = AtomRun
        fields = [
            "id", "url", "atom", "queue", "status", "args", "idempotency_key", "created_by",
            "progress", "error", "attempts", "max_attempts", "next_attempt_at", "cancel_requested",
            "celery_task_id", "worker",
            "created_at", "started_at", "finished_at", "heartbeat_at", "result_url",
        ]
        read_only_fields = fields

    def _abs(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_url(self, run: AtomRun) -> str:
        return self._abs(reverse("run-detail", args=[run.id]))

    def get_result_url(self, run: AtomRun) -> str:
        return self._abs(reverse("run-result", args=[run.id]))

    def get_progress(self, run: AtomRun) -> dict[str, Any]:
        return {"fraction": run.progress, "message": run.progress_message}

    def get_error(self, run: AtomRun) -> dict[str, str] | None:
        return {"code": run.error_code, "message": run.error_message} if run.error_code else None
