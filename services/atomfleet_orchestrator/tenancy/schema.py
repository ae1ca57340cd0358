"""OpenAPI: the bearer token scheme of ``TenantTokenAuthentication`` (so generated clients send it)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TenantTokenScheme(OpenApiAuthenticationExtension):
    target_class = "atomfleet_orchestrator.tenancy.authentication.TenantTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`atomfleet manage create_token <tenant> <name>`): "
            "`Authorization: Bearer af_...`.",
        }
