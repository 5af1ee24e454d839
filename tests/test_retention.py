"""Nothing grows without bound: a number's keys and closed tasks expire; one person can be forgotten."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from router.asterisk.callsim import call
from router.core.outcome import Outcome
from router.core.phones import score
from router.core.rulefile import RuleFileError, load_rules_text
from router.risk.events import parse_batch
from router.state.keys import Retention
from tests.helpers import ROUTER_CMD, Clock, compiled, router_env

NOW = 1_795_400_000.0
NUMBER = "+79161234567"
OTHER = "+79161230000"
RULES = """
version: 1
company: {timezone: Europe/Moscow}
targets:
  support: {queue: support}
rules:
  - {name: everyone, route: [support]}
fallback: [support]
risk:
  signals:
    visit: {events: {kinds: [technician_visit], days: 30}, weight: 3}
"""


def missed(number: str, linkedid: str, decision: str = "", now: float = NOW) -> Outcome:
    return Outcome(linkedid, "inbound", number, "missed", queue="support", decision=decision, ring_seconds=20.0,
                   ended_at=now + 20, reason="caller hung up")


async def test_a_numbers_history_and_state_expire_after_the_retention(store):
    store.retention = Retention(numbers=1000, tasks=500)
    await store.snapshot(NUMBER, score(NUMBER), NOW, 86400, record_inbound="c1")
    await store.record_outcome(missed(NUMBER, "1.1"))
    for key in (store.k.inbound(NUMBER), store.k.newest(NUMBER), store.k.state(NUMBER)):
        assert 0 < await store.r.ttl(key) <= 1000, key


async def test_a_closed_task_and_its_log_expire_after_the_retention(store):
    store.retention = Retention(numbers=1000, tasks=500)
    for task_id, at in (("old", NOW - 600), ("new", NOW)):
        task = {"id": task_id, "number": NUMBER, "owner": "duty", "state": "open", "created": at,
                "deadline": at + 60, "count": 1}
        await store.open_task(NUMBER, task, {"at": at, "text": "missed call"})
        await store.close_task(task_id, at, "closed by hand")
    assert 0 < await store.r.ttl(store.k.task("new")) <= 500
    assert 0 < await store.r.ttl(store.k.task_log("new")) <= 500
    assert await store.r.zrange(store.k.tasks_closed, 0, -1) == ["new"], "the closed list forgets it too"


def test_the_rules_refuse_a_retention_shorter_than_a_window_that_reads_it():
    with pytest.raises(RuleFileError) as e:
        load_rules_text(RULES + "identify: {returning_after: 90d}\nretention: {numbers: 30d}\n", "rules.yaml")
    assert "rules.yaml:" in str(e.value)
    assert "retention.numbers (30 d) must be longer than identify.returning_after (90 d)" in str(e.value)


async def _everything(store) -> str:
    """Every key under the test's prefix with its value, as one text to search."""
    out = []
    async for key in store.r.scan_iter(match=f"{store.k.prefix}:*"):
        kind = await store.r.type(key)
        value = {"string": store.r.get, "hash": store.r.hgetall, "list": lambda k: store.r.lrange(k, 0, -1),
                 "set": store.r.smembers, "zset": lambda k: store.r.zrange(k, 0, -1, withscores=True),
                 "stream": lambda k: store.r.xrange(k)}[kind]
        out.append(f"{key} {await value(key)}")
    return "\n".join(out)


async def two_callers_remembered(serve, store, now: float):
    """NUMBER and OTHER called and were missed (follow-ups, raw calls, log entries); NUMBER is also at risk."""
    r = await serve(compiled(RULES), Clock(now))
    await store.put_customers([(NUMBER, {"name": "Olga", "abc": "A"}), (OTHER, {"name": "Ivan"})])
    for uid, number in ((1, NUMBER), (2, OTHER)):
        await call(r.agi.port, number, uid=uid, dnid="88006008208")
    await r.router.log.flush()
    decisions = {d["caller"]["number"]: d["id"] for d in await r.router.log.newest(10)}
    for number in (NUMBER, OTHER):
        o = missed(number, f"1.{number}", decisions[number], now)
        assert await store.record_outcome(o)
        await r.router.on_outcome(o)
    batch = parse_batch([{"id": "v1", "number": NUMBER, "kind": "technician_visit", "at": now - 86400}],
                        r.router.rules.rs.risk, r.router.rules.company_zone, "RU", now)
    await r.router.risk.add(batch.events, now)
    assert await r.router.risk.listing() != []
    assert NUMBER in await _everything(store)
    return r


async def test_forgetting_a_number_erases_it_everywhere_and_leaves_the_others(serve, store):
    r = await two_callers_remembered(serve, store, NOW)
    for n in (1, 2):  # two calls the router did not route: the second makes the first a recall, keyed by number
        assert await store.record_outcome(missed(NUMBER, f"2.{n}", "", NOW + 60 * n))
    assert NUMBER in str(await store.r.hgetall(store.k.recalls_day("2026-11-23")))

    erased = await store.forget_number(NUMBER, ["2026-11-23"])

    assert erased.tasks == 2 and erased.calls == 3 and erased.log_entries >= 2 and erased.keys >= 5
    assert NUMBER not in await _everything(store), await _lines_naming_the_number(store)
    assert OTHER in await _everything(store)
    assert [t["number"] for t in await r.router.followups.worklist()] == [OTHER]


async def _lines_naming_the_number(store):
    return [line[:300] for line in (await _everything(store)).splitlines() if NUMBER in line]


@pytest.mark.slow
async def test_customers_forget_erases_one_person_from_the_command_line_once_told_yes(serve, store, redis_url,
                                                                                     prefix, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    r = await two_callers_remembered(serve, store, time.time())  # today: the days the command looks through
    await r.stop()

    def forget(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([*ROUTER_CMD, "customers", "forget", "8 916 123-45-67", "--rules", str(rules),
                               "--store", redis_url, "--prefix", prefix, *extra],
                              capture_output=True, text=True, env=router_env(), timeout=60)

    unsure = await asyncio.to_thread(forget)
    assert unsure.returncode == 2 and "cannot be undone; run again with --yes" in unsure.stderr
    assert "+*******4567" in unsure.stderr and NUMBER not in unsure.stderr
    assert NUMBER in await _everything(store), "nothing erased without --yes"

    done = await asyncio.to_thread(forget, "--yes")
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert line.startswith("router customers forget: erased +*******4567: ") and NUMBER not in line
    assert "2 tasks" in line and "1 raw calls (92 days looked through)" in line
    assert NUMBER not in await _everything(store), await _lines_naming_the_number(store)
    assert OTHER in await _everything(store)
