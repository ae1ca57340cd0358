"""Settings, split by concern and read from the environment (see docs/configuration.md)."""

from services.orchestrator.settings.base import *  # noqa: F403
from services.orchestrator.settings.celery import *  # noqa: F403
from services.orchestrator.settings.fleet import *  # noqa: F403
from services.orchestrator.settings.logging import *  # noqa: F403
