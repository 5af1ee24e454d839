"""The shipped asterisk/ configs and dialplans/ load in a real Asterisk as an admin installs them."""

from __future__ import annotations

import re

from router.asterisk.amiconnection import EVENTS
from router.asterisk.mset import ANSWER_START
from tests.helpers import ROOT
from tests.live.stack import AMI_SECRET, AMIClient, needs_asterisk

pytestmark = needs_asterisk


def test_modules_the_router_needs_are_running(live):
    for module in ("res_agi.so", "app_queue.so", "pbx_config.so", "app_userevent.so", "func_cut.so",
                   "func_logic.so", "cdr_manager.so", "app_dial.so"):
        assert "Running" in live.asterisk.cli(f"module show like {module}"), module


def test_every_shipped_queue_is_loaded(live):
    shipped = re.findall(r"^\[([\w-]+)\]\(queue-defaults\)", (ROOT / "asterisk" / "queues.conf").read_text(), re.M)
    shown = live.asterisk.cli("queue show")
    assert shipped and all(re.search(rf"^{q} has \d+ calls", shown, re.M) for q in shipped), shown


def test_manager_user_reads_call_agent_agi_user_system_and_only_its_events(live):
    shown = live.asterisk.cli("manager show user callrouter")
    perms = re.search(r"read perm: (.*)", shown).group(1).split(",")
    assert sorted(p.strip() for p in perms) == ["agent", "agi", "call", "system", "user"]
    assert re.search(r"write perm: reporting\s*$", shown, re.M), "the listener's user cannot originate"


def test_the_callbacks_user_may_originate_and_nothing_else(live):
    shown = live.asterisk.cli("manager show user callrouter-dial")
    assert re.search(r"read perm: call\s*$", shown, re.M) and re.search(r"write perm: originate\s*$", shown, re.M)


async def test_the_router_user_is_sent_only_the_events_the_listener_reads(live, ami):
    as_router = AMIClient()
    await as_router.connect(live.asterisk.ami_port, "callrouter", AMI_SECRET)
    try:
        await ami.call("2002", "+79030000099")
        await as_router.wait_for(lambda e: e.get("Event") == "Hangup" and e.get("CallerIDNum") == "+79030000099"
                                 and e.get("Channel", "").endswith(";2"))
        names = {e["Event"] for e in as_router.events}
        devices = {e.get("Device", "") for e in as_router.events if e["Event"] == "DeviceStateChange"}
        commands = [e.get("Command", "") for e in as_router.events if e["Event"] == "AGIExecEnd"]
    finally:
        await as_router.close()
    assert {"Newchannel", "DialBegin", "DialEnd", "AGIExecEnd", "Hangup"} <= names <= EVENTS, names
    assert not any(d.startswith("Local/") for d in devices), devices
    assert commands and all(c.startswith(ANSWER_START) for c in commands), "only the router's answer, no other AGI"
    assert "Traceback" not in live.router_log()


async def test_no_variable_set_on_a_channel_becomes_an_event(live, ami):
    """asterisk/stasis.conf declines VarSet: not built, not sent, even to a user that reads every class."""
    assert "ast_channel_varset_type" in (ROOT / "asterisk" / "stasis.conf").read_text()
    await ami.call("2002", "+79030000098")
    await ami.wait_for(lambda e: e.get("Event") == "Hangup" and e.get("CallerIDNum") == "+79030000098"
                       and e.get("Channel", "").endswith(";2"))
    names = {e["Event"] for e in ami.events}
    assert "Newexten" in names and "VarSet" not in names, names
    assert "Traceback" not in live.router_log()


def test_dialplan_loads_without_errors(live):
    contexts = live.asterisk.cli("dialplan show callrouter-inbound") + live.asterisk.cli(
        "dialplan show callrouter-step")
    assert "_[0-9A-Za-z+]." in contexts and "'s' =>" in contexts and "'failed' =>" in contexts
    problems = [line for line in live.asterisk.messages().splitlines()
                if re.search(r"(WARNING|ERROR)\[\d+\] (pbx_config|config|pbx|manager|app_queue)\.c", line)]
    assert problems == [], "\n".join(problems)
