"""Kubelet probes answered whatever ``ALLOWED_HOSTS`` is.

The kubelet's httpGet probes send ``Host: <pod IP>:<port>``, which a production allow-list
(``ATOMFLEET_ALLOWED_HOSTS=atomfleet.example.com``) rejects with 400 as soon as anything calls
``request.get_host()`` (Django's ``CommonMiddleware`` does, for every request). This middleware
sits before it and serves ``GET /healthz`` and ``GET /readyz`` straight from their views: neither
builds a URL or reads the host, so skipping host validation for them exposes nothing. Every other
path is validated as before.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

__all__ = ["PROBE_PATHS", "ProbeMiddleware"]

PROBE_PATHS = frozenset({"/healthz", "/readyz"})


class ProbeMiddleware:
    """Put it before ``django.middleware.common.CommonMiddleware`` (and anything reading the host)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and request.path_info in PROBE_PATHS:
            try:
                match = resolve(request.path_info)
            except Resolver404:
                return self.get_response(request)
            # The request metrics (route label) see the probe as they would through URL routing.
            request.resolver_match = match
            response: HttpResponse = match.func(request, *match.args, **match.kwargs)
            return response
        return self.get_response(request)
