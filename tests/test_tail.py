"""`router tail` against the real server."""

from __future__ import annotations

import asyncio
import io

from router.asterisk.callsim import call
from router.cli.tail import clean, follow, line
from tests.helpers import MONDAY_10, RULES_TEXT, Clock, compiled


async def test_tail_prints_one_line_per_decision(serve, store):
    await store.put_customers([("+79035550101", {"abc": "A", "manager": "ivanov", "name": "Olga\x1b[2J"})])
    r = await serve(compiled(RULES_TEXT), Clock(MONDAY_10))
    out = io.StringIO()
    task = asyncio.create_task(follow(f"http://127.0.0.1:{r.http_port}", None, count=2, out=out))
    async with asyncio.timeout(5):
        while not r.router.broadcast.subscribers:
            await asyncio.sleep(0.01)
    await call(r.agi.port, "+79035550101", uid=1)
    await call(r.agi.port, "+79161234500", uid=2)
    assert await asyncio.wait_for(task, 5) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "+79035550101" in lines[0] and "A customers reach their manager: dial PJSIP/101" in lines[0]
    assert "new prospects: queue new-connection" in lines[1] and "ms" in lines[1]


def test_tail_lines_for_outcomes_and_followups_escape_control_characters():
    o = {"number": "+79161234500", "direction": "inbound", "result": "missed", "by": "", "ring_seconds": 8.0,
         "talk_seconds": 0.0, "reason": "caller hung up\x1b[31m"}
    text = line("outcome", {"outcome": o})
    assert "MISSED after 8.0 s" in text and "\x1b" not in text and "\\x1b" in text
    f = line("followup", {"event": "created", "task": {"id": "fu-1", "number": "+7916", "owner": "ivanov",
                                                        "count": "1"}})
    assert "follow-up fu-1 created: +7916 for ivanov, 1 call(s)" in f
    assert clean("a\nb") == "a\\x0ab"


async def test_tail_reports_a_refused_token(serve):
    r = await serve(compiled(RULES_TEXT), Clock(MONDAY_10), token="t0ken")
    assert await follow(f"http://127.0.0.1:{r.http_port}", None, count=1, out=io.StringIO()) == 1


async def test_tail_and_healthz_tell_times_in_the_company_zone_24_hour(serve):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from router.cli.tail import line

    r = await serve(compiled(RULES_TEXT), Clock(MONDAY_10))
    assert (await r.router.store.ping()) and r.router.rules.rs.company.timezone == "Europe/Moscow"
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{r.http_port}/healthz") as resp:
        assert (await resp.json())["timezone"] == "Europe/Moscow"
    at = datetime(2026, 11, 23, 21, 5, 9, tzinfo=ZoneInfo("Europe/Moscow")).timestamp()
    decision = {"decision": {"at": at, "rule": "r", "steps": [], "latency_ms": 1.0, "caller": {}}}
    assert line("decision", decision, ZoneInfo("Europe/Moscow")).startswith("21:05:09  ")
    assert line("outcome", {"outcome": {"ended_at": at, "number": "+7", "direction": "inbound", "result": "missed",
                                        "ring_seconds": 3}}, ZoneInfo("Asia/Vladivostok")).startswith("04:05:09  ")
