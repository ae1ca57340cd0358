"""The API's listening address, checked before gunicorn's workers bind it with SO_REUSEPORT."""

from __future__ import annotations

import socket

__all__ = ["refuse_port_in_use"]


def refuse_port_in_use(host: str, port: int) -> None:
    """Exit naming the address when something already listens on it.

    With SO_REUSEPORT every worker binds the address itself, and a bind succeeds next to any other
    SO_REUSEPORT listener of the same user: a second API (a leftover ``atomfleet dev``) would share
    the port's connections instead of failing. A plain bind here fails against any listener.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
            probe.bind(address)
    except OSError as exc:  # in use, not an address of this host, or a name that does not resolve
        raise SystemExit(
            f"atomfleet api: cannot listen on {host}:{port} (ATOMFLEET_API_HOST, ATOMFLEET_API_PORT): {exc.strerror or exc}"
        ) from None
