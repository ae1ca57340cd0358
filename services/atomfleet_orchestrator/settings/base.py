"""Django core settings."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from atomfleet_orchestrator.envconfig import env_bool, env_float, env_int, env_required, env_str

DEBUG = env_bool("ATOMFLEET_DEBUG", False)
SECRET_KEY = env_required(
    "ATOMFLEET_SECRET_KEY", unless=DEBUG, fallback="dev-only-insecure-key-never-use-in-production"
)
ALLOWED_HOSTS = [h.strip() for h in env_str("ATOMFLEET_ALLOWED_HOSTS", "*").split(",") if h.strip()]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "drf_spectacular",
    "atomfleet_orchestrator.tenancy",
    "atomfleet_orchestrator.atoms",
    "atomfleet_orchestrator.runs",
    "atomfleet_orchestrator.events",
    "atomfleet_orchestrator.workflows",
    "atomfleet_orchestrator.webhooks",
]

MIDDLEWARE = [
    "atomfleet_orchestrator.observability.middleware.RequestMetricsMiddleware",
    # Kubelet probes (Host: <pod IP>:<port>) are answered before host validation.
    "atomfleet_orchestrator.http.probes.ProbeMiddleware",
    "atomfleet_orchestrator.http.middleware.BodySizeLimitMiddleware",
    "atomfleet_orchestrator.http.middleware.PathTextMiddleware",
    "atomfleet_orchestrator.http.errors.ServiceUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "atomfleet_orchestrator.urls"
WSGI_APPLICATION = "atomfleet_orchestrator.wsgi.application"

_default_db = f"sqlite:///{Path('.atomfleet/dev.sqlite3').resolve()}"
# Persistent connections, checked before a request reuses one: without the check, each connection
# broken by a database restart or failover fails one request (503) before it is replaced.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", _default_db),
        conn_max_age=env_int("ATOMFLEET_DB_CONN_MAX_AGE", 300, minimum=0),
        conn_health_checks=env_bool("ATOMFLEET_DB_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Local fleet: API, beat and workers share one file; WAL + immediate transactions avoid
    # "database is locked" under concurrent writers.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    # PostgreSQL that stops answering (paused, partitioned, failing over, frozen) must cost a
    # request a few seconds and a 503, not gunicorn's 120 s timeout, and a worker or beat a
    # bounded wait: libpq's connect_timeout bounds a new connection (a paused postmaster accepts
    # TCP and never answers: without it, forever); keepalives and tcp_user_timeout drop a
    # connection whose peer vanished; statement_timeout stops a query the server runs too long;
    # the backend's query_timeout bounds each operation on the client, the only bound on a query
    # sent to a server that is frozen whole (its kernel still acknowledges TCP: docs/operations.md).
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "atomfleet_orchestrator.db.postgresql"
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("connect_timeout", env_int("ATOMFLEET_DB_CONNECT_TIMEOUT", 3, minimum=2))
    _options.setdefault("keepalives", 1)
    _options.setdefault("keepalives_idle", 10)
    _options.setdefault("keepalives_interval", 5)
    _options.setdefault("keepalives_count", 3)
    _options.setdefault("tcp_user_timeout", 1000 * env_int("ATOMFLEET_DB_TCP_USER_TIMEOUT", 15, minimum=0))
    _statement_s: float = env_int("ATOMFLEET_DB_STATEMENT_TIMEOUT", 60, minimum=0)
    # Workers, beat and `atomfleet manage`: a little above statement_timeout, so that a server
    # that answers cancels a slow statement itself (the connection stays) and the deadline only
    # ends a wait on a server that does not answer at all.
    _query_s = env_float("ATOMFLEET_DB_QUERY_TIMEOUT", _statement_s + 5 if _statement_s else 0, minimum=0)
    if os.environ.get("ATOMFLEET_PROCESS_ROLE") == "api":  # set by gunicorn_conf.py
        # The API's operations are small and a client waits on each: a few seconds, and a
        # statement_timeout a second shorter, for the same reason as above.
        _query_s = env_float("ATOMFLEET_API_DB_QUERY_TIMEOUT", 5, minimum=0)
        if 0 < _query_s < 2:
            raise ImproperlyConfigured(f"ATOMFLEET_API_DB_QUERY_TIMEOUT must be 0 (off) or >= 2, got {_query_s:g}")
        if _query_s:
            _statement_s = min(_statement_s or _query_s, _query_s - 1)
    _options["query_timeout"] = _query_s
    _options["options"] = f"{_options.get('options', '')} -c statement_timeout={int(1000 * _statement_s)}".strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
# No static files are served (JSON API only); set for Django components that expect it.
STATIC_URL = "static/"
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
# JSON request bodies (uploads have their own limit, see fleet settings).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("ATOMFLEET_MAX_REQUEST_BYTES", 1_048_576, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = env_str("ATOMFLEET_UPLOAD_TMP", "") or None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["atomfleet_orchestrator.tenancy.authentication.TenantTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["atomfleet_orchestrator.http.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "atomfleet_orchestrator.http.schema.ApiSchema",
    "EXCEPTION_HANDLER": "atomfleet_orchestrator.http.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "atomfleet API",
    "DESCRIPTION": "Submit atom runs, follow their progress, fetch their results.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The contract promises what the server enforces (tests/api/test_contract.py).
    "ENFORCE_NON_BLANK_FIELDS": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {"RunStatusEnum": "atomfleet_orchestrator.runs.models.RUN_STATUS_CHOICES"},
}
