"""``atomfleet events``: Django ASGI under uvicorn, serving only the SSE stream and its probes.

The API's gunicorn threads never hold a stream. SIGTERM ends every stream at once (clients
reconnect with Last-Event-ID through the Service, to another replica) instead of uvicorn's
default of waiting for open responses to finish, which streams never do.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["serve"]


def serve() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atomfleet_orchestrator.settings")
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # one process: plain in-process metrics
    import django

    django.setup()
    import uvicorn
    from django.conf import settings
    from prometheus_client import start_http_server

    from atomfleet_orchestrator.events.hub import hub

    metrics_port = int(os.environ.get("ATOMFLEET_METRICS_PORT", "9808"))
    if metrics_port:
        start_http_server(metrics_port, addr=settings.ATOMFLEET_EVENTS_HOST)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            hub.close()  # streams end now; uvicorn then drains the rest
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        "atomfleet_orchestrator.events.asgi:application",
        host=settings.ATOMFLEET_EVENTS_HOST, port=settings.ATOMFLEET_EVENTS_PORT,
        lifespan="off", access_log=False, log_config=None, timeout_graceful_shutdown=5,
        proxy_headers=True, forwarded_allow_ips="*",
    )
    Server(config).run()
