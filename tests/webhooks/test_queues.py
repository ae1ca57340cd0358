"""`webhooks` is the service's own queue: declared on every process, refused as an atom queue."""

from __future__ import annotations

import pytest
from django.conf import settings

from atomfleet.errors import ConfigurationError
from atomfleet.queues import parse_queues


def test_webhooks_queue_is_declared_but_no_atom_queue() -> None:
    assert "webhooks" in {q.name for q in settings.CELERY_TASK_QUEUES}
    assert "webhooks" not in settings.ATOMFLEET_QUEUES
    with pytest.raises(ConfigurationError, match="'webhooks' is the service's own"):
        parse_queues('["default", "webhooks"]')
