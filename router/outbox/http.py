"""Delivering HTTP messages (SMS gateways, webhooks, messenger bots): one request per attempt.

The request is rendered from the message's template when it is sent (so `${NAME}` secrets are
read from the environment then, never stored), carries `Idempotency-Key: <message id>` (a
target that honours it takes a retried message once), and its answer is judged:

| answer | verdict |
|---|---|
| 2xx | sent |
| 408, 425, 429, 5xx, no connection, timeout | retry later |
| 401, 403, 404, 405, 407 | blocked: the key or URL is wrong; every message of the channel waits |
| any other 4xx | rejected: this message is wrong; retrying cannot help |
"""

from __future__ import annotations

from typing import Any

import aiohttp
from pydantic import ValidationError

from router.core.rules import HttpRequest
from router.outbox.message import Delivery, Message, new_id
from router.outbox.templates import render, unset_env

TIMEOUT = aiohttp.ClientTimeout(total=10)
"""One attempt's limit; the outbox's lease on a group outlives it."""
BLOCKING = frozenset({401, 403, 404, 405, 407})
RETRYABLE_4XX = frozenset({408, 425, 429})
BODY_SHOWN = 200
"""Characters of an error answer kept for the task log and /healthz."""


def http_payload(template: HttpRequest, values: dict[str, Any]) -> dict[str, Any]:
    """What an HTTP message keeps: the template as written (secrets unrendered) and the event's values."""
    request = template.model_dump(mode="json", by_alias=True, exclude_none=True,
                                  include=set(HttpRequest.model_fields))  # a webhook's `events` are not sent
    return {"template": request,
            "values": {k: v if isinstance(v, str | int | float | bool) else str(v) for k, v in values.items()}}


def http_message(channel: str, group: str, template: HttpRequest, values: dict[str, Any], label: str, task: str,
                 now: float, retry_for: int, once: str = "", once_for: int = 0) -> Message:
    """A message that sends `template` filled with `values`, tried for `retry_for` seconds."""
    return Message(new_id(now), channel, group, http_payload(template, values), label, task, now, now + retry_for,
                   once, once_for)


def judge(status: int, body: str, url: str) -> Delivery:
    shown = f"HTTP {status}" + (f" {body[:BODY_SHOWN]!r}" if body and status >= 300 else "")
    if status < 300:
        return Delivery("sent", shown)
    if status in BLOCKING:
        return Delivery("blocked", shown, f"{url} refuses every request: check its address and the key or "
                                          f"token in the router's environment, then reload")
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        return Delivery("rejected", shown, "the target refused this message as malformed; it is not retried")
    return Delivery("retry", shown)


class HttpSender:
    """One aiohttp session for every request of every HTTP channel."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def deliver(self, message: Message) -> Delivery:
        try:
            template = HttpRequest.model_validate(message.payload["template"])
        except (KeyError, ValidationError) as e:
            return Delivery("rejected", f"unreadable HTTP message ({type(e).__name__})",
                            "queued by another version of the router; it cannot be sent")
        missing = unset_env(template)
        url = template.url.split("?")[0]
        if missing:
            names = ", ".join(f"${{{n}}}" for n in missing)
            return Delivery("blocked", f"{names} not set", f"set {names} in the router's environment and restart it")
        values = message.payload.get("values") or {}
        kwargs: dict[str, Any] = {"headers": {**render(template.headers, values), "Idempotency-Key": message.id},
                                  "params": render(template.query, values) or None}
        if template.form is not None:
            kwargs["data"] = render(template.form, values)
        if template.json_body is not None:
            kwargs["json"] = render(template.json_body, values)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        try:
            async with self._session.request(template.method, render(template.url, values), **kwargs) as resp:
                body = (await resp.text(errors="replace"))[:BODY_SHOWN] if resp.status >= 300 else ""
                return judge(resp.status, body, url)
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            return Delivery("retry", f"{type(e).__name__}: {e}"[:BODY_SHOWN])
