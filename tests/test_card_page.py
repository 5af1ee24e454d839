"""The caller's card in a real browser, fed by a real AMI stream (the AMI simulator playing Asterisk's events):
the ringing phone's person signs in at the login page and sees the card within 300 ms of the ring, with the
caller's history and why the call came to them; it turns into "answered by you", and disappears when the
caller hangs up; the other person's stream never carries it."""

from __future__ import annotations

import asyncio
import os

import orjson

from router.asterisk.callsim import call
from router.asterisk.pbxsim import Attempt, SimulatedPBX
from router.web.people import PEOPLE_KEY
from tests.helpers import MONDAY_10, RULES_TEXT, Clock, SignedIn, add_user, ami_target, compiled, sign_in_on_page, until

CARD_BOUND_MS = 300


async def read_events(port: int, me: SignedIn, into: list[dict], connected: asyncio.Event) -> None:
    """Another person's own stream, read as their page would."""
    async with me.session.get(f"http://127.0.0.1:{port}/api/me/stream") as resp:
        assert resp.status == 200
        connected.set()
        async for line in resp.content:
            if line.startswith(b"data: "):
                into.append(orjson.loads(line[6:]))


async def test_the_ringing_phones_person_sees_the_card_and_nobody_else_does(serve, store, browser, ami, tmp_path):
    from selenium.webdriver.common.by import By

    await store.put_customers([("+79035550101", {"abc": "A", "manager": "ivanov", "name": "Ольга <b>Петровна</b>"})])
    await add_user(store, "ivanov", "agent")
    await add_user(store, "petrova", "agent")
    clock = Clock(MONDAY_10)
    r = await serve(compiled(RULES_TEXT), clock, ami=ami_target(ami))
    await asyncio.wait_for(r.ami.synced.wait(), 10)
    other = await SignedIn.login(r.http_port, "petrova")
    theirs: list[dict] = []
    connected = asyncio.Event()
    reader = asyncio.create_task(read_events(r.http_port, other, theirs, connected))
    try:
        await asyncio.wait_for(connected.wait(), 5)
        await sign_in_on_page(browser, r.http_port, "ivanov")
        await until(browser, lambda d: d.find_element(By.ID, "status").text == "live")

        decision = (await call(r.agi.port, "+79035550101", "OLGA")).variables["ROUTE_DECISION"]
        pbx = SimulatedPBX(ami, speed=1.0)
        ringing = asyncio.create_task(pbx.inbound("+79035550101", decision,
                                                  [Attempt("dial", "PJSIP/101", "answer", ring=1.5, talk=1.0)]))
        card = await until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#cards .card"))
        text = await asyncio.to_thread(lambda: card[0].text)
        assert "Ольга <b>Петровна</b>" in text, "the name as text, never markup"
        for seen in ("+79035550101", "class A", "manager ivanov", "local time", "A customers reach their manager",
                     "ringing"):
            assert seen in text, (seen, text)
        shot = os.environ.get("CARD_SCREENSHOT") or str(tmp_path / "card.png")
        assert await asyncio.to_thread(browser.save_screenshot, shot)
        await until(browser, lambda d: "answered by you" in d.find_element(By.CSS_SELECTOR, "#cards .card").text)
        await ringing
        built = r.http.app[PEOPLE_KEY].desk.built_ms
        assert len(built) == 1 and built[0] < CARD_BOUND_MS, f"the card took {built[0]:.0f} ms from the ring"

        second = (await call(r.agi.port, "+79035550101", "OLGA", uid=2)).variables["ROUTE_DECISION"]
        hung_up = asyncio.create_task(pbx.inbound("+79035550101", second,
                                                  [Attempt("dial", "PJSIP/101", "hangup", ring=1.0)]))
        await until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cards .card")) == 2)
        await hung_up
        await until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cards .card")) == 1)
        assert not [e for e in theirs if e.get("type") == "card"], "petrova's page never gets ivanov's card"
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await other.close()
