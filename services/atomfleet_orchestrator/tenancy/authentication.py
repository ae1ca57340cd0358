"""DRF authentication: ``Authorization: Bearer <token>`` (``Token <token>`` also accepted)."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from atomfleet_orchestrator.tenancy.models import ApiToken
from atomfleet_orchestrator.tenancy.tokens import Caller, lookup

__all__ = ["Caller", "TenantTokenAuthentication"]


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
        found = lookup(raw)
        if found is None:
            raise exceptions.AuthenticationFailed("token is not valid or was revoked")
        return found

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to unauthenticated requests.
        return 'Bearer realm="atomfleet"'
