"""A stranger's caller ID and called number reach the head's spreadsheet as text, never as a formula."""

from __future__ import annotations

import csv
import io

import aiohttp

from router.asterisk.callsim import call
from router.core.outcome import Outcome
from router.core.phones import is_extension
from router.reports.reader import safe_cell
from tests.helpers import Clock, compiled

NOW = 1_795_400_000.0
RULES = """
version: 1
company: {timezone: Europe/Moscow}
targets:
  support: {queue: support}
rules:
  - {name: everyone, route: [support]}
fallback: [support]
"""
HOSTILE_CALLER = "=2+5+cmd|x!A0"
HOSTILE_DNID = '=HYPERLINK("http://evil")'


def test_cells_that_start_like_a_formula_get_a_quote_and_numbers_stay_numbers():
    assert [safe_cell(v) for v in ("=1+1", "+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "plain")] == \
        ["'=1+1", "'+cmd", "'-2+3", "'@SUM(A1)", "'\t=1", "'\r=1", "plain"]
    assert [safe_cell(v) for v in ("+79161234500", "-3", "12.5", 20.0, "")] == ["+79161234500", "-3", "12.5", 20.0, ""]


def test_a_caller_id_that_is_not_a_number_is_an_outsider_not_an_extension():
    assert is_extension("101") and is_extension("2001")
    assert not is_extension("=2+5+cmd|x!A0") and not is_extension("79161234500") and not is_extension("")


async def test_the_calls_export_neutralises_a_hostile_caller_id_and_called_number(serve, store):
    r = await serve(compiled(RULES), Clock(NOW))
    await call(r.agi.port, HOSTILE_CALLER, dnid=HOSTILE_DNID, uid=7)
    await r.router.log.flush()
    [d] = await r.router.log.newest(1)
    await store.record_outcome(Outcome("1.7", "inbound", HOSTILE_CALLER, "missed", queue="support", decision=d["id"],
                                       ring_seconds=12.0, ended_at=NOW + 12))
    day = "2026-11-23"
    url = f"http://127.0.0.1:{r.http_port}/api/report/calls.csv?day={day}"
    async with aiohttp.ClientSession() as s, s.get(url) as resp:
        body = await resp.text()
    [row] = list(csv.DictReader(io.StringIO(body)))
    assert row["number"] == "'" + HOSTILE_CALLER and row["dnid"] == "'" + HOSTILE_DNID
    assert row["direction"] == "inbound", "a spoofed caller ID is a customer's call, not an internal one"
