"""The object store interface shared by the local and S3 backends."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from atomfleet.errors import ObjectAccessDenied

__all__ = ["ObjectStore", "check_key"]

_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


def check_key(key: str) -> str:
    """Reject keys that could escape a prefix (``..``, absolute, odd characters)."""
    if (
        not _SAFE_KEY.match(key)
        or posixpath.normpath(key) != key
        or key.startswith("/")
        or any(part in ("", ".", "..") for part in key.split("/"))
    ):
        raise ObjectAccessDenied(key, "not a valid object key")
    return key


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def put_stream(self, key: str, stream: BinaryIO, content_type: str) -> int:
        """Store what ``stream`` yields, reading it in bounded chunks (uploads of up to
        ``ATOMFLEET_MAX_UPLOAD_BYTES`` never sit in memory whole); returns the bytes stored."""
        ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def iter_chunks(self, key: str, chunk_size: int = 65536) -> Iterator[bytes]: ...

    def presigned_url(self, key: str, expires_in: int) -> str | None:
        """A time-limited URL clients can download from directly, or None (local backend)."""
        ...
