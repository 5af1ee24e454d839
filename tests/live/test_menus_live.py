"""Callers in the rule file's menus on a real Asterisk: the dialplan `router ivr dialplan` wrote, prompts spoken by
espeak-ng, keys sent as DTMF by the caller's side of a Local channel (SendDTMF), and the real router asked again.

Each call is counted in FastAGI sessions (the dialplan's AGI priorities on the caller's channel) and AGI commands
(Asterisk's AGIExecEnd events): the first ask and every ask after a key are one of each."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from tests.helpers import ROUTER_CMD, router_env
from tests.live.stack import HERE, needs_asterisk

pytestmark = needs_asterisk
MENU_LINE, PLAIN_LINE = "2020", "2021"
CONTRACT = "80808082"
"""The contract number of +79035550808, an A customer of ivanov's (tests/live/customers.csv)."""


@pytest.fixture
def prompts(live):
    if live.asterisk.no_prompts:
        pytest.skip(live.asterisk.no_prompts)


async def decisions_of(live, number: str, n: int) -> list[dict]:
    """The router's first `n` decisions for calls from `number` (by the phone that called), oldest first."""
    async with aiohttp.ClientSession() as http, asyncio.timeout(15):
        while True:
            async with http.get(f"http://127.0.0.1:{live.http_port}/api/decisions?limit=300") as r:
                found = [d for d in await r.json() if number in (d["caller"].get("phone"), d["caller"]["number"])]
            if len(found) >= n:
                return found[::-1][:n]
            await asyncio.sleep(0.1)


def caller_channel(ami, number: str) -> str:
    """The caller's leg of a call from `number`: the ;2 half of the Local channel that runs the dialplan."""
    return next(e["Channel"] for e in ami.events if e.get("Event") == "Newexten" and e.get("CallerIDNum") == number
                and e.get("Channel", "").endswith(";2"))


def agi_on(ami, channel: str) -> tuple[int, int]:
    """(FastAGI sessions, AGI commands) the call's channel ran."""
    sessions = sum(1 for e in ami.events if e.get("Event") == "Newexten" and e.get("Channel") == channel
                   and e.get("Application") == "AGI")
    commands = sum(1 for e in ami.events if e.get("Event") == "AGIExecEnd" and e.get("Channel") == channel)
    return sessions, commands


def router(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ROUTER_CMD, *args], capture_output=True, text=True, env=router_env(), timeout=60)


def test_the_menus_load_a_new_menu_comes_with_dialplan_reload_and_check_finds_every_prompt(live, prompts, tmp_path):
    shown = live.asterisk.cli("dialplan show callrouter-menu-live_main")
    assert "'3' =>" in shown and "'t' =>" in shown and "'i' =>" in shown
    assert "'s' =>" in live.asterisk.cli("dialplan show callrouter-menu-main"), "the shipped rules' menus load too"
    generated = live.asterisk.run / "etc" / "callrouter" / "live-ivr.conf"
    as_shipped = generated.read_text()
    rules = tmp_path / "rules.yaml"
    rules.write_text((HERE / "rules.yaml").read_text() + "  live_extra:\n    prompts: [callrouter-live/menu]\n"
                     "    options: {'1': hangup}\n")
    try:
        assert router("ivr", "dialplan", str(rules), "-o", str(generated)).returncode == 0
        live.asterisk.cli("dialplan reload")
        assert "'1' =>" in live.asterisk.cli("dialplan show callrouter-menu-live_extra")
    finally:
        generated.write_text(as_shipped)
        live.asterisk.cli("dialplan reload")
    assert "There is no existence of" in live.asterisk.cli("dialplan show callrouter-menu-live_extra")
    checked = router("check", str(HERE / "rules.yaml"), "--sounds", str(live.asterisk.sounds))
    assert checked.returncode == 0 and "2 menus" in checked.stdout, checked.stdout + checked.stderr


async def test_key_3_reaches_the_new_connection_queue_first_in_line_typed_new_connection(live, ami, outcomes,
                                                                                          prompts):
    await ami.call(PLAIN_LINE, "+79030003001")
    await ami.wait_for(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") == "+79030003001")
    await ami.call_pressing(MENU_LINE, "+79030003002", "3", delay=0.5)
    joined = await ami.wait_for(lambda e: e.get("Event") == "QueueCallerJoin" and
                                e.get("CallerIDNum") == "+79030003002", timeout=30)
    assert (joined["Queue"], joined["Position"]) == ("new-connection", "1"), "first in line, before the plain caller"
    first, chosen = await decisions_of(live, "+79030003002", 2)
    assert (first["rule"], first["steps"][0]["dest"]) == ("the menu line", "callrouter-menu-live_main")
    assert (chosen["rule"], chosen["type"], chosen["prospect"], chosen["priority"]) == \
        ("new connection chosen in the menu", "new_connection", True, 10)
    assert chosen["caller"]["kind"] == "new", "asked again in the same call, the caller is no repeat of himself"
    o = await outcomes("+79030003002", timeout=30)
    assert (o["decision"], o["type"], o["menus"]) == (chosen["id"], "new_connection", [["live_main", "3"]])
    assert agi_on(ami, caller_channel(ami, "+79030003002")) == (2, 2), "the first ask and the key: one AGI each"


async def test_a_caller_who_presses_nothing_reaches_the_operator_after_the_last_timeout(live, ami, outcomes,
                                                                                         prompts):
    await ami.call_pressing(MENU_LINE, "+79030003003", "")
    o = await outcomes("+79030003003", timeout=40)
    assert (o["result"], o["by"], o["menus"]) == ("answered", "Local/ok1@live-agents", [["live_main", "timeout"]])
    _, operator = await decisions_of(live, "+79030003003", 2)
    assert operator["rule"] == "menu live_main: timeout"
    channel = caller_channel(ami, "+79030003003")
    prompts_played = [e for e in ami.events if e.get("Event") == "Newexten" and e.get("Channel") == channel
                      and e.get("Application", "").lower() == "background"]
    assert len(prompts_played) == 2, "the prompts once per try"
    assert agi_on(ami, channel) == (2, 2)


async def test_wrong_keys_hear_the_invalid_prompt_then_go_where_the_menu_says(live, ami, outcomes, prompts):
    await ami.call_pressing(MENU_LINE, "+79030003004", "7wwwwwwww7", delay=0.5)
    o = await outcomes("+79030003004", timeout=40)
    assert (o["result"], o["queue"], o["menus"]) == ("answered", "support", [["live_main", "invalid"]])
    channel = caller_channel(ami, "+79030003004")
    played = [e.get("AppData") for e in ami.events if e.get("Event") == "Newexten" and e.get("Channel") == channel
              and e.get("Application") == "Playback"]
    assert played == ["callrouter-live/invalid", "callrouter-live/invalid"]
    assert (await decisions_of(live, "+79030003004", 2))[1]["rule"] == "menu live_main: invalid"


async def test_a_contract_number_identifies_an_a_customer_who_reaches_his_manager(live, ami, outcomes, prompts):
    phone = "+79030003005"  # not the customer's own phone
    await ami.call_pressing(MENU_LINE, phone, f"5ww{CONTRACT}", delay=0.5)
    o = await outcomes(phone, timeout=40)
    assert (o["result"], o["by"]) == ("answered", "Local/ok4@live-agents"), "ivanov's phone"
    assert o["menus"] == [["live_main", "5"], ["live_contract", "input"]]
    first, identified = await decisions_of(live, phone, 2)
    assert first["caller"]["number"] == phone and first["caller"]["kind"] == "new"
    assert identified["rule"] == "A customers reach their manager"
    assert (identified["caller"]["number"], identified["caller"]["manager"], identified["caller"]["abc"]) == \
        ("+79035550808", "ivanov", "A")
    assert f"identified by contract {CONTRACT}: +79035550808, abc A, manager ivanov" in identified["reasons"]
    assert "rule 'the menu line' passed over: it sends callers to a menu, and this one has just left menu " \
           "live_contract" in identified["reasons"]
    assert agi_on(ami, caller_channel(ami, phone)) == (2, 2)


async def test_numbers_nobody_has_are_tried_again_then_the_operator(live, ami, outcomes, prompts):
    phone = "+79030003006"
    await ami.call_pressing(MENU_LINE, phone, "5ww12345678wwwwww79927398", delay=0.5)  # a bad check digit; nobody's
    o = await outcomes(phone, timeout=40)
    assert (o["result"], o["by"], o["menus"]) == ("answered", "Local/ok1@live-agents",
                                                  [["live_main", "5"], ["live_contract", "invalid"]])
    # the first ask, two numbers (each answered ROUTE_INPUT=wrong), the operator: one command each
    assert agi_on(ami, caller_channel(ami, phone)) == (4, 4)


async def test_a_caller_who_hangs_up_in_the_menu_is_counted_as_such_and_is_no_missed_call(live, ami, outcomes,
                                                                                          prompts):
    day = datetime.now(ZoneInfo("Europe/Moscow")).date().isoformat()
    before = (await outcomes.store.report_counters([day]))[0]
    await ami.call_pressing(MENU_LINE, "+79030003007", "", delay=0.5, hold=0.5)
    o = await outcomes("+79030003007", timeout=30)
    assert (o["result"], o["by"], o["menu_left"]) == ("answered", "ivr:callrouter-menu-live_main", "live_main")
    after = (await outcomes.store.report_counters([day]))[0]
    assert int(after.get("mn|live_main|left", 0)) == int(before.get("mn|live_main|left", 0)) + 1
    assert int(after.get("mn|live_main|in", 0)) == int(before.get("mn|live_main|in", 0)) + 1
    assert await outcomes.store.open_task_of("+79030003007") is None, "nobody was to answer: no follow-up"
