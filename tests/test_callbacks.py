"""Click-to-call: the allow-list and rate limits first, one claim per customer across routers, agent first over
AMI (the simulator answers Originate as manager.c does), each attempt and its result on the task."""

from __future__ import annotations

import asyncio
import subprocess

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from router.asterisk import variables as V
from router.asterisk.amiconnection import AMITarget
from router.asterisk.amisim import AMIServer
from router.asterisk.originate import Originator, originate_action
from router.core.callbacks import CallbackSettings, refusal
from router.core.decide import CompiledRules
from router.core.outcome import Outcome
from router.core.rulefile import RuleFileError, load_rules, load_rules_text
from router.followups.callbacks import Callbacks
from router.followups.followup import Followups
from router.reports.reader import report
from router.reports.report import text
from router.service import Router
from tests.helpers import (
    MONDAY,
    MONDAY_10,
    ROUTER_CMD,
    RULES_DIR,
    RULES_TEXT,
    SIM_SECRET,
    Clock,
    answered,
    dial_target,
    http_post,
    missed,
    router_env,
)

NUMBER = "+79161234500"
CALLBACK_RULES = RULES_TEXT + """
callbacks:
  caller_id: "+74951234567"
  max_at_once: 2
  per_minute: 3
"""


def rules(text: str = CALLBACK_RULES) -> CompiledRules:
    return CompiledRules(load_rules_text(text))


async def open_task(store, r: CompiledRules, clock: Clock, number: str = NUMBER) -> str:
    f = Followups(store, lambda: r, clock=clock)
    task_id = await f.missed(missed(number), clock())
    await f.outbox.close()
    return task_id


# which numbers may be dialled: pure

@pytest.mark.parametrize(("number", "pattern"), [
    ("+78091234567", "callbacks.deny 'premium'"),
    ("+19005551234", "callbacks.deny 'premium'"),
    ("+441234567890", "callbacks.allow ['+7']"),
    ("+7916&PJSIP/evil", "E.164 digits"),
    ("+7916123450,,t", "E.164 digits"),
])
def test_a_refused_number_names_the_pattern_that_refused_it(number, pattern):
    found = refusal(number, CallbackSettings(), "RU")
    assert found is not None and found.pattern == pattern and pattern in str(found)


def test_the_companys_own_country_is_allowed_by_default_and_a_denied_range_wins():
    assert refusal("+79161234500", CallbackSettings(), "RU") is None
    assert refusal("+4930123456", CallbackSettings(), "DE") is None
    settings = CallbackSettings(allow=["+7", "+375"], deny=["premium", "+7916"])
    assert str(refusal("+79161234500", settings, "RU")).endswith("refused by callbacks.deny '+7916': the rule file "
                                                                   "refuses this range")
    assert refusal("+375291234567", settings, "RU") is None


def test_a_bad_pattern_in_the_rule_file_is_an_error_that_says_what_to_write():
    with pytest.raises(ValueError, match=r"write an E\.164 prefix like"):
        CallbackSettings(allow=["7*"])


def test_the_originate_passes_the_number_as_a_variable_and_refuses_anything_not_plain():
    action = originate_action("cb-1", "PJSIP/101", "callrouter-callback", NUMBER, "fu-1", "+74951234567", 30)
    assert action["Channel"] == "PJSIP/101" and action["Exten"] == "s" and action["Timeout"] == "30000"
    assert action["Variable"] == ["CALLROUTER_CALLBACK_NUMBER=+79161234500", "CALLROUTER_CALLBACK_TASK=fu-1",
                                  "CALLROUTER_CALLBACK_CALLERID=+74951234567"]
    for device, number in (("PJSIP/101&PJSIP/102", NUMBER), ("PJSIP/101", NUMBER + ",1")):
        with pytest.raises(ValueError):
            originate_action("cb-1", device, "callrouter-callback", number, "fu-1", "", 30)


# the claim in the store: one customer at a time, the limits across routers, a closed task never dialled

async def test_one_customer_is_never_claimed_by_two_agents_at_once(store):
    r, clock = rules(), Clock(MONDAY_10)
    task_id = await open_task(store, r, clock)
    first = await store.claim_callback(task_id, NUMBER, "PJSIP/101", "a", clock(), 600, 40, 4, 10, "by ivanov")
    second = await store.claim_callback(task_id, NUMBER, "PJSIP/102", "b", clock(), 600, 40, 4, 10, "by petrova")
    assert (first, second) == (("ok", 1), ("busy", 0))
    await store.release_callback(NUMBER)
    assert await store.claim_callback(task_id, NUMBER, "PJSIP/102", "c", clock(), 600, 40, 4, 10, "") == ("ok", 2)


async def test_a_task_closed_meanwhile_is_never_claimed(store):
    r, clock = rules(), Clock(MONDAY_10)
    task_id = await open_task(store, r, clock)
    await store.close_task(task_id, clock(), "closed by hand")
    assert await store.claim_callback(task_id, NUMBER, "PJSIP/101", "a", clock(), 600, 40, 4, 10, "") == ("closed", 0)


async def test_the_limits_count_every_routers_callbacks(store):
    r, clock = rules(), Clock(MONDAY_10)
    tasks = [await open_task(store, r, clock, f"+7916123450{i}") for i in range(4)]
    claims = [await store.claim_callback(t, f"+7916123450{i}", f"PJSIP/10{i}", "x", clock(), 600, 40, 2, 10, "")
              for i, t in enumerate(tasks)]
    assert [c for c, _ in claims] == ["ok", "ok", "at_once", "at_once"]
    await store.release_callback("+79161234500")
    await store.release_callback("+79161234501")
    clock.advance(1)
    more = [await store.claim_callback(t, f"+7916123450{i}", f"PJSIP/11{i}", "y", clock(), 600, 40, 10, 3, "")
            for i, t in enumerate(tasks)]
    assert [c for c, _ in more] == ["ok", "per_minute", "per_minute", "per_minute"]  # the 3rd this minute, then none
    clock.advance(60)
    assert (await store.claim_callback(tasks[1], "+79161234501", "PJSIP/111", "z", clock(), 600, 40, 10, 3, ""))[0] \
        == "ok"


# click-to-call over AMI (the simulator answers Originate as manager.c does)

@pytest.fixture
async def clicking(store, ami: AMIServer):
    r, clock = rules(), Clock(MONDAY_10)
    callbacks = Callbacks(store, lambda: r, clock)
    originator = Originator(dial_target(ami))
    originator.start()
    callbacks.originate = originator.originate
    yield callbacks, r, clock
    originator.close()


async def test_click_to_call_rings_the_agent_first_then_writes_the_result_on_the_task(clicking, store, ami):
    callbacks, r, clock = clicking
    task_id = await open_task(store, r, clock)
    result = await callbacks.call(task_id, "PJSIP/101", "ivanov")
    assert result.status == "dialling" and result.attempt == 1
    assert (await result.done).answered
    [sent] = [a for a in ami.actions if a.get("Action") == "Originate"]
    assert (sent["Channel"], sent["Context"], sent["Exten"], sent["Async"]) == ("PJSIP/101", "callrouter-callback",
                                                                                "s", "true")
    assert ami.variables == [["CALLROUTER_CALLBACK_NUMBER=+79161234500", f"CALLROUTER_CALLBACK_TASK={task_id}",
                              "CALLROUTER_CALLBACK_CALLERID=+74951234567"]]
    task = await store.task(task_id)
    log = [c["text"] for c in task["log"]]
    assert task["callback_attempts"] == "1"
    assert "callback by ivanov: ringing PJSIP/101, then +79161234500 (attempt 1)" in log
    assert log[-1] == "agent's phone PJSIP/101 answered: dialling +79161234500"
    assert await store.dialling(NUMBER)  # until the call's outcome ends it


async def test_an_answered_callback_closes_the_task_and_frees_the_customer(clicking, store):
    callbacks, r, clock = clicking
    router = Router(r, store, clock=clock)
    task_id = await open_task(store, r, clock)
    await (await callbacks.call(task_id, "PJSIP/101", "ivanov")).done
    await router.on_outcome(answered(NUMBER))
    task = await store.task(task_id)
    assert task["state"] == "closed" and "callback answered by the customer" in task["closed_reason"]
    assert not await store.dialling(NUMBER)
    await router.followups.outbox.close()


async def test_an_agent_who_does_not_answer_leaves_the_customer_undialled_and_free(clicking, store, ami):
    callbacks, r, clock = clicking
    ami.originate_results["PJSIP/101"] = "3"
    task_id = await open_task(store, r, clock)
    result = await callbacks.call(task_id, "PJSIP/101", "ivanov")
    assert not (await result.done).answered
    assert (await store.task(task_id))["log"][-1]["text"] == "callback not made: agent's phone PJSIP/101 did not answer"
    assert not await store.dialling(NUMBER) and callbacks.counts["agent_missed"] == 1


async def test_a_premium_number_is_refused_before_asterisk_hears_of_it(clicking, store, ami, caplog):
    callbacks, r, clock = clicking
    task_id = await open_task(store, r, clock, "+78091234567")
    result = await callbacks.call(task_id, "PJSIP/101", "ivanov")
    assert result.status == "refused" and "callbacks.deny 'premium'" in result.message
    assert not [a for a in ami.actions if a.get("Action") == "Originate"]
    assert "refused by callbacks.deny 'premium'" in (await store.task(task_id))["log"][-1]["text"]
    assert "not dialled: '+78091234567' refused by callbacks.deny 'premium'" in caplog.text
    assert callbacks.counts["refused:callbacks.deny 'premium'"] == 1


async def test_the_listeners_ami_user_cannot_originate(store, ami):
    """The shipped listener user has `write = reporting`: an Originate on it is refused (the callbacks use their
    own user); the refusal is written on the task."""
    ami.write = frozenset({"reporting"})
    r, clock = rules(), Clock(MONDAY_10)
    callbacks = Callbacks(store, lambda: r, clock)
    originator = Originator(AMITarget("127.0.0.1", ami.port, "callrouter", SIM_SECRET))
    originator.start()
    callbacks.originate = originator.originate
    task_id = await open_task(store, r, clock)
    result = await callbacks.call(task_id, "PJSIP/101", "ivanov")
    outcome = await result.done
    originator.close()
    assert not outcome.answered and "Permission denied" in outcome.text
    assert not await store.dialling(NUMBER)


# the API and /metrics

async def test_post_call_rings_the_named_persons_phone_and_counts_refusals_in_metrics(serve, store, ami):
    r, clock = rules(), Clock(MONDAY_10)
    running = await serve(r, clock, originate=dial_target(ami))
    good = await open_task(store, r, clock)
    premium = await open_task(store, r, clock, "+78031234567")
    status, body = await http_post(running.http_port, f"/api/followups/{good}/call", json={"by": "ivanov"})
    assert status == 202 and body["status"] == "dialling" and "ringing PJSIP/101" in body["message"]
    status, body = await http_post(running.http_port, f"/api/followups/{premium}/call", json={"by": "ivanov"})
    assert status == 422 and "callbacks.deny 'premium'" in body["message"]
    status, body = await http_post(running.http_port, f"/api/followups/{good}/call", json={"by": "petrova"})
    assert status == 409 and body["status"] == "busy"
    await running.router.callbacks.wait()
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{running.http_port}/metrics") as resp:
        text = await resp.text()
    refused = {tuple(sorted(x.labels.items())): x.value for f in text_string_to_metric_families(text)
               if f.name == "callrouter_callbacks_refused" for x in f.samples}
    assert refused == {(("pattern", "callbacks.deny 'premium'"),): 1.0}


async def test_the_report_counts_callbacks_attempted_and_reached_per_owner(clicking, store):
    callbacks, r, clock = clicking
    router = Router(r, store, clock=clock)
    await store.put_customers([(NUMBER, {"manager": "ivanov"}), ("+79161234501", {"manager": "petrova"})])
    reached = await open_task(store, r, clock)
    unanswered = await open_task(store, r, clock, "+79161234501")
    await (await callbacks.call(reached, "PJSIP/101", "ivanov")).done
    await (await callbacks.call(unanswered, "PJSIP/102", "petrova")).done
    await router.on_outcome(answered(NUMBER))
    await router.on_outcome(Outcome("3.3", "outbound", "+79161234501", "missed", ended_at=MONDAY_10))
    built = await report(store, r, [MONDAY], clock())
    cb = built["callbacks"]
    assert (cb["requested"], cb["attempted"], cb["reached"]) == (0, 2, 1)
    people = {p["who"]: p for p in built["staff"]}
    assert (people["ivanov"]["callbacks_attempted"], people["ivanov"]["callbacks_reached"]) == (1, 1)
    assert (people["petrova"]["callbacks_attempted"], people["petrova"]["callbacks_reached"]) == (1, 0)
    assert "Callbacks the router dialled: 0 requested (pressed 1 in a queue), 2 attempted, 1 reached" in text(built)
    await router.followups.outbox.close()


def test_router_check_names_the_line_of_a_bad_pattern_and_a_misspelt_queue(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text(RULES_TEXT + "callbacks:\n  allow: ['+7', '8*']\n")
    with pytest.raises(RuleFileError) as refused:
        load_rules(bad)
    assert f"{bad}:" in str(refused.value) and "number pattern '8*': write an E.164 prefix" in str(refused.value)
    bad.write_text(RULES_TEXT + "callbacks:\n  hold:\n    suport: {after: 2m}\n")
    with pytest.raises(RuleFileError) as misspelt:
        load_rules(bad)
    assert "callbacks.hold.suport: no target routes to queue 'suport' (did you mean 'support'?" in str(misspelt.value)


# `router callback ID`

async def run_router(*args: str, **env: str) -> subprocess.CompletedProcess:
    """The command in a process of its own, while this loop keeps serving the AMI simulator."""
    return await asyncio.to_thread(subprocess.run, [*ROUTER_CMD, *args], capture_output=True, text=True, timeout=60,
                                   env=router_env(**env))


async def test_router_callback_rings_the_agent_and_says_what_his_phone_did(store, ami, redis_url, prefix, tmp_path):
    r, clock = rules(), Clock(MONDAY_10)
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(CALLBACK_RULES)
    good = await open_task(store, r, clock)
    premium = await open_task(store, r, clock, "+78091234567")
    target = dial_target(ami)
    common = ("--agent", "ivanov", "--rules", str(rules_file), "--store", redis_url, "--prefix", prefix,
              "--ami-originate", f"ami://callrouter-dial@127.0.0.1:{target.port}")
    done = await run_router("callback", good, *common, ROUTER_AMI_ORIGINATE_SECRET=target.secret)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"{good}: ringing PJSIP/101; when answered, +79161234500 is dialled; agent's "
                                   "phone PJSIP/101 answered")
    refused = await run_router("callback", premium, *common, ROUTER_AMI_ORIGINATE_SECRET=target.secret)
    assert refused.returncode == 3 and "refused by callbacks.deny 'premium'" in refused.stderr
    assert [a["Channel"] for a in ami.actions if a.get("Action") == "Originate"] == ["PJSIP/101"]


def test_the_shipped_dialplans_read_what_the_router_sets_by_the_names_it_uses():
    callback = (RULES_DIR.parent / "dialplans" / "callrouter-callback.conf").read_text()
    for name in (V.CALLBACK_NUMBER, V.CALLBACK_TASK, V.CALLBACK_CALLER_ID, V.CALLBACK_TRUNK, V.CALLBACK_RING):
        assert "${" + name + "}" in callback, name
    assert "[callrouter-callback]" in callback and CallbackSettings().context == "callrouter-callback"
    hold = (RULES_DIR.parent / "dialplans" / "callrouter-hold.conf").read_text()
    assert f"{V.HOLD_QUEUE_ARG}=${{QUEUENAME}},{V.HOLD_HOLDTIME_ARG}=${{QUEUEHOLDTIME}}" in hold
    assert f'"${{{V.HOLD}}}" = "{V.HOLD_KEPT}"' in hold and f"Result: {V.HOLD_KEPT}," in hold
