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

# Per-tenant admission limits (docs/tenancy.md): the fleet defaults; a tenant's own values
# (``atomfleet manage set_tenant_limits``) replace them. Generous: they stop a runaway client, not a
# busy one. Quota: accepted runs not yet finished (429 ``quota_exceeded`` above) — 50 full batches.
ATOMFLEET_TENANT_QUOTA_RUNS = env_int("ATOMFLEET_TENANT_QUOTA_RUNS", 50_000, minimum=1)
# Submit rate: a token bucket counted per run (a batch counts its items), shared by every API pod
# through Redis (429 ``rate_limited`` with Retry-After above). 50 runs/s sustained (180,000/h); a
# burst of 1,000 admits one full batch at once.
ATOMFLEET_TENANT_SUBMIT_RATE = env_float("ATOMFLEET_TENANT_SUBMIT_RATE", 50.0, minimum=0.001)
ATOMFLEET_TENANT_SUBMIT_BURST = env_int("ATOMFLEET_TENANT_SUBMIT_BURST", 1000, minimum=1)
# Fair dispatch (runs.fairness, docs/tenancy.md): a tenant's share of a busy queue is its weight
# against the others'; its runs running or published at once are capped over every queue and on
# any one queue (runs over a cap wait for their turn, fairly). Generous by default: a cap protects
# the fleet from one tenant taking every slot of a large fleet, not a busy tenant from itself.
ATOMFLEET_TENANT_WEIGHT = env_int("ATOMFLEET_TENANT_WEIGHT", 1, minimum=1)
ATOMFLEET_TENANT_MAX_RUNNING = env_int("ATOMFLEET_TENANT_MAX_RUNNING", 2000, minimum=1)
ATOMFLEET_TENANT_MAX_RUNNING_PER_QUEUE = env_int("ATOMFLEET_TENANT_MAX_RUNNING_PER_QUEUE", 1000, minimum=1)
# The rate limiter's Redis round trip (connect, read) is bounded by this; when Redis does not
# answer, submits are admitted without a rate check (fail-open: logged, counted in
# atomfleet_rate_limiter_errors_total) and Redis is not asked again for 5 s.
ATOMFLEET_RATE_LIMIT_TIMEOUT = env_float("ATOMFLEET_RATE_LIMIT_TIMEOUT", 0.25, minimum=0.01)
# Tenants named in the ``tenant`` label of per-tenant metrics; the others are counted as ``other``:
# a bounded number of series whatever the tenants. The API's rejection counter names the first ones
# each process sees; beat's run gauges the ones with the most runs waiting + running at each scrape.
ATOMFLEET_METRICS_TENANT_LABELS = env_int("ATOMFLEET_METRICS_TENANT_LABELS", 50, minimum=0)
