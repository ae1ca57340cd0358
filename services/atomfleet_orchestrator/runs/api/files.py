"""``POST /api/v1/files``: upload an input file; the key it returns is scoped to the tenant.

The body is streamed: Django spools an upload larger than ``FILE_UPLOAD_MAX_MEMORY_SIZE`` to a
temporary file under ``/tmp`` while parsing, and the store reads it from there in bounded chunks
(multipart for S3), so a 100 MiB upload never sits in a gunicorn worker's memory.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from atomfleet.storage import upload_key
from atomfleet_orchestrator.http.errors import ApiError
from atomfleet_orchestrator.http.schema import error_responses
from atomfleet_orchestrator.runs.api.serializers import UploadSerializer
from atomfleet_orchestrator.runs.storage import get_store


@extend_schema(
    operation_id="files_upload", tags=["files"], summary="Upload an input file",
    request={"multipart/form-data": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary", "description": "the file's bytes"}},
    }},
    responses={201: UploadSerializer, **error_responses(
        400, 413, e400="no multipart field `file`: `missing_file`",
        e413="larger than ATOMFLEET_MAX_UPLOAD_BYTES: `payload_too_large`")},
)
@api_view(["POST"])
@parser_classes([MultiPartParser])
def upload(request: Request) -> Response:
    upload_file = request.FILES.get("file")
    if upload_file is None:
        raise ApiError(400, "missing_file", "send the file as the multipart field 'file'")
    key = upload_key(request.user.tenant.slug, upload_file.name or "upload")
    content_type = upload_file.content_type or "application/octet-stream"
    upload_file.seek(0)
    try:
        size = get_store().put_stream(key, upload_file, content_type)
    finally:
        upload_file.close()  # removes a spooled temporary file now, not at garbage collection
    return Response(
        {"key": key, "size": size, "content_type": content_type, "name": upload_file.name},
        status=status.HTTP_201_CREATED,
    )


__all__ = ["upload"]
