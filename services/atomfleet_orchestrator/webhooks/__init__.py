"""Signed webhooks (Standard Webhooks 1.0) fed from the event log.

    models      endpoints, deliveries (one per event and endpoint), the fan-out cursor
    patterns    event type patterns (`run.succeeded`, `workflow.*`, `*`)
    signing     secrets and the `webhook-signature` header
    destinations  SSRF guard: resolve once, check, connect to the checked address
    fanout      beat: event rows -> delivery rows, behind a gap-free cursor
    sending     beat publishes due deliveries; a sender claims one, posts it, records the outcome
    api/        the REST endpoints
"""
