"""A live CRM lookup at ring time: request templates, answers mapped by JSON path, bounded and cached.

A call waits for the CRM at most `budget_ms`; past that it is routed on what is already known
and the lookup goes on in the background (up to `timeout`) to fill the cache for the next call.
Answers are read up to `max_bytes` and never trusted: values are cut, stripped of control
characters, and classes that are not A, B or C are dropped. Only "not found" is cached as a
negative; errors are not cached, so a CRM that recovers is asked again at the next call.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from router.core.rules import CrmDirectory, CrmRequest
from router.outbox.templates import render
from router.state.errors import STORE_ERRORS
from router.state.store import Store

log = logging.getLogger("router.crm")

VALUE_MAX = 200
"""Characters of a CRM value kept (a name, a class, a manager's id are far shorter)."""
CLEANED_MAX = 4 * VALUE_MAX
"""Characters of a value looked at: enough to keep VALUE_MAX after control characters are dropped."""
CLASSES = frozenset("ABC")


@dataclass(slots=True)
class CrmAnswer:
    found: bool
    fields: dict[str, str] = field(default_factory=dict)
    error: str = ""
    """Why the lookup gave nothing usable (HTTP 500, not JSON, too large…); empty when it answered."""
    ms: float = 0.0

    def cacheable(self) -> dict | None:
        return None if self.error else {"found": self.found, "fields": self.fields}


class CrmError(Exception):
    pass


def dig(doc: Any, path: str) -> Any:
    """`result.CONTACT.0` in a JSON document; None where the path leads nowhere."""
    for part in path.split("."):
        if isinstance(doc, dict):
            doc = doc.get(part)
        elif isinstance(doc, list) and part.lstrip("-").isdigit() and -len(doc) <= int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return None
        if doc is None:
            return None
    return doc


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        value = "1" if value else "0"
    elif isinstance(value, int | float):
        value = f"{value:g}" if isinstance(value, float) else str(value)
    elif isinstance(value, list):
        items = [_text(v) for v in value[:VALUE_MAX] if not isinstance(v, dict | list)]
        value = ";".join(v for v in items if v)
    if not isinstance(value, str):
        return None
    # cut before cleaning: a 200 KB field must cost the event loop no more than a short one
    value = "".join(ch for ch in value[:CLEANED_MAX] if ch.isprintable()).strip()[:VALUE_MAX]
    return value or None


def map_answer(req: CrmRequest, doc: Any) -> dict[str, str]:
    """The fields one request's answer gives, translated to the rule file's names."""
    out: dict[str, str] = {}
    for name, path in req.map.items():
        value = _text(dig(doc, path))
        if value is None:
            continue
        value = req.translate.get(name, {}).get(value, value)
        if name == "abc":
            value = value.upper()
            if value not in CLASSES:
                continue
        if name == "tags":
            value = ";".join(t.strip() for t in value.replace(",", ";").split(";") if t.strip())
        out[name] = value
    return out


def answer_from_documents(settings: CrmDirectory, docs: list[Any]) -> CrmAnswer:
    """The answer the CRM's (saved) JSON documents give, one per request: `router simulate --crm FILE`."""
    fields: dict[str, str] = {}
    for req, doc in zip(settings.requests, docs, strict=False):
        got = map_answer(req, doc)
        if not got:
            return CrmAnswer(False)
        fields |= got
    return CrmAnswer(True, fields)


async def _read_bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    length = resp.content_length
    if length is not None and length > limit:
        raise CrmError(f"answer of {length} bytes is larger than {limit}")
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > limit:
            raise CrmError(f"answer larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class Crm:
    """The CRM client of one router: one HTTP session, one lookup per number at a time."""

    def __init__(self, store: Store | None, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._running: dict[str, asyncio.Task[CrmAnswer]] = {}
        self._background: set[asyncio.Task] = set()
        self.asked = self.answered_in_time = self.late = self.failed = 0

    async def close(self) -> None:
        for t in list(self._running.values()):
            t.cancel()
        if self._session is not None:
            await self._session.close()

    async def within(self, settings: CrmDirectory, number: str, seconds: float) -> CrmAnswer | None:
        """The CRM's answer for a number if it comes within `seconds`, else None (the lookup goes on)."""
        task = self._running.get(number)
        if task is None:
            self.asked += 1
            task = asyncio.create_task(self._lookup(settings, number))
            self._running[number] = task
            task.add_done_callback(functools.partial(self._done, number, settings))
        done, _ = await asyncio.wait({task}, timeout=max(seconds, 0))
        if not done:
            self.late += 1
            return None
        self.answered_in_time += 1
        return task.result()

    def _done(self, number: str, settings: CrmDirectory, task: asyncio.Task[CrmAnswer]) -> None:
        self._running.pop(number, None)
        if task.cancelled():
            return
        answer = task.result()
        if answer.error:
            self.failed += 1
            log.warning("CRM lookup for %s failed: %s", number, answer.error)
            return
        if self.store is None:
            return
        cached = answer.cacheable()
        ttl = settings.cache_ttl if answer.found else settings.negative_ttl
        t = asyncio.create_task(self._cache(number, cached, ttl))
        self._background.add(t)
        t.add_done_callback(self._background.discard)

    async def _cache(self, number: str, cached: dict | None, ttl: int) -> None:
        if self.store is None:
            return
        try:
            await self.store.put_crm(number, orjson.dumps(cached), ttl)
        except STORE_ERRORS as e:  # the next call asks the CRM again: nothing is lost
            log.warning("CRM answer for %s not cached: %s", number, e)

    async def drain(self) -> None:
        """Wait for lookups and cache writes under way (tests, shutdown)."""
        while self._running or self._background:
            await asyncio.gather(*self._running.values(), *self._background, return_exceptions=True)

    async def lookup(self, settings: CrmDirectory, number: str) -> CrmAnswer:
        """Ask the CRM now, without a budget or the cache (`router simulate --crm live`)."""
        try:
            return await self._lookup(settings, number)
        finally:
            await self.close()

    async def by_contract(self, settings: CrmDirectory, contract: str, seconds: float) -> CrmAnswer | None:
        """The CRM's answer for a contract number a caller typed, if it comes within `seconds` (not cached:
        a typed number is asked once per call). None when it did not answer in time."""
        task = asyncio.create_task(self._lookup(settings, contract, settings.contract_requests, "contract"))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        done, _ = await asyncio.wait({task}, timeout=max(seconds, 0))
        return task.result() if done else None

    async def _lookup(self, settings: CrmDirectory, number: str, requests: list[CrmRequest] | None = None,
                      placeholder: str = "number") -> CrmAnswer:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(settings.timeout):
                answer = await self._chain(settings, number, requests, placeholder)
        except TimeoutError:
            answer = CrmAnswer(False, error=f"no answer in {settings.timeout} s")
        except CrmError as e:
            answer = CrmAnswer(False, error=str(e))
        except (aiohttp.ClientError, OSError) as e:
            answer = CrmAnswer(False, error=f"{type(e).__name__}: {str(e)[:120]}")
        answer.ms = (time.perf_counter() - started) * 1000
        return answer

    async def _chain(self, settings: CrmDirectory, number: str, requests: list[CrmRequest] | None = None,
                     placeholder: str = "number") -> CrmAnswer:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32))
        values: dict[str, str] = {placeholder: number, "digits": number.lstrip("+")}
        fields: dict[str, str] = {}
        for req in settings.requests if requests is None else requests:
            doc = await self._request(req, values, settings.max_bytes)
            got = map_answer(req, doc)
            if not got:
                return CrmAnswer(False, fields)
            fields |= got
            values |= got
        return CrmAnswer(True, fields)

    async def _request(self, req: CrmRequest, values: dict[str, str], limit: int) -> Any:
        kwargs: dict[str, Any] = {"headers": render(req.headers, values), "params": render(req.query, values) or None}
        if req.form is not None:
            kwargs["data"] = render(req.form, values)
        if req.json_body is not None:
            kwargs["json"] = render(req.json_body, values)
        assert self._session is not None, "_chain opens the session"
        async with self._session.request(req.method, render(req.url, values), **kwargs) as resp:
            if resp.status == 404:
                return None  # "no such contact" in many CRMs: not found, not an error
            if resp.status >= 300:
                raise CrmError(f"HTTP {resp.status}")
            body = await _read_bounded(resp, limit)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise CrmError(f"answer is not JSON ({body[:40]!r})") from None
