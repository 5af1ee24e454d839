"""`router demo` shows the whole product within its first minute: a real process, its API, its page."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import ROUTER_CMD, free_port, router_env, until

TOKEN = "demo-token"
"""The demo's API token (ROUTER_API_TOKEN): it has staff accounts, so its API is not open."""


def get(port: int, path: str):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as r:
        return json.loads(r.read())


def wait_for(what: str, probe, proc: subprocess.Popen, seconds: float = 60):
    """Poll `probe` until it returns something true; the demo runs in real time, compressed."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert proc.poll() is None, f"the demo exited with {proc.returncode}"
        try:
            found = probe()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"the demo did not show {what} within {seconds} s")


@pytest.fixture
def demo():
    http = free_port()
    proc = subprocess.Popen([*ROUTER_CMD, "demo", "--agi", "127.0.0.1:0", "--http", f"127.0.0.1:{http}",
                             "--interval", "0.4", "--speed", "600"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=router_env(ROUTER_API_TOKEN=TOKEN))
    yield proc, http
    proc.terminate()
    proc.wait(10)


@pytest.mark.slow
def test_demo_ends_calls_and_turns_a_missed_one_into_a_follow_up_that_closes_itself(demo, browser):
    from selenium.webdriver.common.by import By

    proc, http = demo
    wait_for("an answered call", lambda: [d for d in get(http, "/api/decisions?limit=50")
                                          if (d.get("outcome") or {}).get("result") == "answered"], proc)
    closed = wait_for("a follow-up closed by an answered callback",
                      lambda: get(http, "/api/followups?state=closed")["items"], proc)
    assert "closed automatically: callback answered" in closed[0]["closed_reason"]
    task = get(http, f"/api/followups/{closed[0]['id']}")
    texts = [c["text"] for c in task["log"]]
    assert int(task["count"]) == 2, "the second missed call comments the open task instead of opening another"
    assert any(t.startswith("missed call") for t in texts)
    assert sum(t.startswith("SMS to ") and ": sent (" in t for t in texts) == 1
    assert any(t.startswith("SMS to ") and ": skipped, one was sent" in t for t in texts), \
        "one SMS per number per 10 minutes"
    overdue = wait_for("an overdue task", lambda: get(http, "/api/followups?state=overdue")["items"], proc)
    assert overdue[0]["number"] == "+14155550123" and overdue[0]["owner"]
    decisions = get(http, "/api/decisions?limit=100")
    again = [d for d in decisions if (d.get("caller") or {}).get("number") == "+74951234567"]
    assert [d["steps"][0]["dest"] for d in again if d["rule"].startswith("repeat callers")] == ["PJSIP/301"], \
        "the repeat caller reaches the agent who answered them last"
    risky = wait_for("a subscriber on the at-risk list", lambda: get(http, "/api/risk")["items"], proc)
    assert risky[0]["number"] == "+79035550103"
    assert {s["name"] for s in risky[0]["signals"]} >= {"technician_visit", "low_rating"}
    orlov = [d for d in get(http, "/api/decisions?limit=100")
             if (d.get("caller") or {}).get("number") == "+79035550103"]
    assert orlov[0]["rule"] == "customers at risk of leaving reach retention"
    report = get(http, "/api/report?day=2026-11-23")
    assert report["inbound"]["calls"] >= 10 and report["inbound"]["missed"] >= 3 and report["outbound"]["calls"] >= 1
    assert report["callbacks"]["attempted"] >= 1 and report["callbacks"]["reached"] >= 1, "the router dialled it"
    counts = get(http, "/api/followups/counts")
    assert counts[overdue[0]["owner"]]["overdue"] >= 1

    asyncio.run(_page_shows_it(browser, http, By))

    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    for line in ("answered by PJSIP/101", "missed: caller hung up", "follow-up", "opened for",
                 "SMS to +79161234500", "commented: missed call 2", "closed automatically", "is overdue",
                 "asked again from the menu", "identified by contract 12345674", "is at risk of leaving",
                 "✈ Telegram to head: Task", "my work http://127.0.0.1",
                 "the router dials — ringing PJSIP/201; when answered, +79161234500 is dialled",
                 "'+14155550123' refused by callbacks.allow ['+7']"):
        assert line in out, f"the terminal never said {line!r}:\n{out}"
    assert "Traceback" not in out
    assert "wallboard http://127.0.0.1" in out, "the terminal names the wallboard's address"


async def _page_shows_it(driver, http: int, By) -> None:
    await asyncio.to_thread(driver.get, f"http://127.0.0.1:{http}/?token={TOKEN}")
    await until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#followups tr.overdue"), 20)
    rows = await until(driver, lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, "#decisions tbody tr")
                                          if "answered" in r.text], 20)
    assert rows
    await asyncio.to_thread(driver.save_screenshot, "/tmp/demo-page.png")


def test_the_demo_runs_the_reference_rules():
    """The package carries a copy of rules/default.yaml for the demo: it must be the same file."""
    root = Path(__file__).resolve().parent.parent
    assert (root / "router" / "data" / "default.yaml").read_bytes() == (root / "rules" / "default.yaml").read_bytes(), \
        "copy rules/default.yaml to router/data/default.yaml"


@pytest.mark.slow
def test_the_demo_runs_an_admins_own_rules_on_real_lines_and_its_report_names_people(tmp_path):
    """`router demo --rules DIR`: the admin's rules route the demo's day; customers call the support line and
    prospects the sales line (so known customers are not typed new connections); the report's staff rows
    name the person the rules know for a phone; past the company's midnight the terminal says which day the
    report shows."""
    mine = tmp_path / "rules"
    mine.mkdir()
    text = (Path(__file__).resolve().parent.parent / "rules" / "default.yaml").read_text()
    (mine / "default.yaml").write_text(text.replace("night_duty:     {dial: PJSIP/900, timeout: 30, down: operators}",
                                                    "night_duty:     {dial: PJSIP/900, timeout: 30, down: operators, "
                                                    "owner: duty-engineer}"))
    http = free_port()
    proc = subprocess.Popen([*ROUTER_CMD, "demo", "--rules", str(mine), "--agi", "127.0.0.1:0", "--http",
                             f"127.0.0.1:{http}", "--interval", "0.3", "--speed", "900", "--calls", "40"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=router_env())
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert f"rules {mine}" in out
    assert "PJSIP endpoints not checked" not in out and "not known to the connected Asterisk" not in out, \
        "the demo's PBX has every phone and queue the rules name: no inventory warning opens the demo"
    assert "— midnight in Europe/Moscow: today's report (/report) now shows 2026-11-24; the calls before " \
           "midnight are in /report?day=2026-11-23" in out


@pytest.mark.slow
def test_the_demos_report_types_customers_by_their_line_and_names_people(demo):
    proc, http = demo
    wait_for("the scripted calls", lambda: len(get(http, "/api/decisions?limit=200")) >= 14, proc)
    decisions = get(http, "/api/decisions?limit=200")
    olga = next(d for d in decisions if (d.get("caller") or {}).get("number") == "+79035550101")
    assert (olga["rule"], olga["type"]) == ("A customers reach their manager", "support"), \
        "an A customer calls the support line: not a new connection"
    prospect = next(d for d in decisions if (d.get("caller") or {}).get("number") == "+79161234500")
    assert prospect["type"] == "new_connection"
    report = wait_for("staff rows", lambda: [p for p in get(http, "/api/report?day=2026-11-23")["staff"]
                                             if p["answered"]], proc)
    who = {p["who"]: p["devices"] for p in report}
    assert who.get("ivanov") == ["PJSIP/101"], who
    assert "PJSIP/101" not in who and "PJSIP/103" not in who, "a phone the rules know is shown as its person"
