"""Request and response shapes of the runs API; the OpenAPI schema is generated from them."""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from atomfleet_orchestrator.http.schema import StrictSerializer
from atomfleet_orchestrator.runs.models import AtomRun, RunStatus
from atomfleet_orchestrator.runs.submission import DEFAULT_PRIORITY

# Keys are compared byte for byte; control characters (NUL cannot even be stored) are refused.
IDEMPOTENCY_KEY_PATTERN = r"^[^\u0000-\u001f\u007f]+$"


def _unstorable(value: Any, path: str = "$") -> str | None:
    """The JSON path of the first value PostgreSQL's jsonb cannot store, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else path  # e.g. 1e999 parses as inf
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return path
            found = _unstorable(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable(item, f"{path}[{index}]")
            if found:
                return found
    return None


@extend_schema_field({"type": "object", "additionalProperties": True})
class ArgsField(serializers.JSONField):
    """A JSON object (never null); checked against the atom's JSON Schema by the service."""

    default_error_messages = {"not_an_object": "args must be a JSON object"}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            self.fail("not_an_object")
        bad = _unstorable(data)
        if bad:
            raise serializers.ValidationError(
                f"{bad}: strings may not contain U+0000 and numbers must be finite"
            )
        return super().to_internal_value(data)


class SubmitRunSerializer(StrictSerializer):
    """One run: the atom's arguments and, optionally, an idempotency key."""

    args = ArgsField(
        help_text="arguments, validated against the atom's JSON Schema (`GET /api/v1/atoms`); "
        "strings may not contain U+0000"
    )
    idempotency_key = serializers.CharField(
        max_length=200,
        required=False,
        allow_null=True,
        trim_whitespace=False,
        validators=[RegexValidator(IDEMPOTENCY_KEY_PATTERN, "control characters are not allowed")],
        help_text="a retry with the same key (and the same atom and args) returns the first run "
        "instead of creating another; the same key with other args is 409 `idempotency_conflict`",
    )
    priority = serializers.IntegerField(
        min_value=0, max_value=9, required=False, default=DEFAULT_PRIORITY,
        help_text="order among this tenant's own waiting runs, 9 first (default 5); it never moves a "
        "run ahead of another tenant's turn (docs/tenancy.md)",
    )


class BatchSubmitSerializer(StrictSerializer):
    """Many runs of one atom, created together or not at all."""

    items = serializers.ListField(child=SubmitRunSerializer(), min_length=1)

    def get_fields(self) -> dict[str, serializers.Field]:
        # The limit is a setting: read it when the serializer (or the schema) is built.
        fields = super().get_fields()
        limit = settings.ATOMFLEET_BATCH_MAX_ITEMS
        fields["items"] = serializers.ListField(
            child=SubmitRunSerializer(),
            min_length=1,
            max_length=limit,
            help_text=f"1 to {limit} runs (ATOMFLEET_BATCH_MAX_ITEMS), in the order of the answer",
        )
        return fields


class AtomSerializer(serializers.Serializer):
    name = serializers.CharField()
    queue = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    schema = serializers.JSONField(help_text="JSON Schema of the atom's `args`")
    soft_time_limit = serializers.IntegerField()
    time_limit = serializers.IntegerField()
    idempotent = serializers.BooleanField()
    max_retries = serializers.IntegerField()
    spec_hash = serializers.CharField(help_text="the registered version new runs are validated against")
    package = serializers.CharField(allow_blank=True, help_text="the atoms package that defines it")
    registered_at = serializers.DateTimeField(help_text="newest registration wins (docs/atoms.md)")
    live = serializers.BooleanField(help_text="a live worker serves this version now; runs are "
                                    "accepted either way (a queue scaled to zero wakes up on them)")


class AtomListSerializer(serializers.Serializer):
    results = AtomSerializer(many=True)


class ProgressSerializer(serializers.Serializer):
    fraction = serializers.FloatField(help_text="0 to 1")
    message = serializers.CharField(allow_blank=True)


class RunErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField(allow_blank=True)


class RunSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    result_url = serializers.SerializerMethodField()
    workflow_id = serializers.UUIDField(
        allow_null=True, read_only=True, help_text="the workflow this run is a step of (null: a single run)")
    step = serializers.CharField(read_only=True, help_text="its step's name in that workflow (\"\": a single run)")

    class Meta:
        model = AtomRun
        fields = [
            "id", "url", "atom", "queue", "status", "args", "idempotency_key", "created_by",
            "progress", "error", "attempts", "max_attempts", "next_attempt_at", "cancel_requested",
            "celery_task_id", "worker", "workflow_id", "step", "priority",
            "created_at", "started_at", "finished_at", "heartbeat_at", "result_url",
        ]
        read_only_fields = fields

    # ModelSerializer rebuilds every field from the model's metadata for each instance, a third of
    # the CPU of a POST or a run's GET; the fields are built once per class and copied instead.
    _built_fields: ClassVar[dict[str, serializers.Field] | None] = None

    def get_fields(self) -> dict[str, serializers.Field]:
        cls = type(self)
        built = cls.__dict__.get("_built_fields")
        if built is None:
            built = cls._built_fields = super().get_fields()
        return copy.deepcopy(built)

    def _abs(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    @extend_schema_field(serializers.URLField())
    def get_url(self, run: AtomRun) -> str:
        return self._abs(reverse("run-detail", args=[run.id]))

    @extend_schema_field(serializers.URLField())
    def get_result_url(self, run: AtomRun) -> str:
        return self._abs(reverse("run-result", args=[run.id]))

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, run: AtomRun) -> dict[str, Any]:
        return {"fraction": run.progress, "message": run.progress_message}

    @extend_schema_field(RunErrorSerializer(allow_null=True))
    def get_error(self, run: AtomRun) -> dict[str, str] | None:
        return {"code": run.error_code, "message": run.error_message} if run.error_code else None


class ArtifactSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()
    content_type = serializers.CharField()
    url = serializers.URLField(help_text="a presigned object-store URL, or the API's artifact URL (send the token)")


class RunResultSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=[s.value for s in RunStatus])
    result = serializers.JSONField(allow_null=True, help_text="the atom's return value (null when stored as an artifact)")
    result_artifact = serializers.CharField(allow_null=True, help_text="the artifact holding a large result")
    artifacts = ArtifactSerializer(many=True)


class BatchEntrySerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="false: an earlier run with the item's idempotency key")
    run = RunSerializer()


class BatchResultSerializer(serializers.Serializer):
    results = BatchEntrySerializer(many=True, help_text="one entry per item, in the order of the items")


class UploadSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="pass it as the atom's file argument")
    size = serializers.IntegerField()
    content_type = serializers.CharField()
    name = serializers.CharField()
