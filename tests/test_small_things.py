"""Rough edges a new admin meets: hints for misspelt keys and names, a reload reply that always names
the path, `router demo --help` that says what each flag does."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import MONDAY_10, ROUTER_CMD, RULES_TEXT, Clock, http_post, problems, router_env

BASE = """version: 1
company: {timezone: Europe/Moscow}
targets:
  support: {queue: support, timeout: 120}
managers:
  ivanov: {endpoint: PJSIP/101, up: support}
rules:
  - name: everyone
    route: [support]
fallback: [support]
"""


@pytest.mark.parametrize(("typo", "line", "says"), [
    ("  support: {queue: support, timeout: 120}", "  support: {queue: support, timout: 120}",
     "r.yaml:4: targets.support.timout: unknown key 'timout': did you mean 'timeout'?"),
    ("    route: [support]", "    route: [support]\n    escalte: up",
     "r.yaml:10: rules[0].escalte: unknown key 'escalte': did you mean 'escalate'?"),
    ("    route: [support]", "    route: [support]\n    when: {has_manger: true}",
     "r.yaml:10: rules[0].when.has_manger: unknown key 'has_manger': did you mean 'has_manager'?"),
    ("fallback: [support]", "fallback: [support]\nfolowup: {deadline: 30m}",
     "r.yaml:11: folowup: unknown key 'folowup': did you mean 'followup'?"),
])
def test_a_misspelt_key_gets_did_you_mean(typo, line, says):
    assert problems(BASE.replace(typo, line)) == [says]


def test_a_key_like_nothing_known_still_says_where_to_look():
    (p,) = problems(BASE.replace("fallback: [support]", "fallback: [support]\nzzzzzz: 1"))
    assert p == "r.yaml:11: zzzzzz: unknown key (check the spelling; see rules/default.yaml for every key)"


def test_an_unknown_target_names_the_known_ones_and_the_closest():
    (p,) = problems(BASE.replace("route: [support]", "route: [suport]"))
    assert p == ("r.yaml:9: rules[0].route[0]: rule 'everyone': unknown target or manager 'suport' "
                 "(did you mean 'support'? known: ivanov, support)")
    (p,) = problems(BASE.replace("up: support", "up: nowhere"))
    assert p == "r.yaml:6: managers.ivanov.up: unknown target 'nowhere' (known: support)"


async def test_the_reload_reply_names_the_path_the_same_way_each_time(serve, tmp_path):
    from router.core.decide import CompiledRules
    from router.core.rulefile import load_rules

    f = tmp_path / "rules.yaml"
    f.write_text(RULES_TEXT)
    r = await serve(CompiledRules(load_rules(f), str(f)), Clock(MONDAY_10), rules_path=f)
    ok_status, ok = await http_post(r.http_port, "/api/rules/reload")
    f.write_text("version: 1\nrules: [\n")
    bad_status, bad = await http_post(r.http_port, "/api/rules/reload")
    assert (ok_status, bad_status) == (200, 422)
    assert ok["path"] == bad["path"] == str(f)


@pytest.mark.slow
def test_demo_help_describes_every_flag():
    res = subprocess.run([*ROUTER_CMD, "demo", "--help"], capture_output=True, text=True, timeout=60,
                         env=router_env())
    assert res.returncode == 0
    text = res.stdout
    assert "Run the real router on an in-process store" in text
    for flag in ("--calls", "--agi", "--http", "--interval", "--speed"):
        assert flag in text
    options = text.split("options:", 1)[1]
    described = [line for line in options.splitlines() if line.strip().startswith("--")]
    assert described and all(len(line.split(None, 2)) == 3 or "  " in line.strip() for line in described)
