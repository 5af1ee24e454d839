"""What ships for Asterisk admins: the dialplan, the Asterisk configs, the compose file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from router.asterisk import variables as V
from router.asterisk.mset import ANSWER_START
from tests.helpers import ROOT

DIALPLAN = (ROOT / "dialplans" / "callrouter.conf").read_text()


def asterisk_tree(tmp_path: Path) -> Path:
    """/etc/asterisk as the compose stack mounts it."""
    for f in (ROOT / "asterisk").glob("*.conf"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "callrouter").symlink_to(ROOT / "dialplans")
    return tmp_path


@pytest.mark.slow
def test_dialplan_passes_asterisklint(tmp_path):
    lint = shutil.which("asterisklint")
    assert lint, "asterisklint is in the test extra: pip install '.[test]'"
    etc = asterisk_tree(tmp_path)
    res = subprocess.run([lint, "dialplan-check", "extensions.conf"], cwd=etc, capture_output=True, text=True,
                         timeout=60)
    # asterisklint's application list predates MSet (in Asterisk since 1.4; tests/live runs it for real)
    out = [line for line in (res.stdout + res.stderr).splitlines() if "app 'MSet' does not exist" not in line]
    assert out == [], "\n".join(out)


@pytest.mark.slow
def test_asterisklint_would_catch_a_broken_dialplan(tmp_path):
    etc = asterisk_tree(tmp_path)
    (etc / "callrouter").unlink()
    (etc / "callrouter").mkdir()
    for f in (ROOT / "dialplans").glob("*.conf"):
        shutil.copy(f, etc / "callrouter" / f.name)
    broken = etc / "callrouter" / "callrouter.conf"
    text = broken.read_text()
    broken.write_text(text.replace("Goto(callrouter-inbound,fallback,1)", "Goto(callrouter-inbuond,fallback,1)"))
    res = subprocess.run([shutil.which("asterisklint"), "dialplan-check", "extensions.conf"], cwd=etc,
                         capture_output=True, text=True, timeout=60)
    assert "callrouter-inbuond" in res.stdout + res.stderr


def test_dialplan_reads_every_variable_the_router_sets():
    for name in (V.DECISION, V.COUNT):
        assert "${" + name + "}" in DIALPLAN, name
    assert "Set(QUEUE_PRIO" not in DIALPLAN and "MSet(" not in DIALPLAN, "the router sets QUEUE_PRIO itself"
    for suffix in ("DEST", "TIMEOUT"):
        assert "${ROUTE_${CUT(EXTEN,-,2)}_" + suffix + "}" in DIALPLAN
    assert "${ROUTE_1_TYPE}-1,1" in DIALPLAN and "${ROUTE_$[${CUT(EXTEN,-,2)} + 1]_TYPE}" in DIALPLAN
    assert f"UserEvent({V.USER_EVENT},Decision: ${{{V.DECISION}}},Result: failed," in DIALPLAN


INBOUND = DIALPLAN.split("[callrouter-inbound]", 1)[1].split("\n\n", 1)[0].strip().splitlines()
"""The lines of [callrouter-inbound]'s walk: the AGI, then the Goto to the first step."""
FIRST_GOTO = 'Goto(${IF($["${ROUTE_1_TYPE}" = "ivr"]?${ROUTE_1_DEST},s,1:callrouter-step,${ROUTE_1_TYPE}-1,1)})'


def test_a_routed_call_runs_two_priorities_before_its_first_step():
    assert len(INBOUND) == 2 and "AGI(" in INBOUND[0]
    assert INBOUND[1].endswith(FIRST_GOTO)


def test_an_ivr_first_step_is_the_ivr_context_itself_not_a_walker_priority():
    # the walk's one Goto lands in the IVR: no `ivr-1` priority between (it serves later ivr steps)
    assert '"${ROUTE_1_TYPE}" = "ivr"]?${ROUTE_1_DEST},s,1:' in INBOUND[1]
    assert "exten => _ivr-.,1,Goto(${ROUTE_${CUT(EXTEN,-,2)}_DEST},s,1)" in DIALPLAN


def test_router_outage_falls_back_to_a_plain_queue():
    # unreached or no answer: no ROUTE_1_TYPE, so the walk's first Goto lands on `-1`, the fallback
    assert FIRST_GOTO in DIALPLAN
    assert "exten => -1,1,Goto(callrouter-inbound,fallback,1)" in DIALPLAN
    assert 'Queue(${IF($["${CALLROUTER_FALLBACK_QUEUE}" = ""]?support:${CALLROUTER_FALLBACK_QUEUE})}' in DIALPLAN


def test_dialplan_ships_no_globals_that_would_override_the_admins():
    assert not re.search(r"^\s*\[globals\]", DIALPLAN, re.M | re.I)
    assert 'AGI(${IF(${ISNULL(${CALLROUTER_AGI})}?"agi://127.0.0.1:4573/route":${CALLROUTER_AGI})})' in DIALPLAN
    assert re.search(r"^exten => s,1,", DIALPLAN, re.M), "a trunk that delivers to `s` is accepted"


def test_dialplan_sets_nothing_only_a_listener_would_read():
    assert "NoOp(" not in DIALPLAN and "ROUTE_STEP" not in DIALPLAN
    assert len(re.findall(r"^\s*(?:exten|same) =>", DIALPLAN, re.M)) <= 20


def test_every_queue_and_endpoint_of_the_shipped_rules_exists_in_the_asterisk_config():
    from router.core.menus import menu_context
    from router.core.rulefile import load_rules

    rs = load_rules(ROOT / "rules")
    queues = set(re.findall(r"^\[([\w-]+)\]\(queue-defaults\)", (ROOT / "asterisk" / "queues.conf").read_text(),
                            re.M))
    assert {t.queue for t in rs.targets.values() if t.queue} <= queues
    pjsip = (ROOT / "asterisk" / "pjsip.conf").read_text()
    for m in rs.managers.values():
        assert f"[{m.endpoint.split('/')[1]}](phone)" in pjsip
    menus = (ROOT / "dialplans" / "callrouter-ivr.conf").read_text()
    contexts = {t.ivr for t in rs.targets.values() if t.ivr} | {menu_context(t.menu) for t in rs.targets.values()
                                                                if t.menu}
    assert contexts and all(f"[{c}]" in menus for c in contexts)


def manager_section(name: str) -> str:
    conf = (ROOT / "asterisk" / "manager.conf").read_text()
    return conf.split(f"[{name}]\n", 1)[1].split("\n[", 1)[0]


def test_ami_user_has_only_what_the_listener_needs_and_no_secret():
    conf = (ROOT / "asterisk" / "manager.conf").read_text()
    listener = manager_section("callrouter")
    assert "read = call,agent,agi,user,system" in listener
    assert re.search(r"^write = reporting$", listener, re.M), "the listener's user must not originate"
    assert not re.search(r"^\s*secret\s*=", conf, re.M)


def test_callbacks_originate_through_a_user_that_can_do_nothing_else():
    dial = manager_section("callrouter-dial")
    assert re.findall(r"^(read|write) = (.*)$", dial, re.M) == [("read", "call"), ("write", "originate")]
    assert re.findall(r"^eventfilter\(name\((\w+)\)", dial, re.M) == ["OriginateResponse"]
    assert '#include "callrouter_dial_secret.conf"' in dial


def test_ami_user_is_sent_exactly_the_events_the_listener_reads():
    from router.asterisk.amiconnection import EVENTS

    conf = manager_section("callrouter")
    filtered = set(re.findall(r"^eventfilter\(name\((\w+)\)", conf, re.M))
    # VarSet is read from recordings and dialplans of older versions only: it is in the `dialplan` class
    assert filtered == EVENTS - {"VarSet"}, "a new tracker handler needs its eventfilter in asterisk/manager.conf"
    assert "header(UserEvent),method(exact)) = " + V.USER_EVENT in conf
    assert "eventfilter(name(AGIExecEnd),header(Command),method(starts_with)) = " + ANSWER_START in conf


@pytest.mark.slow
def test_compose_file_is_accepted_by_docker_compose():
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: apt-get install docker-compose (see README)")
    env = dict(os.environ, ROUTER_AMI_SECRET="x" * 16, ROUTER_API_TOKEN="y" * 16, ROUTER_AMI_ORIGINATE_SECRET="z" * 16)
    res = subprocess.run([exe, "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    missing = subprocess.run([exe, "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")})
    assert missing.returncode != 0 and "ROUTER_AMI_SECRET" in missing.stderr


def test_the_router_image_is_built_once_and_started_as_it_is():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    router = compose["services"]["router"]
    assert router["build"] == "." and "command" not in router, "the image's CMD starts it; nothing installs at start"
    assert not any(":/src" in v for v in router["volumes"]), "the checkout is not copied in at every start"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^CMD \[\"router\", \"serve\"\]$", dockerfile, re.M)
    assert re.search(r"^USER callrouter$", dockerfile, re.M), "the router does not run as root"
    rules = router["environment"]["ROUTER_RULES"]
    assert f"./rules:{rules}:ro" in router["volumes"] and f"COPY rules {rules}" in dockerfile


@pytest.mark.slow
def test_the_files_the_dockerfile_copies_are_enough_to_build_the_router(tmp_path):
    """No Docker engine here: build the package from exactly what the Dockerfile's COPY lines take."""
    context = tmp_path / "context"
    context.mkdir()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and not line.startswith("COPY rules"):
            *sources, _ = line.split()[1:]
            for src in sources:
                path = ROOT / src
                (shutil.copytree if path.is_dir() else shutil.copy)(path, context / src)
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored and {"!pyproject.toml", "!README.md", "!router", "!rules"} <= set(ignored)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                          str(tmp_path / "wheel"), str(context)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    [wheel] = (tmp_path / "wheel").glob("callrouter-*.whl")
    names = subprocess.run([sys.executable, "-m", "zipfile", "-l", str(wheel)], capture_output=True, text=True).stdout
    assert "router/cli/main.py" in names and "router/data/index.html" in names
