"""Helpers shared by ``Client`` and ``AsyncClient``: upload bodies, download targets, polling."""

from __future__ import annotations

import contextlib
import mimetypes
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

from atomfleet.client._errors import TransportError

UploadSource = Union[str, "os.PathLike[str]", bytes, IO[bytes]]

#: One multipart file part, as httpx takes it: (filename, content, content type).
FilePart = tuple[str, Any, str]


@dataclass(frozen=True)
class UploadParts:
    source: UploadSource
    name: str
    content_type: str

    @contextlib.contextmanager
    def opened(self) -> Iterator[Callable[[], FilePart]]:
        """Yields a function giving the part for one attempt, rewound to its start."""
        if isinstance(self.source, bytes):
            data = self.source
            yield lambda: (self.name, data, self.content_type)
            return
        if isinstance(self.source, str | os.PathLike):
            with open(self.source, "rb") as fh:  # noqa: PTH123 (a plain file object for httpx)
                yield self._rewinding(fh, 0)
            return
        stream = self.source
        start = stream.tell() if stream.seekable() else None
        yield self._rewinding(stream, start)

    def _rewinding(self, stream: IO[bytes], start: int | None) -> Callable[[], FilePart]:
        def part() -> FilePart:
            if start is not None:
                stream.seek(start)
            return (self.name, stream, self.content_type)

        return part


def upload_parts(source: UploadSource, name: str | None, content_type: str | None) -> UploadParts:
    if name is None:
        if isinstance(source, bytes):
            name = "upload"
        elif isinstance(source, str | os.PathLike):
            name = Path(source).name
        else:
            name = Path(str(getattr(source, "name", "upload"))).name or "upload"
    guessed = mimetypes.guess_type(name)[0]
    return UploadParts(source, name, content_type or guessed or "application/octet-stream")


@contextlib.contextmanager
def download_target(dest: str | os.PathLike[str] | IO[bytes]) -> Iterator[IO[bytes]]:
    """A writable binary file; for a path, the file appears only once complete."""
    if not isinstance(dest, str | os.PathLike):
        yield dest
        return
    path = Path(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def is_api_url(base_url: str, url: str) -> bool:
    return url.startswith("/") or url.startswith(base_url + "/")


def next_poll(interval: float, ceiling: float) -> float:
    return min(ceiling, interval * 1.5)


def transport_error(method: str, path: str, exc: Exception, attempts: int) -> TransportError:
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    return TransportError(
        "unreachable", f"{method} {path}: {type(exc).__name__}: {exc}{tries}",
        details={"exception": type(exc).__name__, "attempts": attempts},
    )


__all__ = [
    "FilePart",
    "UploadParts",
    "UploadSource",
    "download_target",
    "is_api_url",
    "next_poll",
    "transport_error",
    "upload_parts",
]
