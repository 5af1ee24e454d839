"""Follow-ups against real Redis, a real HTTP gateway and an injected clock."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from router.asterisk.callsim import call
from router.core.decide import CompiledRules
from router.core.rulefile import load_rules_text
from router.followups.followup import Followups
from tests.helpers import MONDAY_10, RULES_TEXT, Clock, answered, compiled, missed

GATEWAY_RULES = RULES_TEXT + """
followup:
  deadline: 30m
  sms_every: 10m
  sms_text: "We missed your call, {name}. Chat with us: {chat_link}"
  chat_link: https://t.me/example_support
  owner: duty
notify:
  sms:
    method: GET
    url: "http://127.0.0.1:{port}/sms"
    query: {to: "{number}", text: "{text}", key: "${SMS_KEY}"}
  webhooks:
    - url: "http://127.0.0.1:{port}/crm"
      json: {event: "{event}", task: "{id}", phone: "{number}", responsible: "{owner}"}
"""


@pytest.fixture
async def engine(store, gateway, monkeypatch):
    monkeypatch.setenv("SMS_KEY", "k3y")
    rules = CompiledRules(load_rules_text(GATEWAY_RULES.replace("{port}", str(gateway.port))))
    clock = Clock(MONDAY_10)
    f = Followups(store, lambda: rules, clock=clock)
    f.clock_ = clock
    yield f
    await f.drain()
    await f.outbox.close()


async def test_missed_call_opens_a_task_and_sends_one_sms(engine, gateway, store):
    await store.put_customers([("+79161234500", {"name": "Olga", "abc": "A", "manager": "ivanov"})])
    await engine.on_outcome(missed())
    await engine.drain()
    [task] = await engine.worklist("open")
    assert (task["owner"], task["count"], task["priority"]) == ("ivanov", "1", "1")
    assert float(task["deadline"]) == MONDAY_10 + 1800
    assert gateway.sms == [{"to": "+79161234500", "key": "k3y",
                            "text": "We missed your call, Olga. Chat with us: https://t.me/example_support"}]
    assert [c["event"] for c in gateway.crm] == ["created"] and gateway.crm[0]["responsible"] == "ivanov"
    log = [x["text"] for x in (await store.task(task["id"]))["log"]]
    assert log[0].startswith("missed call") and "SMS to +79161234500: sent (HTTP 200, attempt 1)" in log


async def test_second_missed_call_within_ten_minutes_comments_without_sms(engine, gateway, store):
    await engine.on_outcome(missed(linkedid="1"))
    engine.clock_.advance(5 * 60)
    await engine.on_outcome(missed(linkedid="2"))
    await engine.drain()
    [task] = await engine.worklist("open")
    assert task["count"] == "2" and len(gateway.sms) == 1
    log = [x["text"] for x in (await store.task(task["id"]))["log"]]
    assert "SMS to +79161234500: skipped, one was sent (or is waiting to be sent) less than 10m ago" in log
    assert [c["event"] for c in gateway.crm] == ["created", "updated"]


async def test_after_ten_minutes_a_new_sms_is_allowed(engine, gateway, store):
    await engine.on_outcome(missed(linkedid="1"))
    await engine.drain()
    once = store.k.outbox_once("sms:+79161234500")
    assert 0 < await store.r.ttl(once) <= 600  # counted from the SMS that went out
    await store.r.delete(once)  # what Redis' 10-minute expiry does
    engine.clock_.advance(11 * 60)
    await engine.on_outcome(missed(linkedid="2"))
    await engine.drain()
    assert len(gateway.sms) == 2


async def test_sms_limit_holds_across_two_router_instances(engine, gateway, store):
    other = Followups(store, engine.rules, clock=engine.clock_)
    await asyncio.gather(engine.on_outcome(missed(linkedid="1")), other.on_outcome(missed(linkedid="2")))
    await asyncio.gather(engine.drain(), other.drain())
    await other.outbox.close()
    tasks = await engine.worklist("open")
    assert len(tasks) == 1 and tasks[0]["count"] == "2" and len(gateway.sms) == 1


async def test_successful_callback_closes_the_task(engine, store):
    await engine.on_outcome(missed())
    await engine.on_outcome(answered(direction="outbound"))
    assert await engine.worklist("open") == []
    [closed] = await engine.worklist("closed")
    assert closed["closed_reason"] == "closed automatically: callback answered by the customer (by PJSIP/101)"
    assert await store.open_task_of("+79161234500") is None


async def test_answered_inbound_call_closes_the_task(engine):
    await engine.on_outcome(missed())
    await engine.on_outcome(answered(direction="inbound", by="Local/agent1@agents"))
    [closed] = await engine.worklist("closed")
    assert "called again and was answered by Local/agent1@agents" in closed["closed_reason"]


async def test_unanswered_callback_attempt_is_commented_and_the_task_stays(engine, store):
    await engine.on_outcome(missed())
    attempt = answered(direction="outbound")
    attempt.result = "missed"
    await engine.on_outcome(attempt)
    [task] = await engine.worklist("open")
    assert "callback attempt not answered" in [x["text"] for x in (await store.task(task["id"]))["log"]]


async def test_a_new_missed_call_after_closing_opens_a_new_task(engine):
    await engine.on_outcome(missed())
    await engine.on_outcome(answered())
    await engine.on_outcome(missed(linkedid="3"))
    assert len(await engine.worklist("open")) == 1 and len(await engine.worklist("closed")) == 1


async def test_task_past_its_deadline_shows_as_overdue(engine):
    await engine.on_outcome(missed())
    assert await engine.worklist("overdue") == []
    engine.clock_.advance(31 * 60)
    [task] = await engine.worklist("overdue")
    assert task["overdue"] is True
    assert (await engine.counts())["duty"] == {"open": 1, "overdue": 1}


async def test_new_connection_comes_before_customers_then_by_class(engine, store):
    await store.put_customers([("+79030000001", {"abc": "C"}), ("+79030000002", {"abc": "A"})])
    await engine.on_outcome(missed("+79030000001", "1"))
    await engine.on_outcome(missed("+79030000002", "2"))
    await engine.on_outcome(missed("+79030000003", "3"))  # never seen: a new connection
    assert [t["number"] for t in await engine.worklist("open")] == ["+79030000003", "+79030000002", "+79030000001"]


async def test_sms_and_webhook_failures_are_retried_and_recorded(engine, gateway, store):
    gateway.fail = 2
    await engine.on_outcome(missed())
    await engine.drain()  # both fail once: the SMS and the webhook each wait 2 s
    assert gateway.sms == [] and gateway.crm == []
    engine.clock_.advance(2)
    await engine.drain()
    [task] = await engine.worklist("open")
    log = [x["text"] for x in (await store.task(task["id"]))["log"]]
    assert len(gateway.sms) == 1 and len(gateway.crm) == 1
    assert "SMS to +79161234500: attempt 1 failed (HTTP 503 'try later'); next try in 2s" in log
    assert "SMS to +79161234500: sent (HTTP 200, attempt 2)" in log
    assert any(t.startswith("webhook created → http://127.0.0.1:") and t.endswith("sent (HTTP 200, attempt 2)")
               for t in log)


async def test_a_gateway_down_for_a_day_is_given_up_and_recorded(engine, gateway, store):
    gateway.fail = 10_000
    await engine.on_outcome(missed())
    for _ in range(400):  # a day of retries at most 5 minutes apart
        await engine.drain()
        engine.clock_.advance(300)
    [task] = await engine.worklist("open")
    log = [x["text"] for x in (await store.task(task["id"]))["log"]]
    [given_up] = [t for t in log if t.startswith("SMS to +79161234500: given up after")]
    assert "over 1d" in given_up and given_up.endswith("HTTP 503 'try later'")
    failed = [t for t in log if t.startswith("SMS to +79161234500: attempt")]
    assert [t.split()[4] for t in failed][:5] == ["1", "2", "3", "4", "8"]  # not one line per attempt
    assert engine.counters.sms_failed == 1 and engine.counters.webhooks_failed == 1
    [dead, _] = await store.dead_messages()
    assert {dead["channel"], _["channel"]} == {"sms", "webhook"}


async def test_close_by_hand_over_the_api(serve, store):
    r = await serve(compiled(RULES_TEXT), Clock(MONDAY_10))
    await r.router.followups.on_outcome(missed())
    [task] = await r.router.followups.worklist("open")
    async with aiohttp.ClientSession() as s:
        base = f"http://127.0.0.1:{r.http_port}"
        async with s.get(f"{base}/api/followups?state=open") as resp:
            assert [t["id"] for t in (await resp.json())["items"]] == [task["id"]]
        async with s.post(f"{base}/api/followups/{task['id']}/close", json={"by": "ivanov"}) as resp:
            assert resp.status == 200
        async with s.post(f"{base}/api/followups/{task['id']}/close") as resp:
            assert resp.status == 409
        async with s.get(f"{base}/api/followups?state=closed") as resp:
            assert (await resp.json())["items"][0]["closed_reason"] == "closed by hand by ivanov"
        async with s.get(f"{base}/metrics") as resp:
            text = await resp.text()
            assert "callrouter_missed_calls_total 1" in text and 'callrouter_sms_total{result="sent"} 0' in text


async def test_stream_sends_decisions_as_they_happen(serve):
    r = await serve(compiled(RULES_TEXT), Clock(MONDAY_10))
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{r.http_port}/api/decisions/stream") as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert (await resp.content.readline()).startswith(b": connected")
        await resp.content.readline()
        await call(r.agi.port, "+79161234500")
        event = await asyncio.wait_for(resp.content.readline(), 5)
        data = await asyncio.wait_for(resp.content.readline(), 5)
        assert event == b"event: decision\n" and b'"rule":"new prospects"' in data


async def test_a_short_abandon_opens_no_task_and_sends_no_sms(engine, gateway):
    gone_at_once = missed()
    gone_at_once.ring_seconds = 4.0  # under report.short_abandon (5 s): a misdial, not a customer to call back
    await engine.on_outcome(gone_at_once)
    await engine.drain()
    assert await engine.worklist("open") == [] and gateway.sms == []
    assert engine.counters.short_abandons == 1
    stayed = missed()
    stayed.ring_seconds = 5.0  # at the threshold: an abandon like any other
    await engine.on_outcome(stayed)
    await engine.drain()
    assert len(await engine.worklist("open")) == 1


async def test_the_rule_file_may_turn_short_abandons_into_tasks_too(store):
    rules = compiled(RULES_TEXT + "\nfollowup: {short_abandons: true}\n")
    f = Followups(store, lambda: rules, clock=Clock(MONDAY_10))
    gone_at_once = missed()
    gone_at_once.ring_seconds = 1.0
    await f.on_outcome(gone_at_once)
    await f.drain()
    assert len(await f.worklist("open")) == 1
    await f.outbox.close()
