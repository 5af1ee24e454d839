"""The directory: customers, client companies and their number ranges, the numbering plan, the CRM cache.

Imports replace what they load whole (a re-import leaves no stale tag or range); the numbering
plan is loaded into a scratch key and swapped in, so lookups never see half a table. Routers
that keep the plan or the company ranges in memory (Cluster) are told to read them again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import orjson

from router.state.base import StoreBase
from router.state.replies import mapping, score_map, with_newest


class DirectoryMixin(StoreBase):
    async def put_customers(self, records: Iterable[tuple[str, dict[str, str]]]) -> int:
        """Replace each customer's record (re-import is idempotent: no stale tags survive), and point its
        contract at it. A contract the customer no longer holds may still point at the number: a call that
        types it finds the record without that contract and is told the number is wrong."""
        p = self.r.pipeline(transaction=False)
        n = 0
        for number, fields in records:
            key = self.k.customer(number)
            p.delete(key)
            p.hset(key, mapping=fields)
            if fields.get("contract"):
                p.set(self.k.contract(fields["contract"]), number)
            n += 1
        await p.execute()
        return n

    async def customer(self, number: str) -> dict[str, str]:
        return await self.r.hgetall(self.k.customer(number))

    async def number_record(self, number: str, calls: int = 20) -> dict:
        """All the router keeps about a number: directory record, last calls, open task, newest inbound calls."""
        p = self.r.pipeline(transaction=False)
        p.hgetall(self.k.customer(number))
        p.hgetall(self.k.state(number))
        p.zrevrange(self.k.inbound(number), 0, calls - 1, withscores=True)
        p.zcard(self.k.inbound(number))
        p.execute_command("ZRANGE", self.k.newest(number), 0, -1, "WITHSCORES")
        customer, state, inbound, total, newest = await p.execute()
        state = with_newest(mapping(state), score_map(newest))
        return {"customer": customer, "state": state, "inbound": [(str(m), float(t)) for m, t in inbound],
                "inbound_total": total}

    async def put_crm(self, number: str, answer: bytes, ttl: int) -> None:
        await self.r.set(self.k.crm(number), answer, ex=ttl)

    # companies

    async def put_company(self, company_id: str, fields: dict[str, str], spans: list[tuple[int, int]]) -> None:
        """Replace one company and its number ranges at once (a re-import leaves no stale range)."""
        key = self.k.company(company_id)
        old = await self.r.hget(key, "members")
        data = orjson.dumps({f: v for f, v in fields.items() if f != "numbers"}).decode()
        members = {f"{lo}|{hi}|{company_id}|{data}": lo for lo, hi in spans}
        p = self.r.pipeline(transaction=True)
        if old:
            p.zrem(self.k.company_ranges, *orjson.loads(old))
        p.zadd(self.k.company_ranges, members)
        p.delete(key)
        p.hset(key, mapping={**fields, "members": orjson.dumps(list(members)).decode()})
        p.sadd(self.k.companies, company_id)
        await p.execute()
        await self.share([{"type": "companies"}])  # routers that keep the ranges in memory read them again

    async def delete_company(self, company_id: str) -> bool:
        key = self.k.company(company_id)
        old = await self.r.hget(key, "members")
        if old is None:
            return False
        p = self.r.pipeline(transaction=True)
        p.zrem(self.k.company_ranges, *orjson.loads(old))
        p.delete(key)
        p.srem(self.k.companies, company_id)
        await p.execute()
        await self.share([{"type": "companies"}])
        return True

    async def company_ids(self) -> list[str]:
        """Every company's id, sorted (ids only: a page of the directory is then read with `companies`)."""
        return sorted(await self.r.smembers(self.k.companies))

    async def companies(self, ids: list[str] | None = None) -> list[dict[str, str]]:
        """The companies named (every one by default), with their fields."""
        ids = await self.company_ids() if ids is None else ids
        p = self.r.pipeline(transaction=False)
        for cid in ids:
            p.hgetall(self.k.company(cid))
        out = []
        for cid, fields in zip(ids, await p.execute(), strict=True):
            if fields:
                fields.pop("members", None)
                out.append({"company": cid, **fields})
        return out

    # numbering plan

    async def numbering_ranges(self, batch: int = 10_000) -> AsyncIterator[list[str]]:
        """The whole range table, in batches, for a router that keeps it in memory."""
        start = 0
        while True:
            rows = await self.r.zrange(self.k.numbering, start, start + batch - 1)
            if not rows:
                return
            yield rows
            start += batch

    async def replace_numbering(self, ranges: Iterable[tuple[int, int, str, str]], batch: int = 5000) -> int:
        """Load ranges into a scratch key, then swap it in: lookups never see a half-loaded table."""
        scratch = self.k.numbering_loading
        await self.r.delete(scratch)
        n = 0
        chunk: dict[str, int] = {}
        for start, end, zone, region in ranges:
            chunk[f"{start}|{end}|{zone}|{region}"] = start
            n += 1
            if len(chunk) >= batch:
                await self.r.zadd(scratch, chunk)
                chunk = {}
        if chunk:
            await self.r.zadd(scratch, chunk)
        if n:
            await self.r.rename(scratch, self.k.numbering)
            await self.share([{"type": "numbering", "ranges": n}])  # routers that keep it in memory read it again
        return n
