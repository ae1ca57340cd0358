"""DRF authentication: ``Authorization: Bearer <token>`` (``Token <token>`` also accepted)."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant, hash_token


@dataclass(frozen=True)
class Caller:
    """``request.user``: who is calling, for which tenant."""

    tenant: Tenant
    name: str
    is_authenticated: bool = True
    is_anonymous: bool = False


class TenantTokenAuthentication(BaseAuthentication):
    keywords = (b"bearer", b"token")

    def authenticate(self, request: Request) -> tuple[Caller, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'")
        try:
            raw = parts[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("token is not valid") from None
        token = (
            ApiToken.objects.select_related("tenant")
            .filter(key_hash=hash_token(raw), revoked_at__isnull=True)
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("token is not valid or was revoked")
        return Caller(tenant=token.tenant, name=token.name), token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to unauthenticated requests.
        return 'Bearer realm="atomfleet"'
