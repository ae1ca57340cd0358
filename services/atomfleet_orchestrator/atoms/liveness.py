"""How a worker shows that it serves its atoms (no Django import: workers read it at start-up)."""

#: How often a live worker marks its atoms as served, and how long that mark lasts.
SERVE_INTERVAL = 30.0
LIVE_SECONDS = 3 * SERVE_INTERVAL
