"""gunicorn configuration of the API (``atomfleet api``), from the environment."""

import os
from typing import Any

from atomfleet_orchestrator.envconfig import env_bool
from atomfleet_orchestrator.http.listen import refuse_port_in_use
from atomfleet_orchestrator.http.server import install_json_errors

# Prometheus multiprocess bookkeeping across gunicorn workers (bounded metric files), and the
# API's /metrics served by the master on ATOMFLEET_METRICS_PORT (not on the API port).
from atomfleet_orchestrator.observability import gunicorn_hooks
from atomfleet_orchestrator.observability.gunicorn_hooks import (  # noqa: F401
    child_exit,
    post_fork,
    pre_fork,
    when_ready,
)

# This process and its workers serve the API: its database deadlines are the API's
# (ATOMFLEET_API_DB_QUERY_TIMEOUT, settings/base.py), not those of workers, beat and manage.
os.environ["ATOMFLEET_PROCESS_ROLE"] = "api"

host = os.environ.get("ATOMFLEET_API_HOST", "0.0.0.0")
port = int(os.environ.get("ATOMFLEET_API_PORT", "8000"))
bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
# Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new connections
# over them. On one shared socket the worker that wakes first accepts a burst of connections and
# keeps them alive: a client's connection pool, or an ingress's few upstream connections, then
# loads one worker while the others idle (8 connections, 2 workers: 260 instead of 500 req/s in
# half of the tries; docs/performance.md).
reuse_port = env_bool("ATOMFLEET_API_REUSE_PORT", True)
workers = int(os.environ.get("ATOMFLEET_API_WORKERS", "2"))
# Threads keep client connections alive between requests (the sync worker closes each one) and
# let a request waiting on the database or Redis overlap another (docs/performance.md).
worker_class = os.environ.get("ATOMFLEET_API_WORKER_CLASS", "gthread")
threads = int(os.environ.get("ATOMFLEET_API_THREADS", "4"))
keepalive = 5
# Uploads stream through the worker; long enough for a large file on a slow link.
timeout = int(os.environ.get("ATOMFLEET_API_TIMEOUT", "120"))
graceful_timeout = 25
# Heartbeat files on tmpfs-backed /tmp (the root filesystem is read-only in containers).
worker_tmp_dir = os.environ.get("ATOMFLEET_API_TMP", "/tmp")
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# gunicorn's own lines in ATOMFLEET_LOG_FORMAT (JSON in pods), like every other line of the API.
logger_class = "atomfleet_orchestrator.http.server.Logger"
# Peers (IPs or CIDR networks, comma-separated; `*` for any) whose X-Forwarded-Proto is trusted:
# behind a TLS Ingress, the controller's addresses, so request.is_secure() and every absolute URL
# (Location, run `url`, artifact links) say https. Requests from other peers keep their own scheme.
forwarded_allow_ips = os.environ.get("ATOMFLEET_FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server: Any) -> None:
    gunicorn_hooks.on_starting(server)
    if reuse_port:  # a second server would otherwise share the port silently
        refuse_port_in_use(host, port)


def post_worker_init(worker: Any) -> None:
    # Requests gunicorn rejects itself (414, malformed request line or header) get the API's JSON
    # error body instead of gunicorn's HTML page.
    install_json_errors()
