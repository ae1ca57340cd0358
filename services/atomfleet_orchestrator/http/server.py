"""What gunicorn itself writes on the API port and in the log, in the API's formats.

- Errors: gunicorn answers a request it cannot parse (request line or header malformed or too
  long, ...) on its own, in its worker's ``handle_error``, through ``gunicorn.util.write_error``:
  an HTML page. :func:`install_json_errors` (``post_worker_init``) replaces that writer in each
  worker process with one that writes the API's error body (``http.errors.error_body``) as
  ``application/json``; gunicorn still chooses the status and the message.
- Log lines: :class:`Logger` gives gunicorn's error and access loggers the formatter of
  ``ATOMFLEET_LOG_FORMAT``, so with ``json`` every line the API writes is JSON, the access lines
  of the kubelet's probes included.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Any

from gunicorn import glogging, util

from atomfleet.runtime.logging import ConsoleFormatter, JsonFormatter

__all__ = ["Logger", "install_json_errors", "write_json_error"]

# gunicorn's statuses (workers/base.py handle_error) and the API's codes for them.
_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """``gunicorn.util.write_error`` with the API's JSON error body."""
    from atomfleet_orchestrator.http.errors import error_body

    body = json.dumps(error_body(_CODES.get(status_int, "http_error"), mesg or reason.lower())).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install_json_errors() -> None:
    """Make this gunicorn worker process answer its own errors as JSON (call in post_worker_init)."""
    util.write_error = write_json_error


class Logger(glogging.Logger):
    """gunicorn's logger with the fleet's line format on its error and access logs."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        json_lines = os.environ.get("ATOMFLEET_LOG_FORMAT", "console") == "json"
        formatter: logging.Formatter = JsonFormatter() if json_lines else ConsoleFormatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)
