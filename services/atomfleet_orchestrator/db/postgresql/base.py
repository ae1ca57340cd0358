"""Django's PostgreSQL backend, with a deadline on every database operation (``ENGINE``
``atomfleet_orchestrator.db.postgresql``, set by settings/base.py).

A PostgreSQL server whose processes are all stopped (``docker pause``, a cgroup freeze, backends
stuck on a stalled volume) still has a kernel that accepts connections and acknowledges what
clients send: keepalives and ``tcp_user_timeout`` never fire, ``statement_timeout`` is the
server's own, so a query already sent waits for as long as the server is frozen. psycopg drives
every operation (execute, fetch, commit, rollback) through ``Connection.wait``: here it waits at
most ``OPTIONS["query_timeout"]`` seconds, then closes the connection (its state is unknown) and
raises ``OperationalError``, which Django raises as ``django.db.OperationalError`` (the API's 503
``database_unavailable``). Settings put the deadline just above ``statement_timeout``, so on a
server that answers, the server cancels a slow statement first and keeps the connection.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import Any, TypeVar

import psycopg
from django.db.backends.postgresql import base as postgresql
from psycopg.abc import PQGen

RV = TypeVar("RV")

#: Deadline of the ``SELECT 1`` Django sends to check a persistent connection before reusing it
#: (``CONN_HEALTH_CHECKS``): a server answers it in milliseconds, and one that does not is better
#: met with a new connection (``connect_timeout``) than with the whole query deadline first.
HEALTH_CHECK_TIMEOUT = 1.0
_WAIT_INTERVAL = 0.1  # psycopg's own: how often a wait wakes up to notice a closed socket


class DeadlineConnection(psycopg.Connection[Any]):
    """A psycopg connection that waits at most ``query_timeout`` seconds for one operation."""

    query_timeout: float | None = None  # None or 0: wait as long as the server takes

    def wait(self, gen: PQGen[RV], interval: float = _WAIT_INTERVAL, timeout: float | None = None) -> RV:
        if timeout is not None or not self.query_timeout:
            return super().wait(gen, interval, timeout)  # a caller's own timeout (notifies) stays its own
        try:
            return super().wait(gen, interval, self.query_timeout)
        except psycopg.errors._WaitTimeout:  # psycopg's timeout of wait(): no answer in time
            # The query may be half sent or half answered: the connection is unusable. Closing
            # it also tells the server, once it runs again, to roll back what this one started.
            self.close()
            raise psycopg.OperationalError(
                f"the database did not answer within {self.query_timeout:g}s; connection closed"
            ) from None

    @contextlib.contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Wait at most ``seconds`` (or the usual deadline, if shorter) within the block."""
        usual = self.query_timeout
        self.query_timeout = min(seconds, usual) if usual else seconds
        try:
            yield
        finally:
            self.query_timeout = usual


def _psycopg_with_deadline() -> types.ModuleType:
    """The psycopg module as Django's backend uses it (``Database.connect``, errors mapped by
    their names in ``Database``), connecting with :class:`DeadlineConnection`."""
    module = types.ModuleType(psycopg.__name__, psycopg.__doc__)
    module.__dict__.update(vars(psycopg))
    module.__dict__["connect"] = DeadlineConnection.connect
    return module


class DatabaseWrapper(postgresql.DatabaseWrapper):
    Database = _psycopg_with_deadline()

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        params.pop("query_timeout", None)  # ours, not libpq's
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if isinstance(connection, DeadlineConnection):  # not with OPTIONS["pool"]: psycopg's class
            connection.query_timeout = self.settings_dict["OPTIONS"].get("query_timeout") or None
        return connection

    def is_usable(self) -> bool:
        if not isinstance(self.connection, DeadlineConnection) or not self.connection.query_timeout:
            return bool(super().is_usable())
        with self.connection.deadline(HEALTH_CHECK_TIMEOUT):
            return bool(super().is_usable())
