"""Object storage for uploads, artifacts and large results (local filesystem or S3/MinIO)."""

from __future__ import annotations

from collections.abc import Mapping

from atomfleet.errors import ConfigurationError
from atomfleet.storage.base import ObjectStore, check_key
from atomfleet.storage.local import LocalObjectStore
from atomfleet.storage.tenant import (
    ArtifactRef,
    RunArtifacts,
    TenantFiles,
    tenant_prefix,
    upload_key,
)

__all__ = [
    "ArtifactRef",
    "LocalObjectStore",
    "ObjectStore",
    "RunArtifacts",
    "TenantFiles",
    "build_store",
    "check_key",
    "tenant_prefix",
    "upload_key",
]


def build_store(config: Mapping[str, str | None]) -> ObjectStore:
    """Build the configured backend from ``{"backend", "local_root", "bucket", ...}``."""
    backend = config.get("backend") or "local"
    if backend == "local":
        return LocalObjectStore(config.get("local_root") or ".atomfleet/storage")
    if backend == "s3":
        from atomfleet.storage.s3 import S3ObjectStore  # boto3 import is slow: only when used

        bucket = config.get("bucket")
        if not bucket:
            raise ConfigurationError("ATOMFLEET_S3_BUCKET is required with the s3 storage backend")
        return S3ObjectStore(
            bucket, endpoint_url=config.get("endpoint_url"), region=config.get("region") or "us-east-1"
        )
    raise ConfigurationError(f"ATOMFLEET_STORAGE_BACKEND must be 'local' or 's3', not {backend!r}")
