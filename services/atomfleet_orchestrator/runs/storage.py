"""The configured object store (one per process)."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from atomfleet.storage import ObjectStore, build_store


@lru_cache(maxsize=1)
def get_store() -> ObjectStore:
    return build_store(settings.ATOMFLEET_STORAGE)
