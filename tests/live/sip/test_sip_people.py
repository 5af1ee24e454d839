"""People on real SIP phones: the phone of the customer's manager rings, and his page (signed in on the real
router) gets the caller's card while the other manager's page gets nothing; the phone is shown the whisper
in the INVITE's From; answering turns the card into "answered by you"."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from tests.helpers import SignedIn, add_user
from tests.live.sip.phones import answers
from tests.live.sip.stack import SIP_TEST

pytestmark = SIP_TEST


async def listen(me: SignedIn, into: list[dict], ready: asyncio.Event) -> None:
    async with me.session.get(f"http://127.0.0.1:{me.port}/api/me/stream",
                              timeout=aiohttp.ClientTimeout(total=None)) as resp:
        assert resp.status == 200
        ready.set()
        async for line in resp.content:
            if line.startswith(b"data: "):
                into.append(orjson.loads(line[6:]))


async def test_the_ringing_phones_person_sees_the_card_and_the_other_does_not(sip):
    await add_user(sip.store, "petrov", "agent")
    await add_user(sip.store, "sidorova", "agent")
    port = sip.stack.http_port
    petrov, sidorova = await SignedIn.login(port, "petrov"), await SignedIn.login(port, "sidorova")
    pages: dict[str, list[dict]] = {"petrov": [], "sidorova": []}
    readers = []
    try:
        for me, page in ((petrov, pages["petrov"]), (sidorova, pages["sidorova"])):
            ready = asyncio.Event()
            readers.append(asyncio.create_task(listen(me, page, ready)))
            await asyncio.wait_for(ready.wait(), 10)
        phone = await sip.phone("121", answers(after=1.5, talk=1))
        await sip.phone("131", answers())
        call = await sip.trunk_call("3020", "+79035551001", name="Client")
        result = await call.result()
        assert result.code == 200, result.messages
        async with asyncio.timeout(30):
            while not any(e.get("state") == "answered" for e in pages["petrov"]):
                await asyncio.sleep(0.05)
        ringing = next(e for e in pages["petrov"] if e.get("type") == "card" and e["state"] == "ringing")
        card = ringing["card"]
        assert (card["number"], card["name"], card["abc"], card["manager"]) == \
            ("+79035551001", "Petrov's client", "A", "petrov")
        assert card["device"] == "PJSIP/121" and "rule: the caller's card" in card["reasons"]
        assert pages["sidorova"] == [], "the other manager's page is told nothing"
        [invite] = phone.invites()
        assert invite.header("From").startswith('"[A] Petrov\'s client"'), invite.header("From")
    finally:
        for t in readers:
            t.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await petrov.close()
        await sidorova.close()
