"""A queue or endpoint the rules name that the connected Asterisk does not have is said before calls fail."""

from __future__ import annotations

import asyncio
import logging

from router.asterisk.inventory import Inventory, named_endpoints, named_queues, unknown
from router.cli.main import main
from tests.helpers import RULES_DIR, Clock, ami_target, compiled, wait_for

RULES = """
version: 1
targets:
  support: {queue: support}
  sales: {queue: sales-desk}
  both: {dial: "PJSIP/201&PJSIP/202"}
managers:
  ivanov: {endpoint: PJSIP/101}
rules:
  - {name: everyone, route: [support]}
fallback: [support]
"""


def test_the_queues_and_endpoints_the_rules_name_are_found_where_they_are_named():
    rs = compiled(RULES).rs
    assert named_queues(rs) == {"support": "targets.support", "sales-desk": "targets.sales"}
    assert named_endpoints(rs) == {"101": "managers.ivanov", "201": "targets.both", "202": "targets.both"}


def test_what_asterisk_lacks_is_named_with_where_and_a_guess():
    rs = compiled(RULES).rs
    lines = unknown(rs, Inventory(frozenset({"support", "sales"}), frozenset({"101", "201", "220"})))
    assert len(lines) == 2
    assert lines[0].startswith("targets.sales: queue 'sales-desk' is not known to the connected Asterisk "
                               "(did you mean 'sales'?")
    assert lines[1].startswith("targets.both: PJSIP endpoint '202' is not known")
    assert unknown(rs, Inventory(None, None, ("queues not checked: …",))) == ["queues not checked: …"]


async def test_check_against_asterisk_names_a_missing_queue_and_exits_1(ami, capsys):
    ami.queues, ami.endpoints = ["support", "operators", "management", "retention"], None
    url = f"ami://{ami.username}:{ami.secret}@127.0.0.1:{ami.port}"
    assert await asyncio.to_thread(main, ["check", str(RULES_DIR / "default.yaml"), "--ami", url]) == 1
    out = capsys.readouterr().out
    assert "error: targets.new_connection: queue 'new-connection' is not known" in out
    assert "note: PJSIP endpoints not checked: Asterisk refused PJSIPShowEndpoints" in out
    ami.queues.append("new-connection")
    assert await asyncio.to_thread(main, ["check", str(RULES_DIR / "default.yaml"), "--ami", url]) == 0


async def test_check_against_asterisk_with_a_wrong_secret_says_so(ami, capsys):
    url = f"ami://{ami.username}:wrong@127.0.0.1:{ami.port}"
    assert await asyncio.to_thread(main, ["check", str(RULES_DIR / "default.yaml"), "--ami", url]) == 2
    assert "Asterisk refused the login of 'callrouter'" in capsys.readouterr().err


async def test_serve_warns_at_login_about_a_queue_asterisk_lacks(ami, serve, caplog):
    ami.queues = ["support"]
    caplog.set_level(logging.WARNING, "router.ami")
    r = await serve(compiled(RULES), Clock(1_795_400_000.0), ami=ami_target(ami))
    await wait_for(lambda: any("sales-desk" in rec.message for rec in caplog.records))
    [line] = [rec.message for rec in caplog.records if "sales-desk" in rec.message]
    assert "targets.sales: queue 'sales-desk' is not known to the connected Asterisk" in line
    assert r.ami.synced.is_set()
