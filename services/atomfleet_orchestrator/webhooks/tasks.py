"""The sender task (queue ``webhooks``) and beat's webhook round (fan-out, then publish)."""

from __future__ import annotations

from celery import Celery

__all__ = ["DELIVER_TASK", "MAINTENANCE_TASK", "QUEUE", "register_webhook_tasks"]

QUEUE = "webhooks"  # atomfleet.queues.SERVICE_QUEUES
DELIVER_TASK = "atomfleet.webhooks.deliver"
MAINTENANCE_TASK = "atomfleet.maintenance.webhooks"


def _deliver(delivery_id: str) -> str:
    from atomfleet_orchestrator.webhooks.sending import deliver

    return deliver(delivery_id)


def _webhooks_round() -> dict[str, object]:
    from atomfleet_orchestrator.webhooks.fanout import fan_out
    from atomfleet_orchestrator.webhooks.sending import publish_due

    fanned = fan_out()
    published = publish_due()
    return {"events": fanned.events, "deliveries": fanned.deliveries, "published": published.published,
            "broker_down": published.broker_down}


def register_webhook_tasks(app: Celery) -> None:
    """Every process. The sender acknowledges on receipt: a sender that dies is recovered from the
    delivery's lease by beat (the same webhook-id), never by a message Redis hands back later."""
    app.task(name=DELIVER_TASK, queue=QUEUE, acks_late=False, ignore_result=True)(_deliver)
    app.task(name=MAINTENANCE_TASK, ignore_result=True)(_webhooks_round)
