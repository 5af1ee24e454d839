"""An admin can see the AMI link: back-off on a refused port, the host in every line, state in /healthz and /metrics."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from router.asterisk.ami import AMITarget, Listener
from router.asterisk.amisim import AMIServer, block
from tests.helpers import MONDAY_10, RULES, SIM_SECRET, Clock, ami_target, free_port, http_get, wait_for


class Scheduled:
    """Reconnects the listener asks for, run by the test when it chooses: the back-off is seen, not waited."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    def __call__(self, delay: float, callback):
        self.queue.put_nowait((delay, callback))
        return self

    def cancel(self) -> None:
        pass

    async def next(self) -> tuple[float, object]:
        return await asyncio.wait_for(self.queue.get(), 10)


async def test_a_refused_connection_backs_off_to_30_s_and_every_line_names_the_host(store, caplog):
    port = free_port()  # nothing listens there: every connect is refused
    clock = Clock(MONDAY_10)
    later = Scheduled()
    listener = Listener(AMITarget.parse(f"ami://callrouter@127.0.0.1:{port}", SIM_SECRET), store, clock=clock,
                        call_later=later)
    caplog.set_level(logging.INFO)
    listener.start()
    try:
        delays = []
        for _ in range(20):
            delay, reconnect = await later.next()
            delays.append(delay)
            clock.advance(delay)
            reconnect()
        await later.next()
    finally:
        await listener.stop()
    assert delays == [1, 2, 4, 8, 16] + [30] * 15
    ours = [r for r in caplog.records if r.name.startswith("router.ami")]
    assert ours and all(f"AMI 127.0.0.1:{port}: " in r.getMessage() for r in ours)
    warnings = [r.getMessage() for r in ours if r.levelno == logging.WARNING]
    assert len(warnings) == 7, warnings  # attempts 1-5, then one in ten at the longest wait: 10 and 20
    assert warnings[0] == f"AMI 127.0.0.1:{port}: cannot connect (Connection refused); 1 attempts in 0 s, next in 1 s"
    assert warnings[-1].endswith("20 attempts in 451 s, next in 30 s")
    assert not [r for r in caplog.records if r.name.startswith("panoramisk") and r.levelno >= logging.WARNING]
    st = listener.status()
    assert (st["connected"], st["connect_failures"], st["reconnects"], st["last_event_at"]) == (False, 21, 0, None)


async def test_nothing_reconnects_after_stop(store):
    later = Scheduled()
    listener = Listener(AMITarget.parse(f"ami://callrouter@127.0.0.1:{free_port()}", SIM_SECRET), store,
                        call_later=later)
    listener.start()
    _, reconnect = await later.next()
    await listener.stop()
    assert reconnect() is None and later.queue.empty()


async def test_healthz_and_metrics_show_the_ami_link(store, serve):
    ami = AMIServer(secret=SIM_SECRET)
    await ami.start()
    clock = Clock(MONDAY_10)
    try:
        r = await serve(RULES, clock, ami=ami_target(ami))
        await asyncio.wait_for(r.ami.synced.wait(), 10)
        clock.advance(5)
        await ami.push(block(("Event", "DeviceStateChange"), ("Privilege", "call,all"), ("Device", "PJSIP/101"),
                             ("State", "INUSE")))
        await wait_for(lambda: r.ami.last_event_at == MONDAY_10 + 5)  # the resync's replies came at MONDAY_10
        status, body = await http_get(r.http_port, "/healthz")
        assert status == 200
        host = f"127.0.0.1:{ami.port}"
        assert body["ami"] == {"host": host, "connected": True, "since": MONDAY_10, "last_event_at": MONDAY_10 + 5,
                               "events": r.ami.received, "reconnects": 0, "connect_failures": 0}
        r.ami.backoff = 0.0  # reconnect at once after the drop below
        logins = ami.logins
        clock.advance(60)
        ami.drop()
        await wait_for(lambda: ami.logins > logins and r.ami.connected.is_set())
        _, body = await http_get(r.http_port, "/healthz")
        assert (body["ami"]["connected"], body["ami"]["reconnects"], body["ami"]["since"]) == (True, 1, MONDAY_10 + 65)
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{r.http_port}/metrics") as resp:
            text = await resp.text()
        ami_series = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
                      if s.labels.get("host") == host}
        assert ami_series["callrouter_ami_connected"] == 1
        assert ami_series["callrouter_ami_reconnects_total"] == 1
        last = body["ami"]["last_event_at"]
        assert last in (MONDAY_10 + 5, MONDAY_10 + 65)  # the state read after the reconnect may count
        assert ami_series["callrouter_ami_last_event_timestamp_seconds"] == last
        assert ami_series["callrouter_ami_connect_failures_total"] == 0
    finally:
        await ami.close()
