"""atomfleet settings: queues, storage, limits, reconciliation timings."""

from __future__ import annotations

from atomfleet.queues import declared_queues
from atomfleet_orchestrator.envconfig import env_bool, env_float, env_int, env_str, require_below

ATOMFLEET_QUEUES = declared_queues()
ATOMFLEET_STORAGE = {
    "backend": env_str("ATOMFLEET_STORAGE_BACKEND", "local"),
    "local_root": env_str("ATOMFLEET_STORAGE_LOCAL_ROOT", ".atomfleet/storage"),
    "bucket": env_str("ATOMFLEET_S3_BUCKET", ""),
    "endpoint_url": env_str("ATOMFLEET_S3_ENDPOINT_URL", ""),
    "region": env_str("ATOMFLEET_S3_REGION", "us-east-1"),
}
ATOMFLEET_PRESIGNED_URL_SECONDS = env_int("ATOMFLEET_PRESIGNED_URL_SECONDS", 900, minimum=60)
ATOMFLEET_INLINE_RESULT_MAX_BYTES = env_int("ATOMFLEET_INLINE_RESULT_MAX_BYTES", 65536, minimum=0)
ATOMFLEET_MAX_REQUEST_BYTES = env_int("ATOMFLEET_MAX_REQUEST_BYTES", 1_048_576, minimum=1024)
ATOMFLEET_MAX_UPLOAD_BYTES = env_int("ATOMFLEET_MAX_UPLOAD_BYTES", 104_857_600, minimum=1024)
ATOMFLEET_PROGRESS_INTERVAL = env_float("ATOMFLEET_PROGRESS_INTERVAL", 1.0, minimum=0)
# Steps one workflow may have (docs/workflows.md); a bigger one is refused at submit with 400.
ATOMFLEET_WORKFLOW_MAX_STEPS = env_int("ATOMFLEET_WORKFLOW_MAX_STEPS", 1000, minimum=1)

# Run lifecycle deadlines (docs/lifecycle.md). Every one is enforced by beat from the database's
# view and clock; contradictory values refuse to start, naming both.
ATOMFLEET_HEARTBEAT_SECONDS = env_float("ATOMFLEET_HEARTBEAT_SECONDS", 10, minimum=0.1)
ATOMFLEET_STALE_AFTER_SECONDS = env_float("ATOMFLEET_STALE_AFTER_SECONDS", 90, minimum=1)
ATOMFLEET_DISPATCH_INTERVAL = env_float("ATOMFLEET_DISPATCH_INTERVAL", 5, minimum=0.1)
ATOMFLEET_RECONCILE_INTERVAL = env_float("ATOMFLEET_RECONCILE_INTERVAL", 15, minimum=0.1)
# Runs created this recently are left to their on-commit publish before the outbox takes them.
ATOMFLEET_OUTBOX_GRACE_SECONDS = env_float("ATOMFLEET_OUTBOX_GRACE_SECONDS", 5, minimum=0)
ATOMFLEET_DISPATCH_TIMEOUT_SECONDS = env_float("ATOMFLEET_DISPATCH_TIMEOUT_SECONDS", 120, minimum=1)
ATOMFLEET_MAX_REDISPATCHES = env_int("ATOMFLEET_MAX_REDISPATCHES", 5, minimum=0)
# Fair dispatch (runs.fairness): runs a queue keeps published ahead of its workers, whatever its
# slots (each claim gives the next turn). Another tenant's run waits behind at most this many;
# more covers slots that free at the same instant on a very busy queue.
ATOMFLEET_QUEUE_READY = env_int("ATOMFLEET_QUEUE_READY", 2, minimum=1)
# Off: every accepted run is published at once, FIFO across tenants, no running caps (the behaviour
# before fair dispatch; `make bench-fairness` measures both). Every process of a fleet must agree.
ATOMFLEET_FAIR_DISPATCH = env_bool("ATOMFLEET_FAIR_DISPATCH", True)

require_below(
    "3 x ATOMFLEET_HEARTBEAT_SECONDS", 3 * ATOMFLEET_HEARTBEAT_SECONDS,
    "ATOMFLEET_STALE_AFTER_SECONDS", ATOMFLEET_STALE_AFTER_SECONDS,
    "a worker kills an execution it could not renew for stale-after minus two heartbeats, "
    "which must leave at least one heartbeat",
)
require_below(
    "ATOMFLEET_RECONCILE_INTERVAL", ATOMFLEET_RECONCILE_INTERVAL,
    "ATOMFLEET_STALE_AFTER_SECONDS", ATOMFLEET_STALE_AFTER_SECONDS,
    "the reconciler enforces the heartbeat deadline and must look more often than it",
)
require_below(
    "ATOMFLEET_RECONCILE_INTERVAL", ATOMFLEET_RECONCILE_INTERVAL,
    "ATOMFLEET_DISPATCH_TIMEOUT_SECONDS", ATOMFLEET_DISPATCH_TIMEOUT_SECONDS,
    "the reconciler enforces the dispatch deadline and must look more often than it",
)
require_below(
    "ATOMFLEET_DISPATCH_INTERVAL", ATOMFLEET_DISPATCH_INTERVAL,
    "ATOMFLEET_DISPATCH_TIMEOUT_SECONDS", ATOMFLEET_DISPATCH_TIMEOUT_SECONDS,
    "a run is re-published when not claimed within the timeout; the outbox must publish sooner",
)
