"""The app's calls to its Inngest server: sync (``POST /fn/register``), events (``POST /e/{key}``, the
event API ``step.send_event`` uses), checkpoints (``POST /v1/checkpoint/{run}/async``, steps run
inline and committed mid-request, as the TypeScript SDK does) and the run state the server asks an
SDK to fetch when it is too large to send (``GET /v0/runs/{run}/batch`` and ``/actions``).

With a signing key every call carries ``Authorization: Bearer <sha256 of the key>`` (inngest-py's
form), retried once with the fallback key on a 401/403. Sending events retries connection errors
and 5xx replies a few times with the same ``x-inngest-event-id-seed``, so a retry stores no second
copy; a 4xx is final (the events themselves were refused).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from executor.drivers.inngest.signing import hash_signing_key
from executor.service.inngest_app.config import FRAMEWORK, REQUEST_VERSION, SDK_HEADER

NO_EVENT_KEY = "NO_EVENT_KEY_SET"
SEND_ATTEMPTS = 4
CHECKPOINT_ATTEMPTS = 3
_BACKOFF_S = 0.1


class UpstreamError(Exception):
    """The server could not be reached, or refused; the message says which and what it answered."""


class EventsRefused(UpstreamError):
    """The event API refused the events (4xx): sending them again cannot help."""


class StaleRequest(UpstreamError):
    """The server answered a checkpoint with 409: this request no longer stands for the run (it was
    requeued, cancelled or has ended), so it must stop without reporting anything as done."""


def api_headers(env: str | None = None) -> dict[str, str]:
    """The headers inngest-py puts on every request it makes (and, with the framework and the mode,
    on every reply)."""
    headers = {"content-type": "application/json", "x-inngest-sdk": SDK_HEADER,
               "x-inngest-req-version": REQUEST_VERSION, "user-agent": SDK_HEADER}
    if env:
        headers["x-inngest-env"] = env
    return headers


class Upstream:
    def __init__(self, server: str, *, signing_key: str | None = None, signing_key_fallback: str | None = None,
                 event_key: str | None = None, env: str | None = None, timeout: float = 30.0,
                 client: httpx.AsyncClient | None = None) -> None:
        self.origin = server.rstrip("/") + "/"
        self._keys = [k for k in (signing_key, signing_key_fallback) if k]
        self._event_key = event_key or NO_EVENT_KEY
        self._env = env
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self.checkpoints_supported = True

    async def aclose(self) -> None:
        await self._client.aclose()

    def _url(self, path: str) -> str:
        return urljoin(self.origin, path.lstrip("/"))

    async def _send(self, method: str, path: str, *, json: Any = None, headers: Mapping[str, str] | None = None,
                    params: Mapping[str, str] | None = None) -> httpx.Response:
        """One call with the SDK's headers and, with a key, its Bearer token (then the fallback's)."""
        base = {**api_headers(self._env), **(headers or {})}
        tokens = [hash_signing_key(key) for key in self._keys] or [None]
        for position, token in enumerate(tokens):
            sent = dict(base)
            if token is not None:
                sent["authorization"] = f"Bearer {token}"
            response = await self._client.request(method, self._url(path), json=json, headers=sent, params=params)
            if response.status_code not in (401, 403) or position == len(tokens) - 1:
                return response
        raise AssertionError("unreachable: the last token's reply is returned")

    # ---- sync --------------------------------------------------------------------------------

    async def register(self, body: dict[str, Any], *, server_kind: str | None = None,
                       deploy_id: str | None = None) -> httpx.Response:
        headers = {"x-inngest-framework": FRAMEWORK}
        if server_kind:
            headers["x-inngest-expected-server-kind"] = server_kind
        params = {"deployId": deploy_id} if deploy_id else None
        try:
            return await self._send("POST", "/fn/register", json=body, headers=headers, params=params)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"could not sync with {self.origin}: POST /fn/register failed: "
                                f"{type(exc).__name__}: {exc}") from None

    # ---- events ------------------------------------------------------------------------------

    async def send_events(self, events: list[Any]) -> list[str]:
        seed = f"{int(time.time() * 1000)},{base64.b64encode(os.urandom(10)).decode()}"
        path = f"/e/{quote(self._event_key, safe='')}"
        problem = ""
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                await asyncio.sleep(_BACKOFF_S * 2 ** (attempt - 1))
            try:
                response = await self._send("POST", path, json=events, headers={"x-inngest-event-id-seed": seed})
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            reply = _json(response)
            said = reply.get("error") if isinstance(reply, dict) else None
            if 400 <= response.status_code < 500:
                raise EventsRefused(f"the event API refused the events (HTTP {response.status_code}): "
                                    f"{said or response.text[:500]}")
            if response.status_code >= 500:
                problem = f"HTTP {response.status_code}: {said or response.text[:500]}"
                continue
            ids = reply.get("ids") if isinstance(reply, dict) else None
            if said or not isinstance(ids, list):
                raise UpstreamError(f"the event API at {self.origin} answered {response.text[:500]!r}")
            return [str(i) for i in ids]
        raise UpstreamError(f"could not send events to {self.origin} after {SEND_ATTEMPTS} tries: {problem}")

    # ---- checkpoints ---------------------------------------------------------------------------

    async def checkpoint(self, run_id: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Once the server has committed the steps: the memo it stored for each, when it says (Inngest's
        servers answer an empty body; durable-tui's names the steps). None when it cannot take
        checkpoints (it has no such endpoint: remembered) or did not answer in time: the request then
        reports the steps as ops instead. ``StaleRequest`` on a 409."""
        path = f"/v1/checkpoint/{quote(run_id, safe='')}/async"
        for attempt in range(CHECKPOINT_ATTEMPTS):
            if attempt:
                await asyncio.sleep(_BACKOFF_S * 2 ** (attempt - 1))
            try:
                response = await self._send("POST", path, json=body)
            except httpx.HTTPError:
                continue
            if response.status_code == 409:
                raise StaleRequest(f"the server refused a checkpoint of run {run_id}: {response.text[:500]}")
            if response.status_code in (404, 405):
                self.checkpoints_supported = False
                return None
            if 200 <= response.status_code < 300:
                reply = _json(response)
                steps = reply.get("steps") if isinstance(reply, dict) else None
                return steps if isinstance(steps, dict) else {}
        return None

    # ---- state too large to send -----------------------------------------------------------------

    async def run_state(self, run_id: str) -> tuple[list[Any], dict[str, Any]]:
        """A run's events and step memos, fetched as the server asked (``use_api``)."""
        run = quote(run_id, safe="")
        try:
            batch, actions = await asyncio.gather(self._send("GET", f"/v0/runs/{run}/batch"),
                                                  self._send("GET", f"/v0/runs/{run}/actions"))
        except httpx.HTTPError as exc:
            raise UpstreamError(f"could not fetch the state of run {run_id} from {self.origin}: {exc}") from None
        for response in (batch, actions):
            if response.status_code >= 400:
                raise UpstreamError(f"HTTP error: {response.status_code} {response.text[:500]}")
        events, steps = _json(batch), _json(actions)
        if not isinstance(events, list) or not isinstance(steps, dict):
            raise UpstreamError(f"the server's state of run {run_id} is not an event list and a step map")
        return events, steps


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
