"""Settings, split by concern and read from the environment (see docs/configuration.md)."""

from atomfleet_orchestrator.settings.api import *  # noqa: F403
from atomfleet_orchestrator.settings.base import *  # noqa: F403
from atomfleet_orchestrator.settings.celery import *  # noqa: F403
from atomfleet_orchestrator.settings.events import *  # noqa: F403
from atomfleet_orchestrator.settings.fleet import *  # noqa: F403
from atomfleet_orchestrator.settings.logging import *  # noqa: F403
from atomfleet_orchestrator.settings.webhooks import *  # noqa: F403
