"""File-based liveness and readiness probes of worker pods.

This package's import must stay stdlib only: ``atomfleet-probe`` (``atomfleet.probes.check``) runs
in every pod every few seconds. :func:`install_worker_probes` imports Celery lazily.
"""

from __future__ import annotations

from typing import Any

__all__ = ["install_worker_probes"]


def install_worker_probes(app: Any) -> None:
    """Add the probe bootstep to ``app``'s consumer and the start/stop signal handlers."""
    from atomfleet.probes.bootsteps import install

    install(app)
