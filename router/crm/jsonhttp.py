"""One JSON request to a CRM per call, paced by the shared rate, its answer as data — never retried here.

The durable outbox retries, orders and leases; a client that retried on its own (fast-bitrix24
retries up to ten times with its own back-off and batches requests) would outlive the outbox's
lease on a group and let another router send the same message meanwhile, so this stays one
request per call on aiohttp, which the router already uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from router.crm.rate import SharedRate

TIMEOUT = aiohttp.ClientTimeout(total=10)
"""One request's limit; the outbox's lease on a group (60 s) outlives a few of them."""
SHOWN = 300
"""Characters of an answer kept for the task log and /healthz."""
MAX_ANSWER = 4 * 1024 * 1024
"""An answer larger than this is not read (user.get pages are 50 users)."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    """HTTP status; 0 when there was no answer (no connection, a time-out)."""
    body: Any
    """The JSON answer (None when it was not JSON)."""
    text: str
    """The answer's start, or the connection error, as an admin reads it."""


class JsonHttp:
    def __init__(self, rate: SharedRate):
        self.rate = rate
        self._session: aiohttp.ClientSession | None = None

    async def request(self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
                      params: dict[str, str] | None = None) -> Answer:
        await self.rate.wait()
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT, json_serialize=lambda o: orjson.dumps(o).decode())
        try:
            async with self._session.request(method, url, json=body, headers=headers, params=params) as resp:
                raw = await resp.content.read(MAX_ANSWER)
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            return Answer(0, None, f"{type(e).__name__}: {e}"[:SHOWN])
        text = raw.decode("utf-8", "replace")
        try:
            parsed = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        return Answer(resp.status, parsed, text[:SHOWN])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
