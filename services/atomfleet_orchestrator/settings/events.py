"""Event log and SSE stream settings (see docs/events.md and docs/configuration.md)."""

from __future__ import annotations

from atomfleet_orchestrator.envconfig import env_float, env_int, env_str

# Events older than this are pruned by beat, ATOMFLEET_EVENT_PRUNE_BATCH rows per statement and at
# most ATOMFLEET_EVENT_PRUNE_MAX_BATCHES statements per round (ATOMFLEET_EVENT_PRUNE_INTERVAL).
ATOMFLEET_EVENT_RETENTION_DAYS = env_float("ATOMFLEET_EVENT_RETENTION_DAYS", 7, minimum=0)
ATOMFLEET_EVENT_PRUNE_BATCH = env_int("ATOMFLEET_EVENT_PRUNE_BATCH", 5000, minimum=1)
ATOMFLEET_EVENT_PRUNE_MAX_BATCHES = env_int("ATOMFLEET_EVENT_PRUNE_MAX_BATCHES", 20, minimum=1)
ATOMFLEET_EVENT_PRUNE_INTERVAL = env_float("ATOMFLEET_EVENT_PRUNE_INTERVAL", 300, minimum=1)
# Events one GET /api/v1/events page holds at most (?limit=).
ATOMFLEET_EVENT_PAGE_MAX = env_int("ATOMFLEET_EVENT_PAGE_MAX", 500, minimum=1)

# The events (SSE) process: `atomfleet events`.
ATOMFLEET_EVENTS_HOST = env_str("ATOMFLEET_EVENTS_HOST", "127.0.0.1")
ATOMFLEET_EVENTS_PORT = env_int("ATOMFLEET_EVENTS_PORT", 8001, minimum=1)
# A ": keep-alive" comment when a stream had nothing to say this long (proxies close idle streams).
ATOMFLEET_EVENTS_KEEPALIVE_SECONDS = env_float("ATOMFLEET_EVENTS_KEEPALIVE_SECONDS", 15, minimum=0.05)
# Without a NOTIFY (SQLite, or LISTEN lost) the process reads the table this often anyway.
ATOMFLEET_EVENTS_POLL_SECONDS = env_float("ATOMFLEET_EVENTS_POLL_SECONDS", 2, minimum=0.01)
# Streams one events process serves at most (503 with Retry-After above: another replica takes it).
ATOMFLEET_EVENTS_MAX_STREAMS = env_int("ATOMFLEET_EVENTS_MAX_STREAMS", 5000, minimum=1)
# Lifetime of a stream token (POST /api/v1/events/stream-token), for EventSource's ?token=.
ATOMFLEET_STREAM_TOKEN_SECONDS = env_int("ATOMFLEET_STREAM_TOKEN_SECONDS", 300, minimum=5)
# The URL clients reach the stream at when it is not the API's own host (`atomfleet dev`).
ATOMFLEET_EVENTS_URL = env_str("ATOMFLEET_EVENTS_URL", "")
