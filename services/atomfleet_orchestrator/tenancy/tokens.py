"""Token lookups with a short per-process cache.

Looking a token up is a large share of a small request's cost, so one API process reuses a
successful lookup for ``ATOMFLEET_TOKEN_CACHE_SECONDS``. The trade-off is bounded and documented:
a revoked, rotated or deleted token is refused by every API process at most that long after the
change, and at once by the process that made it (the model signals below drop its entry).
Failed lookups are never cached, so a new token works at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant, hash_token

__all__ = ["Caller", "TokenCache", "lookup", "token_cache"]


@dataclass(frozen=True)
class Caller:
    """``request.user``: who is calling, for which tenant."""

    tenant: Tenant
    name: str
    is_authenticated: bool = True
    is_anonymous: bool = False


class TokenCache:
    """Token hash -> (caller, token) for ``ttl`` seconds, at most ``size`` entries (oldest out)."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[float, Caller, ApiToken]] = OrderedDict()
        self._lock = threading.Lock()  # gthread workers share a process

    def get(self, key_hash: str) -> tuple[Caller, ApiToken] | None:
        with self._lock:
            entry = self._entries.get(key_hash)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key_hash]
                return None
            return entry[1], entry[2]

    def put(self, key_hash: str, caller: Caller, token: ApiToken) -> None:
        ttl = float(settings.ATOMFLEET_TOKEN_CACHE_SECONDS)
        if ttl <= 0:
            return
        with self._lock:
            self._entries[key_hash] = (time.monotonic() + ttl, caller, token)
            self._entries.move_to_end(key_hash)
            while len(self._entries) > settings.ATOMFLEET_TOKEN_CACHE_SIZE:
                self._entries.popitem(last=False)

    def discard(self, key_hash: str) -> None:
        with self._lock:
            self._entries.pop(key_hash, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


token_cache = TokenCache()


def lookup(raw: str) -> tuple[Caller, ApiToken] | None:
    """The caller and token for a raw token, or None when it is unknown or revoked."""
    key_hash = hash_token(raw)
    cached = token_cache.get(key_hash)
    if cached is not None:
        return cached
    token = (
        ApiToken.objects.select_related("tenant")
        .filter(key_hash=key_hash, revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    caller = Caller(tenant=token.tenant, name=token.name)
    token_cache.put(key_hash, caller, token)
    return caller, token


@receiver(post_save, sender=ApiToken, dispatch_uid="atomfleet-token-cache-save")
@receiver(post_delete, sender=ApiToken, dispatch_uid="atomfleet-token-cache-delete")
def _forget_changed_token(sender: Any, instance: ApiToken, **kwargs: Any) -> None:
    token_cache.discard(instance.key_hash)
