"""Two agents and a head at work, end to end through the real router: sign-in, the AMI stream (the simulator),
the SMTP server (aiosmtpd). A call ringing agent A's phone pops the card on A's page and not on B's; A's
missed call becomes a task A is e-mailed about; the head reassigns it to B, who sees it first in his work;
the task's history names the real person at every step."""

from __future__ import annotations

import asyncio

import orjson

from router.asterisk.callsim import call
from router.asterisk.pbxsim import Attempt, SimulatedPBX
from router.core.outcome import Outcome
from router.web.people import PEOPLE_KEY
from tests.helpers import MONDAY_10, RULES_TEXT, Clock, SignedIn, add_user, ami_target, compiled, wait_for

RULES = RULES_TEXT + """
people:
  notices:
    email: {host: 127.0.0.1, port: MAIL_PORT, from: callrouter@example.com}
"""


async def listen(me: SignedIn, into: list[dict], ready: asyncio.Event) -> None:
    async with me.session.get(f"http://127.0.0.1:{me.port}/api/me/stream") as resp:
        ready.set()
        async for line in resp.content:
            if line.startswith(b"data: "):
                into.append(orjson.loads(line[6:]))


async def test_two_agents_and_a_head(serve, store, ami, mail):
    await store.put_customers([("+79035550101", {"abc": "A", "manager": "ivanov", "name": "Olga"}),
                               ("+79035550199", {"abc": "C", "manager": "petrova", "name": "Late Co"})])
    await add_user(store, "ivanov", "agent", email="ivanov@example.com")
    await add_user(store, "petrova", "agent", email="petrova@example.com")
    await add_user(store, "head", "head", email="head@example.com")
    clock = Clock(MONDAY_10)
    r = await serve(compiled(RULES.replace("MAIL_PORT", str(mail.port))), clock, ami=ami_target(ami))
    await asyncio.wait_for(r.ami.synced.wait(), 10)
    a, b, head = [await SignedIn.login(r.http_port, n) for n in ("ivanov", "petrova", "head")]
    pages: dict[str, list[dict]] = {"ivanov": [], "petrova": []}
    readers = []
    try:
        for who, page in ((a, pages["ivanov"]), (b, pages["petrova"])):
            ready = asyncio.Event()
            readers.append(asyncio.create_task(listen(who, page, ready)))
            await asyncio.wait_for(ready.wait(), 5)
        # petrova has work of her own already: a C customer's missed call, due later
        await r.router.followups.on_outcome(Outcome("0.1", "inbound", "+79035550199", "missed", ring_seconds=5.0,
                                                    ended_at=MONDAY_10 - 60, reason="no answer"))
        await wait_for(lambda: len(mail.mails) == 1)

        decision = (await call(r.agi.port, "+79035550101", "OLGA")).variables["ROUTE_DECISION"]
        clock.advance(5)
        pbx = SimulatedPBX(ami, speed=4.0)
        await pbx.inbound("+79035550101", decision, [Attempt("dial", "PJSIP/101", "noanswer", ring=2.0)])
        await wait_for(lambda: any(e.get("type") == "card" and e.get("state") == "ended" for e in pages["ivanov"]))
        cards = [e for e in pages["ivanov"] if e.get("type") == "card"]
        assert cards[0]["state"] == "ringing" and cards[0]["card"]["name"] == "Olga"
        assert "rule: A customers reach their manager" in cards[0]["card"]["reasons"]
        assert not [e for e in pages["petrova"] if e.get("type") == "card"], "B's page never shows A's caller"

        await wait_for(lambda: any(m["To"] == "ivanov@example.com" for m in mail.mails), 15)
        [task] = [t for t in await r.router.followups.worklist("open") if t["number"] == "+79035550101"]
        assert task["owner"] == "ivanov"
        async with asyncio.timeout(10):  # the server takes the mail a moment before the outbox writes so
            while not any(line["text"].startswith("e-mail to ivanov: sent")
                          for line in (await store.task(task["id"]))["log"]):
                await asyncio.sleep(0.01)
        mail_to_a = next(m for m in mail.mails if m["To"] == "ivanov@example.com")
        assert task["id"] in mail_to_a["Subject"]
        status, mine = await a.get("/api/me/work")
        assert status == 200 and [t["id"] for t in mine["tasks"]] == [task["id"]]

        status, moved = await head.post(f"/api/followups/{task['id']}/assign", {"to": "petrova", "by": "ivanov"})
        assert (status, moved["by"], moved["previous"]) == (200, "head", "ivanov")
        await wait_for(lambda: any(e.get("type") == "work" and e.get("task") == task["id"] for e in pages["petrova"]))
        status, work = await b.get("/api/me/work")
        assert [t["number"] for t in work["tasks"]] == ["+79035550101", "+79035550199"], "first in B's work"
        assert (await a.get("/api/me/work"))[1]["tasks"] == []
        assert (await a.post(f"/api/followups/{task['id']}/comment", {"text": "mine!"}))[0] == 403
        assert (await b.post(f"/api/followups/{task['id']}/comment", {"text": "calling her back now"}))[0] == 200
        assert (await b.post(f"/api/followups/{task['id']}/close", {"by": "ivanov"}))[0] == 200
        clock.advance(10 * 60)  # petrova was mailed about her own task at 10:00: the next waits its 10 minutes
        await r.http.app[PEOPLE_KEY].notices.sweep()
        await wait_for(lambda: any(m["To"] == "petrova@example.com" and task["id"] in m.get_content()
                                   for m in mail.mails), 15)

        history = [c["text"] for c in (await store.task(task["id"]))["log"]]
        assert history[0].startswith("missed call")
        expected = ["e-mail to ivanov: sent", "reassigned to petrova by head (was ivanov's)",
                    "petrova: calling her back now", "closed by hand by petrova"]
        positions = [next(i for i, t in enumerate(history) if t.startswith(e)) for e in expected]
        assert positions == sorted(positions), history
        assert not any("by ivanov" in t and "reassigned" not in t for t in history), "typed names are not taken"
    finally:
        for t in readers:
            t.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for who in (a, b, head):
            await who.close()


async def test_an_account_made_after_the_staff_was_read_gets_its_first_card(serve, store, ami):
    """Staff is read at most every few seconds; a person whose page opens is read at once, so an account made
    a moment ago (by `router users` on another host) is not missed by the very next ring."""
    await store.put_customers([("+79035550101", {"abc": "A", "manager": "ivanov", "name": "Olga"})])
    r = await serve(compiled(RULES_TEXT), Clock(MONDAY_10), ami=ami_target(ami))
    await asyncio.wait_for(r.ami.synced.wait(), 10)
    await r.http.app[PEOPLE_KEY].staff.view()  # read with nobody on staff: cached for seconds
    await add_user(store, "ivanov", "agent")
    a = await SignedIn.login(r.http_port, "ivanov")
    page: list[dict] = []
    ready = asyncio.Event()
    reader = asyncio.create_task(listen(a, page, ready))
    try:
        await asyncio.wait_for(ready.wait(), 5)
        decision = (await call(r.agi.port, "+79035550101", "OLGA")).variables["ROUTE_DECISION"]
        await SimulatedPBX(ami, speed=4.0).inbound("+79035550101", decision,
                                                   [Attempt("dial", "PJSIP/101", "noanswer", ring=1.0)])
        await wait_for(lambda: any(e.get("type") == "card" and e.get("state") == "ringing" for e in page))
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await a.close()
