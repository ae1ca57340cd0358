from __future__ import annotations

from typing import Any

from django.core.validators import URLValidator
from rest_framework import serializers

from atomfleet_orchestrator.http.schema import StrictSerializer
from atomfleet_orchestrator.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from atomfleet_orchestrator.webhooks.patterns import invalid_patterns

_EVENTS_HELP = "event types to receive: exact (`run.succeeded`), a family (`workflow.*`) or `*`"


class _Events(serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.CharField(max_length=64), min_length=1, max_length=50,
                         help_text=_EVENTS_HELP, **kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        patterns: list[str] = super().to_internal_value(data)
        unknown = invalid_patterns(patterns)
        if unknown:
            raise serializers.ValidationError(f"unknown event types or patterns: {', '.join(unknown)}")
        return list(dict.fromkeys(patterns))


def _url(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(max_length=2000, validators=[URLValidator(schemes=["http", "https"])],
                                 help_text="http(s) URL the events are POSTed to", **kwargs)


class WebhookCreateSerializer(StrictSerializer):
    url = _url()
    events = _Events()
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class WebhookUpdateSerializer(StrictSerializer):
    url = _url(required=False)
    events = _Events(required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    enabled = serializers.BooleanField(
        required=False, help_text="false pauses deliveries (they wait); true resumes them, also after a 410"
    )


class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.CharField(), help_text=_EVENTS_HELP)
    disabled_reason = serializers.CharField(allow_blank=True, help_text="why the service disabled it (a 410 answer), or empty")

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "events", "enabled", "disabled_reason", "created_at", "updated_at"]


class WebhookWithSecretSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="`whsec_…`: shown here only (on create and rotate); keep it")
    previous_secret_until = serializers.DateTimeField(
        allow_null=True, help_text="the old secret also signs until then (after a rotation), or null"
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret", "previous_secret_until"]


class WebhookListSerializer(serializers.Serializer):
    results = WebhookSerializer(many=True)


class DeliverySerializer(serializers.ModelSerializer):
    webhook_id = serializers.CharField(help_text="the `webhook-id` header: the same for every attempt")
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    next_attempt_at = serializers.SerializerMethodField(help_text="when the next attempt is due, or null")

    class Meta:
        model = WebhookDelivery
        fields = ["id", "webhook_id", "event_id", "event_type", "status", "attempts", "last_status_code",
                  "last_latency_ms", "last_error", "last_attempt_at", "next_attempt_at", "delivered_at",
                  "created_at"]

    def get_next_attempt_at(self, delivery: WebhookDelivery) -> str | None:
        if delivery.status != DeliveryStatus.PENDING:
            return None
        return serializers.DateTimeField().to_representation(delivery.next_attempt_at)


class ReplaySerializer(StrictSerializer):
    since = serializers.DateTimeField(help_text="events created at or after this time")
    until = serializers.DateTimeField(required=False, help_text="and before this time (default: now)")


class ReplayResultSerializer(serializers.Serializer):
    events = serializers.IntegerField(help_text="events of the range the endpoint subscribes to")
    deliveries = serializers.IntegerField(help_text="deliveries scheduled now (new or sent again)")
