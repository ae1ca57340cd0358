"""gunicorn server hooks for multiprocess metrics; import them in the gunicorn config module.

``from atomfleet_orchestrator.observability.gunicorn_hooks import on_starting, pre_fork, post_fork, child_exit``

- ``on_starting`` (master): gives the API a fresh folder under ``PROMETHEUS_MULTIPROC_DIR``.
- ``pre_fork`` (master): gives the new worker the lowest free slot number.
- ``post_fork`` (worker): names its metric files after the slot (``g0``, ``g1``, ...), so workers
  recycled by ``max_requests`` reuse files instead of adding one set per pid.
- ``child_exit`` (master): ``mark_process_dead`` for the slot's live gauges.
- ``when_ready`` (master): serves the API's metrics (all workers' files, queue and outbox gauges)
  on ``ATOMFLEET_METRICS_PORT`` from a thread of the master, apart from the API port (``0``: off).
  A metrics port that cannot be bound is logged as an error; the API keeps serving.
"""

from __future__ import annotations

import os
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from atomfleet.metrics import metrics_port, wipe_multiproc_dir

__all__ = ["child_exit", "on_starting", "post_fork", "pre_fork", "when_ready"]

_SLOT = "_atomfleet_metrics_slot"


class _MetricsServer:
    server: Any = None


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every 15 s: no access log
        pass


def when_ready(server: Any) -> None:
    port = metrics_port()
    if not port:
        return
    import django

    django.setup()  # settings and the API registry's collectors
    from atomfleet_orchestrator.observability.views import metrics_wsgi_app

    host = os.environ.get("ATOMFLEET_API_HOST", "0.0.0.0")
    try:
        httpd = make_server(host, port, metrics_wsgi_app(), _ThreadingWSGIServer, handler_class=_QuietHandler)
    except OSError as exc:  # metrics must never keep the API from serving
        server.log.error("cannot serve API metrics on %s:%d: %s", host, port, exc)
        return
    threading.Thread(target=httpd.serve_forever, name="api-metrics", daemon=True).start()
    _MetricsServer.server = httpd
    server.log.info("API metrics on %s:%d/metrics (multiprocess folder %s)", host, port,
                    os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def on_starting(server: Any) -> None:
    wipe_multiproc_dir("api")


def pre_fork(server: Any, worker: Any) -> None:
    used = {getattr(w, _SLOT, None) for w in getattr(server, "WORKERS", {}).values()}
    slot = next(i for i in range(len(used) + 1) if i not in used)
    setattr(worker, _SLOT, slot)


def post_fork(server: Any, worker: Any) -> None:
    from atomfleet.metrics import set_identifier

    if _MetricsServer.server is not None:  # the master's listening socket is not the worker's
        _MetricsServer.server.socket.close()

    slot = getattr(worker, _SLOT, None)
    set_identifier(f"g{slot}" if slot is not None else str(os.getpid()))


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client.multiprocess import mark_process_dead

    slot = getattr(worker, _SLOT, None)
    mark_process_dead(f"g{slot}" if slot is not None else worker.pid, os.environ["PROMETHEUS_MULTIPROC_DIR"])
