"""Outgoing HTTP: the SMS gateway and CRM webhooks, as request templates from the rule file.

A template's strings take `{placeholders}` from the event (`{number}`, `{text}`, `{task_id}`,
…) and `${NAME}` from the environment, so that API keys stay out of the rule file. A template
whose `${NAME}`s are not all set is not sent at all: the shipped examples stay quiet until
configured. Sending retries with back-off and never runs on a call's path.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from router.core.rules import HttpRequest, Notify

log = logging.getLogger("router.notify")

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_ENV = re.compile(r"\$\{(\w+)\}")
ATTEMPTS = 4
TIMEOUT = aiohttp.ClientTimeout(total=10)


def render(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        value = _ENV.sub(lambda m: os.environ.get(m.group(1), ""), value)
        return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), value)
    if isinstance(value, dict):
        return {k: render(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, values) for v in value]
    return value


def unset_env(template: HttpRequest, environ: dict[str, str] | None = None) -> list[str]:
    """The `${NAME}`s a template uses that the environment leaves unset or empty: it is not sent until they are."""
    env = os.environ if environ is None else environ
    names = dict.fromkeys(_ENV.findall(template.model_dump_json(by_alias=True)))
    return [n for n in names if not env.get(n)]


def gateway_warnings(notify: Notify, environ: dict[str, str] | None = None) -> list[str]:
    """One line per gateway or webhook that is off because its `${NAME}`s are unset."""
    out = []
    targets = [("notify.sms", notify.sms)] + [(f"notify.webhooks[{i}]", h) for i, h in enumerate(notify.webhooks)]
    for where, template in targets:
        missing = unset_env(template, environ) if template is not None else []
        if missing:
            names = ", ".join(f"${{{n}}}" for n in missing)
            out.append(f"{where} ({template.url.split('?')[0]}): {names} not set in the environment: "
                       f"nothing is sent there until {'it is' if len(missing) == 1 else 'they are'}")
    return out


@dataclass(slots=True)
class Result:
    ok: bool
    attempts: int
    detail: str


class Sender:
    """One aiohttp session for every outgoing request; `backoff` seconds double per retry."""

    def __init__(self, backoff: float = 1.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.backoff = backoff
        self.sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, template: HttpRequest, values: dict[str, Any]) -> Result:
        missing = unset_env(template)
        if missing:
            return Result(False, 0, "not sent: " + ", ".join(f"${{{n}}}" for n in missing) + " not set")
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        url = render(template.url, values)
        kwargs: dict[str, Any] = {"headers": render(template.headers, values),
                                  "params": render(template.query, values) or None}
        if template.form is not None:
            kwargs["data"] = render(template.form, values)
        if template.json_body is not None:
            kwargs["json"] = render(template.json_body, values)
        detail = ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self._session.request(template.method, url, **kwargs) as resp:
                    body = (await resp.text())[:200]
                    if resp.status < 300:
                        return Result(True, attempt, f"HTTP {resp.status}")
                    detail = f"HTTP {resp.status} {body!r}"
                    if 400 <= resp.status < 500 and resp.status not in (408, 429):
                        return Result(False, attempt, detail)  # the request itself is wrong: retrying won't help
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                detail = f"{type(e).__name__}: {e}"
            if attempt < ATTEMPTS:
                log.warning("%s %s: attempt %d failed (%s); retrying", template.method, url.split("?")[0],
                            attempt, detail)
                await self.sleep(self.backoff * 2 ** (attempt - 1))
        log.error("%s %s: gave up after %d attempts (%s)", template.method, url.split("?")[0], ATTEMPTS, detail)
        return Result(False, ATTEMPTS, detail)
