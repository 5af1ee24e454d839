"""The API's lists a page at a time, over a real HTTP server: `limit`, `cursor`, a `next` cursor in the
answer; every item once, in the list's order, whatever the page size; the raw calls streamed."""

from __future__ import annotations

import csv
import io
import random

import aiohttp
import orjson
import pytest

from router.asterisk.callsim import call
from tests.helpers import (
    AT_RISK_SCORES,
    HOUR,
    MONDAY,
    MONDAY_10,
    RISK_RULES_TEXT,
    RULES_TEXT,
    Clock,
    compiled,
    http_get,
    missed,
    put_at_risk,
)


async def every_page(port: int, path: str, limit: int) -> list[dict]:
    """The items of every page of a list, following `next` to the end; each page holds at most `limit`."""
    items: list[dict] = []
    cursor = None
    while True:
        sep = "&" if "?" in path else "?"
        status, page = await http_get(port, f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, page
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            return items


async def test_the_risk_list_comes_a_page_at_a_time_highest_score_first(serve, store):
    r = await serve(compiled(RISK_RULES_TEXT), Clock(MONDAY_10))
    numbers = await put_at_risk(store, 250, MONDAY_10)
    got = await every_page(r.http_port, "/api/risk", 40)
    assert sorted(e["number"] for e in got) == sorted(numbers), "every customer once"
    assert [(-e["score"], e["since"]) for e in got] == sorted((-e["score"], e["since"]) for e in got)
    assert got[0]["score"] == 3 + AT_RISK_SCORES and got[0]["task"]["owner"] == "ivanov"
    status, first = await http_get(r.http_port, "/api/risk")
    assert status == 200 and len(first["items"]) == 100 and first["next"], "100 a page unless told"


async def test_a_customer_leaving_the_list_between_pages_moves_nobody_else(serve, store):
    r = await serve(compiled(RISK_RULES_TEXT), Clock(MONDAY_10))
    await put_at_risk(store, 30, MONDAY_10)
    first = (await http_get(r.http_port, "/api/risk?limit=10"))[1]
    gone = first["items"][0]["number"]
    await store.set_risk_listing(gone, None, None)  # off the list (its signals aged out, or forgotten)
    second = (await http_get(r.http_port, f"/api/risk?limit=10&cursor={first['next']}"))[1]
    rest = await every_page(r.http_port, f"/api/risk?cursor={second['next']}", 10)
    seen = [e["number"] for e in first["items"] + second["items"] + rest]
    assert len(seen) == len(set(seen)) == 30, "no one repeated, no one skipped"


async def test_a_day_of_the_risk_list_pages_too(serve, store):
    r = await serve(compiled(RISK_RULES_TEXT), Clock(MONDAY_10))
    numbers = await put_at_risk(store, 120, MONDAY_10 - HOUR)  # entered from Sunday 09:00 to 11:00, Moscow
    sunday = await every_page(r.http_port, "/api/risk?day=2026-11-22", 25)
    assert sorted(e["number"] for e in sunday) == sorted(numbers)
    assert (await http_get(r.http_port, "/api/risk?day=2026-11-23"))[1] == {"items": [], "next": None}
    assert (await http_get(r.http_port, "/api/risk?day=Sunday"))[0] == 400


async def test_a_store_written_before_the_list_had_its_order_is_indexed_by_the_sweep(serve, store):
    r = await serve(compiled(RISK_RULES_TEXT), Clock(MONDAY_10))
    numbers = await put_at_risk(store, 20, MONDAY_10, tasks=False)
    await store.r.delete(store.k.risk_rank)  # what a router of the previous release left behind
    await store.r.zadd(store.k.risk_rank, {"+79990000000": -1.0})  # and one that left the list meanwhile
    await r.router.tick()
    got = await every_page(r.http_port, "/api/risk", 100)
    assert sorted(e["number"] for e in got) == sorted(numbers)
    assert await store.r.zcard(store.k.risk_rank) == 20


@pytest.mark.parametrize(("query", "error"), [
    ("limit=0", "limit must be from 1 to 500; got 0"),
    ("limit=501", "limit must be from 1 to 500; got 501"),
    ("limit=ten", "limit must be a whole number from 1 to 500; got 'ten'"),
    ("cursor=bm9wZQ", "cursor is not one this list gave"),
    ("cursor=%%%", "cursor is not one this list gave"),
])
async def test_a_limit_or_cursor_the_list_cannot_take_is_a_400_that_says_so(serve, query, error):
    r = await serve(compiled(RISK_RULES_TEXT), Clock(MONDAY_10))
    for path in ("/api/risk", "/api/followups", "/api/followups?state=closed", "/api/followups/escalated",
                 "/api/companies"):
        status, body = await http_get(r.http_port, f"{path}{'&' if '?' in path else '?'}{query}")
        assert status == 400 and error in body["error"], (path, body)


async def open_follow_ups(r, clock: Clock, count: int) -> None:
    for i in range(count):
        await r.router.followups.on_outcome(missed(f"+7903{i:07d}", f"{i}.1"))
        clock.advance(60)


@pytest.mark.parametrize("sort_gets", [True, False], ids=["one SORT a batch", "HMGET each (a Cluster)"])
async def test_follow_ups_page_in_the_worklist_order_open_overdue_and_closed(serve, store, sort_gets):
    clock = Clock(MONDAY_10)
    r = await serve(compiled(RULES_TEXT), clock)
    store.sort_gets = sort_gets
    await store.put_customers([(f"+7903{i:07d}", {"abc": "ABC"[i % 3], "manager": ("ivanov", "petrova")[i // 4 % 2]})
                               for i in range(0, 130, 4)])
    await open_follow_ups(r, clock, 130)
    worklist = [t["id"] for t in await r.router.followups.worklist("open")]
    got = await every_page(r.http_port, "/api/followups", 17)
    assert [t["id"] for t in got] == worklist, "the strategy's order, then the deadline, across pages"
    clock.t = MONDAY_10 + r.router.rules.rs.followup.deadline + 29.5 * 60  # the first 30 are past their deadline
    overdue = await every_page(r.http_port, "/api/followups?state=overdue", 7)
    assert len(overdue) == 30 and all(t["overdue"] for t in overdue)
    ivanov = await every_page(r.http_port, "/api/followups?manager=ivanov", 5)
    assert {t["owner"] for t in ivanov} == {"ivanov"} and len(ivanov) == 17
    for t in got[:45]:
        clock.advance(1)
        assert await r.router.followups.close(t["id"], "done")
    closed = await every_page(r.http_port, "/api/followups?state=closed", 10)
    assert [t["id"] for t in closed] == [t["id"] for t in reversed(got[:45])], "newest closed first"
    assert len(await every_page(r.http_port, "/api/followups", 100)) == 85
    counts = (await http_get(r.http_port, "/api/followups/counts"))[1]
    assert sum(c["open"] for c in counts.values()) == 85


async def test_escalated_follow_ups_page_with_how_many_are_on_each_level(serve, store):
    clock = Clock(MONDAY_10)
    r = await serve(compiled(RULES_TEXT + """
followup:
  deadline: 30m
  owner: duty
  escalate:
    - {after: 30m, to: head_of_sales}
"""), clock)
    await open_follow_ups(r, clock, 12)
    clock.advance(2 * HOUR)
    await r.router.tick()
    got = await every_page(r.http_port, "/api/followups/escalated", 5)
    assert len(got) == 12 and {t["level"] for t in got} == {"1"}
    page = (await http_get(r.http_port, "/api/followups/escalated?limit=5"))[1]
    assert page["levels"] == {"1": 12} and len(page["items"]) == 5


async def test_companies_page_by_id(serve, store):
    r = await serve(compiled(RULES_TEXT), Clock(MONDAY_10))
    ids = [f"co{i:04d}" for i in range(230)]
    for i, cid in enumerate(ids):
        await store.put_company(cid, {"name": f"Company {i}", "abc": "B"}, [(74951230000 + i, 74951230000 + i)])
    got = await every_page(r.http_port, "/api/companies", 100)
    assert [c["company"] for c in got] == ids


async def test_decisions_page_back_through_the_log_by_the_link_header(serve):
    r = await serve(compiled(RULES_TEXT), Clock(MONDAY_10))
    for uid in range(1, 26):
        await call(r.agi.port, f"+7916123{uid:04d}", uid=uid)
    await r.router.log.flush()
    seen: list[str] = []
    url = f"http://127.0.0.1:{r.http_port}/api/decisions?limit=10"
    async with aiohttp.ClientSession() as s:
        while url:
            async with s.get(url) as resp:
                page = await resp.json()
                assert isinstance(page, list) and len(page) <= 10, "an array, as it always was"
                seen += [d["call"]["callerid"] for d in page]
                url = str(resp.links["next"]["url"]) if "next" in resp.links else ""
                if url.startswith("/"):
                    url = f"http://127.0.0.1:{r.http_port}{url}"
    assert seen == [f"+7916123{uid:04d}" for uid in range(25, 0, -1)], "newest first, each once"


async def test_the_raw_calls_stream_oldest_first_a_batch_at_a_time(serve, store):
    r = await serve(compiled(RULES_TEXT), Clock(MONDAY_10))
    times = [MONDAY_10 - 3 * HOUR + i for i in range(2_500)]
    shuffled = random.Random(7).sample(times, len(times))
    await store.r.hset(store.k.calls_day(MONDAY), mapping={
        f"d{i}": orjson.dumps({"day": MONDAY, "at": at, "number": f"+7916{i:07d}", "direction": "inbound",
                               "result": "answered"}) for i, at in enumerate(shuffled)})
    async with aiohttp.ClientSession() as s, \
            s.get(f"http://127.0.0.1:{r.http_port}/api/report/calls.csv?day={MONDAY}") as resp:
        assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert resp.headers.get("Transfer-Encoding") == "chunked", "streamed, not built whole"
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [shuffled[int(row["number"][5:])] for row in rows] == times


async def test_the_report_counts_follow_ups_open_past_their_deadline(serve, store):
    clock = Clock(MONDAY_10)
    r = await serve(compiled(RULES_TEXT), clock)
    await open_follow_ups(r, clock, 3)  # a minute apart
    clock.t = MONDAY_10 + r.router.rules.rs.followup.deadline + 90  # the first two are past their deadline
    report = (await http_get(r.http_port, f"/api/report?day={MONDAY}"))[1]
    assert sum(p["overdue_open"] for p in report["staff"]) == 2
