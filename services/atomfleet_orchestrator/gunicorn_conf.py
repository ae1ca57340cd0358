"""gunicorn configuration of the API (``atomfleet api``), from the environment."""

import os

# Prometheus multiprocess bookkeeping across gunicorn workers (bounded metric files), and the
# API's /metrics served by the master on ATOMFLEET_METRICS_PORT (not on the API port).
from atomfleet_orchestrator.observability.gunicorn_hooks import (  # noqa: F401
    child_exit,
    on_starting,
    post_fork,
    pre_fork,
    when_ready,
)

bind = f"{os.environ.get('ATOMFLEET_API_HOST', '0.0.0.0')}:{os.environ.get('ATOMFLEET_API_PORT', '8000')}"
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
# Peers (IPs or CIDR networks, comma-separated; `*` for any) whose X-Forwarded-Proto is trusted:
# behind a TLS Ingress, the controller's addresses, so request.is_secure() and every absolute URL
# (Location, run `url`, artifact links) say https. Requests from other peers keep their own scheme.
forwarded_allow_ips = os.environ.get("ATOMFLEET_FORWARDED_ALLOW_IPS", "127.0.0.1")
