"""The durable outbox against real Redis and a real HTTP target: nothing lost, nothing twice, in order."""

from __future__ import annotations

import asyncio

import pytest

from router.core.rules import HttpRequest
from router.outbox.http import HttpSender, http_message
from router.outbox.outbox import MAX_RETRY, Outbox
from tests.fake_services import Sink
from tests.helpers import Clock

NOW = 1_795_400_000.0
DAY = 86400


class Target(Sink):
    """The Sink on /hook, its answers as (Idempotency-Key, group, n), repeats included."""

    @property
    def got(self) -> list[tuple[str, str, str]]:
        return [(key, body["group"], body["n"]) for key, _, body in self.answered]

    def template(self) -> HttpRequest:
        return HttpRequest(url=f"http://127.0.0.1:{self.port}/hook", json={"group": "{group}", "n": "{n}"})


@pytest.fixture
async def target():
    t = Target()
    await t.up()
    yield t
    await t.down()


def outbox_on(store, clock) -> Outbox:
    return Outbox(store, {"webhook": HttpSender()}, clock)


@pytest.fixture
async def clock():
    return Clock(NOW)


@pytest.fixture
async def outbox(store, clock):
    o = outbox_on(store, clock)
    yield o
    await o.close()


def post(outbox: Outbox, target: Target, group: str, n: int, task: str = "", retry_for: int = DAY) -> str:
    m = http_message("webhook", group, target.template(), {"group": group, "n": str(n)}, f"hook {group}#{n}", task,
                     outbox.clock(), retry_for)
    outbox.post(m)
    return m.id


async def drain(outbox: Outbox) -> None:
    await outbox.write()
    while await outbox.deliver_due():
        pass


async def test_a_target_down_for_a_while_gets_every_message_once_in_order(outbox, target, clock, store):
    await target.down()
    for n in range(3):
        for g in ("a", "b", "c"):
            post(outbox, target, g, n)
    for _ in range(6):  # down for a while: each group retries its first message, the rest wait behind it
        await drain(outbox)
        clock.advance(MAX_RETRY)
    assert (await outbox.status()).depth == 9
    await target.up()
    await drain(outbox)
    assert sorted((g, n) for _, g, n in target.got) == sorted((g, str(n)) for g in "abc" for n in range(3))
    for g in "abc":
        assert [n for _, grp, n in target.got if grp == g] == ["0", "1", "2"], "in order within a group"
    assert len({key for key, _, _ in target.got}) == 9, "each message once"
    status = await outbox.status()
    assert (status.depth, status.oldest_age, status.given_up) == (0, None, 0)


async def test_two_routers_on_one_store_send_each_message_once_in_order(store, target, clock):
    one, two = outbox_on(store, clock), outbox_on(store, clock)
    for n in range(10):  # a task's messages may be queued by either router, as its events reach them
        for g in ("x", "y", "z"):
            by = one if n % 2 else two
            post(by, target, g, n)
            await by.write()
    while sum(await asyncio.gather(one.deliver_due(), two.deliver_due())):
        pass
    assert len(target.got) == 30 and len({k for k, _, _ in target.got}) == 30
    for g in ("x", "y", "z"):
        assert [int(n) for _, grp, n in target.got if grp == g] == list(range(10))
    assert one.counts[("webhook", "sent")] + two.counts[("webhook", "sent")] == 30
    await one.close()
    await two.close()


async def test_messages_posted_while_the_store_is_away_are_written_when_it_is_back(outbox, target, store,
                                                                                   monkeypatch):
    async def refused(*_):
        raise ConnectionError("store away")

    monkeypatch.setattr(store, "queue_message", refused)
    post(outbox, target, "g", 1)
    with pytest.raises(ConnectionError):
        await outbox.write()
    assert len(outbox.unwritten) == 1 and (await outbox.status()).unwritten == 1
    monkeypatch.undo()
    await drain(outbox)
    assert [n for _, _, n in target.got] == ["1"]


async def test_a_wrong_key_blocks_the_channel_with_advice_and_nothing_is_lost(outbox, target, clock, store):
    target.status = 401
    for n in range(3):
        post(outbox, target, "g", n)
    await drain(outbox)
    status = await outbox.status()
    assert status.depth == 3 and list(status.blocked) == ["webhook"]
    assert "HTTP 401" in status.blocked["webhook"]["error"]
    assert "check its address and the key" in status.blocked["webhook"]["advice"]
    clock.advance(MAX_RETRY - 1)
    await drain(outbox)
    assert target.got == [], "a blocked channel is tried again every 5 minutes, not at once"
    target.status = 200  # the admin fixed the key
    clock.advance(1)
    await drain(outbox)
    assert [n for _, _, n in target.got] == ["0", "1", "2"]
    assert (await outbox.status()).blocked == {}


async def test_a_message_the_target_refuses_is_given_up_at_once_and_kept_for_the_admin(outbox, target, store):
    target.status = 422
    post(outbox, target, "g", 1)
    await drain(outbox)
    [dead] = await store.dead_messages()
    assert dead["label"] == "hook g#1" and dead["why"] == "HTTP 422 'no'" and "not retried" in dead["advice"]
    status = await outbox.status()
    assert (status.depth, status.given_up) == (0, 1)
    assert outbox.counts[("webhook", "rejected")] == 1


async def test_stopping_with_a_send_in_flight_keeps_the_message_for_the_next_start(store, target, clock):
    target.delay = 30  # a slow target: the send is under way when the router stops
    first = outbox_on(store, clock)
    first.start()
    post(first, target, "g", 1)
    while not first._sending:
        await asyncio.sleep(0.01)
    assert await first.stop(0.2) == []
    assert (await first.status()).depth == 1, "the message cut short is still queued"
    target.delay = 0
    second = outbox_on(store, clock)
    await drain(second)
    assert [n for _, _, n in target.got] == ["1"]
    await second.close()


async def test_the_secret_is_read_when_sending_and_never_stored(outbox, target, store, monkeypatch):
    monkeypatch.setenv("CR_TEST_HOOK_KEY", "s3cr3t")
    template = HttpRequest(url=f"http://127.0.0.1:{target.port}/hook", headers={"X-Key": "${CR_TEST_HOOK_KEY}"},
                           json={"group": "{group}", "n": "${CR_TEST_HOOK_KEY}{n}"})
    outbox.post(http_message("webhook", "g", template, {"group": "g", "n": "${CR_TEST_HOOK_KEY}"}, "hook", "",
                             NOW, DAY))
    await outbox.write()
    stored = await store.r.hgetall(store.k.outbox_message(await store.r.lindex(store.k.outbox_queue("g"), 0)))
    assert "s3cr3t" not in str(stored)
    await drain(outbox)
    assert target.got[0][2] == "s3cr3t${CR_TEST_HOOK_KEY}", "a value that names a variable is not expanded"
