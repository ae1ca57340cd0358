"""Logging: JSON lines (containers) or readable lines (local), run-tagged either way."""

from __future__ import annotations

from atomfleet_orchestrator.envconfig import env_str

_format = env_str("ATOMFLEET_LOG_FORMAT", "console")
_level = env_str("ATOMFLEET_LOG_LEVEL", "INFO").upper()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"run_context": {"()": "atomfleet.runtime.logging.RunContextFilter"}},
    "formatters": {
        "json": {"()": "atomfleet.runtime.logging.JsonFormatter"},
        "console": {"()": "atomfleet.runtime.logging.ConsoleFormatter"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json" if _format == "json" else "console",
            "filters": ["run_context"],
        }
    },
    "root": {"handlers": ["stderr"], "level": _level},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
