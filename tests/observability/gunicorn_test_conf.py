"""gunicorn config of the test API: the hooks the orchestrator's config imports, and recycling."""

import os

from atomfleet_orchestrator.observability.gunicorn_hooks import (  # noqa: F401
    child_exit,
    on_starting,
    post_fork,
    pre_fork,
)

bind = f"127.0.0.1:{os.environ['OBS_API_PORT']}"
workers = 2
max_requests = 5  # recycle workers often: metric files must stay bounded
loglevel = "warning"
