"""Tenant-scoped views of the object store.

Every key a tenant can name lives under ``tenants/<tenant>/``. Atoms only get these views, so an
atom can never read another tenant's upload whatever arguments it is given.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass

from atomfleet.errors import ObjectAccessDenied
from atomfleet.storage.base import ObjectStore, check_key

__all__ = ["ArtifactRef", "TenantFiles", "RunArtifacts", "tenant_prefix", "upload_key"]

_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def tenant_prefix(tenant: str) -> str:
    return f"tenants/{tenant}/"


def upload_key(tenant: str, filename: str) -> str:
    """A fresh key for an uploaded file, keeping a sanitised form of its name."""
    safe = _FILENAME_UNSAFE.sub("_", filename).strip("._") or "upload"
    return f"{tenant_prefix(tenant)}uploads/{uuid.uuid4().hex}/{safe[:100]}"


@dataclass(frozen=True)
class ArtifactRef:
    name: str
    key: str
    size: int
    content_type: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class TenantFiles:
    """Read access to the files one tenant uploaded."""

    def __init__(self, store: ObjectStore, tenant: str) -> None:
        self._store = store
        self._prefix = tenant_prefix(tenant)

    def owns(self, key: str) -> bool:
        try:
            check_key(key)
        except ObjectAccessDenied:
            return False
        return key.startswith(self._prefix)

    def _checked(self, key: str) -> str:
        if not self.owns(key):
            raise ObjectAccessDenied(key, "the key does not belong to this tenant")
        return key

    def exists(self, key: str) -> bool:
        return self._store.exists(self._checked(key))

    def read_bytes(self, key: str) -> bytes:
        return self._store.get(self._checked(key))

    def read_text(self, key: str, encoding: str = "utf-8") -> str:
        return self.read_bytes(key).decode(encoding)


class RunArtifacts:
    """Write access to the artifact folder of one attempt of one run.

    Each attempt writes under its own prefix (``runs/<run>/attempt-<n>/``), so an execution that
    was superseded (its worker presumed lost) can never overwrite the current attempt's files.
    """

    def __init__(self, store: ObjectStore, tenant: str, run_id: str, attempt: int | None = None) -> None:
        self._store = store
        attempt_dir = f"attempt-{attempt}/" if attempt is not None else ""
        self._prefix = f"{tenant_prefix(tenant)}runs/{run_id}/{attempt_dir}"
        self.written: list[ArtifactRef] = []

    def put(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> ArtifactRef:
        if "/" in name or not name:
            raise ObjectAccessDenied(name, "artifact names are plain file names")
        key = check_key(self._prefix + name)
        self._store.put(key, data, content_type)
        ref = ArtifactRef(name=name, key=key, size=len(data), content_type=content_type)
        self.written = [a for a in self.written if a.name != name] + [ref]
        return ref
