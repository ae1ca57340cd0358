"""The event log: one row per state change of a run or workflow, written in the change's transaction.

``log`` is the one writer, ``read`` the gap-free reader every consumer pages through (REST, the SSE
stream, the webhook outbox), ``stream`` the ASGI Server-Sent Events endpoint.
"""
