"""HTTP client of the atomfleet API (used by the CLI and the demo)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

__all__ = ["ApiClientError", "AtomfleetClient", "TERMINAL"]

TERMINAL = ("succeeded", "failed", "cancelled")


class ApiClientError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


class AtomfleetClient:
    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AtomfleetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiClientError(0, "unreachable", f"{self._http.base_url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                error = {"code": "http_error", "message": response.text[:300]}
            raise ApiClientError(response.status_code, error.get("code", "error"), error.get("message", ""), error.get("details"))
        return response.json() if response.content else None

    def atoms(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/v1/atoms")["results"])

    def submit(self, atom: str, args: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"args": args}
        if idempotency_key:
            body["idempotency_key"] = idempotency_key
        return dict(self._call("POST", f"/api/v1/atoms/{atom}/runs", json=body))

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/runs/{run_id}"))

    def runs(self, **filters: Any) -> dict[str, Any]:
        params = {k: v for k, v in filters.items() if v is not None}
        return dict(self._call("GET", "/api/v1/runs", params=params))

    def cancel(self, run_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/api/v1/runs/{run_id}/cancel"))

    def result(self, run_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/v1/runs/{run_id}/result"))

    def download(self, url: str, dest: Path) -> Path:
        # Presigned S3 URLs carry their own auth; the API's artifact URLs need the token.
        client = self._http if url.startswith(str(self._http.base_url)) else httpx.Client(timeout=60)
        with client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise ApiClientError(response.status_code, "download_failed", url)
            with dest.open("wb") as fh:
                for chunk in response.iter_bytes():
                    fh.write(chunk)
        return dest

    def upload(self, path: Path) -> dict[str, Any]:
        with path.open("rb") as fh:
            return dict(self._call("POST", "/api/v1/files", files={"file": (path.name, fh)}))

    def upload_bytes(self, name: str, data: bytes) -> dict[str, Any]:
        return dict(self._call("POST", "/api/v1/files", files={"file": (name, data)}))

    def wait(
        self,
        run_id: str,
        timeout: float = 3600.0,
        poll: float = 0.5,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(run_id)
            if on_update:
                on_update(run)
            if run["status"] in TERMINAL:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run['status']} after {timeout:.0f}s")
            time.sleep(poll)
