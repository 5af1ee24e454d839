"""The wallboard page on a 1920×1080 screen in headless Chromium, opened with a wallboard token, fed by the AMI
simulator: the figures, the colours past the rule file's thresholds, names shown as text, live updates."""

from __future__ import annotations

import asyncio
import os

import pytest

from router.asterisk.amisim import block
from tests.helpers import MONDAY_10, RULES_TEXT, Clock, add_user, ami_target, compiled, screen_token, until, wait_for

HOSTILE = '<img src=x onerror="document.title=\'pwned\'">'
RULES = compiled(RULES_TEXT + """
wallboard:
  colours:
    longest_wait: {warn: 45s, bad: 90s}
""")


READ = """
const rows = {};
for (const q of document.querySelectorAll('.queue')) {
  const figs = [...q.querySelectorAll('.fig')];
  rows[q.querySelector('.name').textContent] = {
    figs: figs.map(f => f.textContent),
    levels: figs.map(f => f.className.replace('fig', '').trim())};
}
return {rows, title: document.title,
        chips: [...document.querySelectorAll('.queue .chip')].map(
          c => [...c.childNodes].map(n => n.textContent).join(' ')),
        owners: [...document.querySelectorAll('#owners tbody tr')].map(
          tr => [...tr.children].map(td => td.textContent).concat([tr.lastChild.className.replace('n', '').trim()]))};
"""
"""The page as it is at one moment (it is redrawn on every push: reading it element by element would race)."""


def read(driver) -> dict:
    return driver.execute_script(READ)


def member(queue: str, name: str, location: str, status: str = "1", paused: str = "0", reason: str = "",
           in_call: str = "0") -> dict[str, str]:
    return {"Queue": queue, "Name": name, "Location": location, "StateInterface": location, "Status": status,
            "Paused": paused, "PausedReason": reason, "InCall": in_call, "LastCall": "0", "Wrapuptime": "0"}


def entry(queue: str, uid: str, wait: int) -> dict[str, str]:
    return {"Queue": queue, "Position": "1", "Uniqueid": uid, "CallerIDNum": "+79161234567", "Wait": str(wait)}


@pytest.mark.slow
async def test_wallboard_on_a_tv_shows_every_queue_and_follows_ami(serve, store, ami, browser, tmp_path):
    from selenium.webdriver.common.by import By

    clock = Clock(MONDAY_10)
    ami.queues = ["new-connection", "support", "operators", HOSTILE]
    ami.members = [member("new-connection", "Иванов", "PJSIP/101", status="2", in_call="1"),
                   member("new-connection", "Петрова", "PJSIP/102"),
                   member("support", "Sidorov", "PJSIP/103", paused="1", reason="обед") | {
                       "LastPause": str(int(MONDAY_10 - 12 * 60))},
                   member("support", "Smirnov", "PJSIP/104", status="6"),
                   member("operators", "Ivanov", "PJSIP/101", status="2", in_call="1"),
                   member("operators", "Petrova", "PJSIP/102"),
                   member("operators", "Sidorov", "PJSIP/103", paused="1", reason=HOSTILE),
                   member("operators", "Kuznetsova", "PJSIP/105", status="5"),
                   member(HOSTILE, HOSTILE, "PJSIP/106")]
    ami.entries = [entry("support", "1.1", 100), entry("support", "1.2", 20), entry("operators", "1.3", 50),
                   entry("new-connection", "1.4", 5)]
    for i, (owner, late) in enumerate([("duty", 3), ("ivanov", 1), ("petrova", 0), (HOSTILE, 6)]):
        for j in range(late + 2):
            number = f"+7916123{i}{j:03d}"
            deadline = MONDAY_10 - 60 if j < late else MONDAY_10 + 3600
            await store.open_task(number, {"id": f"fu-{i}-{j}", "number": number, "owner": owner, "state": "open",
                                           "deadline": deadline}, {"at": MONDAY_10 - 7200, "text": "missed"})
    await add_user(store, "boss", "head")
    token = await screen_token(store)
    r = await serve(RULES, clock, ami=ami_target(ami))
    await wait_for(lambda: r.ami is not None and r.ami.synced.is_set())
    at = f"{MONDAY_10:.6f}"
    for uid, held, answered in (("2.1", "5", True), ("2.2", "12", True), ("2.3", "40", True), ("2.4", "30", False)):
        events = [("QueueCallerJoin", ()), ("QueueCallerLeave", ())]
        if answered:
            events.append(("AgentConnect", (("Interface", "PJSIP/101"), ("HoldTime", held))))
        else:
            events += [("QueueCallerAbandon", (("HoldTime", held),)), ("Hangup", ())]
        for name, extra in events:
            await ami.push(block(("Event", name), ("Queue", "operators"), ("Uniqueid", uid), *extra,
                                 ("Timestamp", at)))

    await asyncio.to_thread(browser.execute_cdp_cmd, "Emulation.setDeviceMetricsOverride",  # a TV's screen
                            {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    await asyncio.to_thread(browser.get, f"http://127.0.0.1:{r.http_port}/wallboard#token={token}")
    await until(browser, lambda d: d.find_element(By.ID, "status").text == "live")
    await until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".queue")) == 4)
    assert token not in await asyncio.to_thread(lambda: browser.current_url), "the token leaves the address bar"

    figures = await until(browser, lambda d: read(d)["rows"]["operators"]["figs"][-2:] == ["50%", "25%"]
                          and read(d)["rows"]["operators"]["figs"])
    # waiting, longest, available, on a call, paused, service level (2 of 4 within 20 s), abandoned (1 of 4)
    assert figures == ["1", "0:50", "1", "1", "1", "50%", "25%"]
    seen = await asyncio.to_thread(read, browser)
    assert seen["rows"]["support"]["figs"][:5] == ["2", "1:40", "0", "0", "1"], "ringing is not yet on a call"
    assert seen["rows"][HOSTILE]["figs"][:3] == ["0", "—", "1"], "a hostile queue name is a name, shown as text"
    assert seen["title"] == "callrouter — wallboard", "no markup ran"
    assert seen["rows"]["support"]["levels"] == ["", "bad", "bad", "", "", "", ""]
    assert seen["rows"]["operators"]["levels"] == ["", "warn", "warn", "", "", "bad", "bad"]
    chips = seen["chips"]
    assert "Sidorov paused: обед · 12 min" in chips and f"Sidorov paused: {HOSTILE}" in chips
    assert "Kuznetsova offline" in chips and "Smirnov ringing" in chips
    assert seen["owners"] == [[HOSTILE, "8", "6", "bad"], ["duty", "5", "3", "warn"], ["ivanov", "3", "1", ""],
                              ["petrova", "2", "0", ""]]

    shot = os.environ.get("WALLBOARD_SCREENSHOT") or str(tmp_path / "wallboard.png")  # set it to keep a picture
    assert await asyncio.to_thread(browser.save_screenshot, shot)

    # live: a caller joins new-connection, Petrova pauses; the page follows without reloading
    await ami.push(block(("Event", "QueueCallerJoin"), ("Queue", "new-connection"), ("Uniqueid", "3.1"),
                         ("Timestamp", at))
                   + block(("Event", "QueueMemberPause"), *member("new-connection", "Петрова", "PJSIP/102",
                                                                  paused="1", reason="training").items(),
                           ("Timestamp", at)))
    await until(browser, lambda d: read(d)["rows"]["new-connection"]["figs"][:5] == ["2", "0:05", "0", "1", "1"])


@pytest.mark.slow
async def test_eight_queues_and_a_crowded_queue_fit_the_screen(serve, store, ami, browser, tmp_path):
    from selenium.webdriver.common.by import By

    names = ["new-connection", "support", "operators", "management", "retention", "sales", "vip", "not-in-asterisk"]
    ami.queues = names[:-1]
    ami.members = [member("support", f"Agent {i:02d}", f"PJSIP/{200 + i}", status=("1", "2", "6")[i % 3],
                          paused="1" if i % 7 == 0 else "0", reason="break") for i in range(25)]
    ami.members += [member(q, "Ivanov", "PJSIP/101") for q in names[:-1] if q != "support"]
    ami.entries = [entry("support", f"1.{i}", 30 + i) for i in range(4)]
    rules = compiled(RULES_TEXT + "\nwallboard:\n  queues: [" + ", ".join(names) + "]\n")
    r = await serve(rules, Clock(MONDAY_10), ami=ami_target(ami))
    await wait_for(lambda: r.ami is not None and r.ami.synced.is_set())
    token = await screen_token(store)
    await asyncio.to_thread(browser.execute_cdp_cmd, "Emulation.setDeviceMetricsOverride",
                            {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
    await asyncio.to_thread(browser.get, f"http://127.0.0.1:{r.http_port}/wallboard#token={token}")
    await until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".queue")) == 8)
    seen = await asyncio.to_thread(browser.execute_script, """
      const cards = [...document.querySelectorAll('.queue')];
      const support = cards.find(c => c.querySelector('.name').textContent === 'support');
      const chips = [...support.querySelectorAll('.chip')];
      return {order: cards.map(c => c.querySelector('.name').textContent),
              lowest: Math.max(...cards.map(c => c.getBoundingClientRect().bottom)), height: innerHeight,
              lines: new Set(chips.map(c => c.offsetTop)).size, more: chips[chips.length - 1].textContent,
              shown: chips.length - 1, first: chips[0].textContent,
              missing: read_figs(cards.find(c => c.querySelector('.name').textContent === 'not-in-asterisk'))};
      function read_figs(card) { return [...card.querySelectorAll('.fig')].map(f => f.textContent); }
    """)
    shot = os.environ.get("WALLBOARD_DENSE_SCREENSHOT") or str(tmp_path / "wallboard-dense.png")
    assert await asyncio.to_thread(browser.save_screenshot, shot)
    assert seen["order"] == names, "the rule file's queues, in its order"
    assert seen["lowest"] <= seen["height"], "every card on the screen"
    assert seen["lines"] == 1 and seen["more"] == f"+{25 - seen['shown']}", "one line of chips, the rest counted"
    assert seen["first"].startswith("Agent 00") and "paused" in seen["first"], "paused members first"
    assert seen["missing"][:3] == ["0", "—", "0"], "a queue Asterisk has not reported shows empty"
