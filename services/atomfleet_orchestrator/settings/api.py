"""HTTP API settings: token lookups, batch submission (see docs/configuration.md)."""

from __future__ import annotations

from atomfleet_orchestrator.envconfig import env_float, env_int

# A successful token lookup is reused this long by one API process; a revoked or rotated token is
# refused at most this long after the change (immediately in the process that revoked it).
# 0 turns the cache off: every request reads the token's row.
ATOMFLEET_TOKEN_CACHE_SECONDS = env_float("ATOMFLEET_TOKEN_CACHE_SECONDS", 5, minimum=0)
# Distinct tokens remembered per process; the oldest is dropped beyond it.
ATOMFLEET_TOKEN_CACHE_SIZE = env_int("ATOMFLEET_TOKEN_CACHE_SIZE", 1024, minimum=1)
# Runs one ``POST /api/v1/atoms/{name}/runs/batch`` may submit (413 ``batch_too_large`` above);
# the whole body also stays under ATOMFLEET_MAX_REQUEST_BYTES.
ATOMFLEET_BATCH_MAX_ITEMS = env_int("ATOMFLEET_BATCH_MAX_ITEMS", 1000, minimum=1)
# A registered atom spec is reused this long by one API or beat process; a new registration (a
# deploy, a worker with a new version) is seen at most this long after it. 0 turns the cache off.
ATOMFLEET_ATOM_CACHE_SECONDS = env_float("ATOMFLEET_ATOM_CACHE_SECONDS", 5, minimum=0)
