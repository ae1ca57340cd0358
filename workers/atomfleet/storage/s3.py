"""S3 backend (AWS S3 or MinIO) through boto3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any, BinaryIO, cast

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.client import Config
from botocore.exceptions import ClientError

from atomfleet.errors import ObjectNotFound, StorageError
from atomfleet.storage.base import check_key

__all__ = ["S3ObjectStore"]

_MISSING = {"404", "NoSuchKey", "NotFound"}
# Streamed uploads: one PUT up to 8 MiB, multipart above, at most two parts read ahead and two in
# flight, so an upload holds a few parts of memory whatever its size (s3transfer's default reads up
# to 10 parts ahead: 80 MiB).
_PART = 8 * 1024 * 1024
_TRANSFER = TransferConfig(multipart_threshold=_PART, multipart_chunksize=_PART, max_concurrency=2)
_TRANSFER.max_in_memory_upload_chunks = 2  # s3transfer's TransferConfig; boto3's does not expose it


class _Counting:
    """A read-only view of a stream that counts the bytes read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream, self.count = stream, 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data


class S3ObjectStore:
    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        client: Any | None = None,
    ) -> None:
        self.bucket = bucket
        # Path-style addressing works with MinIO and with AWS alike.
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=check_key(key), Body=data, ContentType=content_type
        )

    def put_stream(self, key: str, stream: BinaryIO, content_type: str) -> int:
        """Seekable streams (a spooled upload) are read part by part where they lie; others are
        read one part at a time into memory."""
        source: Any = stream
        seekable = stream.seekable()
        if seekable:
            start = stream.tell()
            size = stream.seek(0, 2) - start
            stream.seek(start)
        else:
            source = _Counting(stream)
        try:
            self.client.upload_fileobj(cast(IO[Any], source), self.bucket, check_key(key),
                                       ExtraArgs={"ContentType": content_type}, Config=_TRANSFER)
        except ClientError as exc:
            raise StorageError(f"s3 upload {key!r}: {exc}") from exc
        return size if seekable else int(source.count)

    def _object_call(self, operation: str, key: str) -> Any:
        """``get_object``/``head_object`` with S3's "missing" codes mapped to ObjectNotFound."""
        try:
            return getattr(self.client, operation)(Bucket=self.bucket, Key=check_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise ObjectNotFound(key) from None
            raise StorageError(f"s3 {operation} {key!r}: {exc}") from exc

    def _get(self, key: str) -> Any:
        return self._object_call("get_object", key)

    def get(self, key: str) -> bytes:
        body: bytes = self._get(key)["Body"].read()
        return body

    def _head(self, key: str) -> Any:
        return self._object_call("head_object", key)

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except ObjectNotFound:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def iter_chunks(self, key: str, chunk_size: int = 65536) -> Iterator[bytes]:
        body = self._get(key)["Body"]
        yield from body.iter_chunks(chunk_size)

    def presigned_url(self, key: str, expires_in: int) -> str | None:
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": check_key(key)}, ExpiresIn=expires_in
        )
        return url
