from __future__ import annotations

from typing import Any

from rest_framework import serializers

from atomfleet_orchestrator.events.models import Event, EventType
from atomfleet_orchestrator.http.schema import StrictSerializer


def event_json(event: Event) -> dict[str, Any]:
    """One event as the REST reads and the stream (``data:``) both send it."""
    links = {"run": f"/api/v1/runs/{event.run_id}"} if event.run_id else {}
    if event.workflow_id:
        links["workflow"] = f"/api/v1/workflows/{event.workflow_id}"
    return {
        "id": event.id, "type": event.type,
        "run_id": str(event.run_id) if event.run_id else None,
        "workflow_id": str(event.workflow_id) if event.workflow_id else None,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z") if not isinstance(event.created_at, str) else event.created_at,
        "data": event.data, "links": links,
    }


class EventSerializer(serializers.Serializer):
    """The schema of ``event_json`` (responses are built by it, not by this serializer)."""

    id = serializers.IntegerField(help_text="increasing; pass the last one seen as `after` (or Last-Event-ID)")
    type = serializers.ChoiceField(choices=[t.value for t in EventType])
    run_id = serializers.UUIDField(allow_null=True)
    workflow_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    data = serializers.DictField(help_text="status, attempt, progress, error code/message cut short: never results")
    links = serializers.DictField(child=serializers.CharField())


class EventPageSerializer(serializers.Serializer):
    results = EventSerializer(many=True)
    next = serializers.IntegerField(help_text="the `after` of the next poll: every event up to it was returned")


class _UUIDString(serializers.UUIDField):
    """A UUID written as a string (DRF's UUIDField takes a number too, and so ``false`` as UUID 0)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class StreamTokenRequestSerializer(StrictSerializer):
    type = serializers.ListField(child=serializers.CharField(max_length=40), required=False, default=list,
                                 help_text="event types or prefixes like `run.*`; none: every type")
    run = _UUIDString(required=False, allow_null=True, default=None)
    workflow = _UUIDString(required=False, allow_null=True, default=None)


class StreamTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="pass as `?token=` to GET /api/v1/events/stream")
    expires_in = serializers.IntegerField(help_text="seconds")
    stream_url = serializers.CharField(help_text="the stream, with this token and no `after`")
