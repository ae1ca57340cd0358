"""Standard Webhooks 1.0 signatures.

The secret is ``whsec_`` + base64 of 24 random bytes; the key is those bytes. The signature of
one attempt is ``v1,`` + base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>"));
during a rotation's grace period the header lists one per secret, separated by spaces, and a
receiver accepts the message when any of them verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

__all__ = ["SECRET_PREFIX", "new_secret", "signature_header"]

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _sign(secret: str, payload: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    return "v1," + base64.b64encode(hmac.new(key, payload, hashlib.sha256).digest()).decode()


def signature_header(secrets_: Iterable[str], webhook_id: str, timestamp: int, body: bytes) -> str:
    payload = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join(_sign(secret, payload) for secret in secrets_)
