"""atomfleet settings: queues, storage, limits, reconciliation timings."""

from __future__ import annotations

from atomfleet.queues import declared_queues
from atomfleet_orchestrator.envconfig import env_int, env_str

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
ATOMFLEET_HEARTBEAT_SECONDS = env_int("ATOMFLEET_HEARTBEAT_SECONDS", 10, minimum=1)
ATOMFLEET_STALE_AFTER_SECONDS = env_int("ATOMFLEET_STALE_AFTER_SECONDS", 90, minimum=2)
ATOMFLEET_DISPATCH_INTERVAL = env_int("ATOMFLEET_DISPATCH_INTERVAL", 15, minimum=1)
ATOMFLEET_RECONCILE_INTERVAL = env_int("ATOMFLEET_RECONCILE_INTERVAL", 30, minimum=1)
# Runs created this recently are left to their on-commit dispatch before the outbox takes them.
ATOMFLEET_OUTBOX_GRACE_SECONDS = env_int("ATOMFLEET_OUTBOX_GRACE_SECONDS", 5, minimum=0)
ATOMFLEET_PROGRESS_INTERVAL = float(env_str("ATOMFLEET_PROGRESS_INTERVAL", "1.0"))
