"""What the tests share besides fixtures: the checkout's paths, the `router` command, the injected
clock, the moment most calls are placed, the rules most calls are routed by, and the outcome records
the AMI listener would pass on. Fixtures are in tests/conftest.py; the fake HTTP services (SMS
gateway, CRM) in tests/fake_services.py.

    from tests.helpers import MONDAY_10, RULES, Clock
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from router.asterisk.ami import AMITarget
from router.asterisk.amisim import AMIServer
from router.asterisk.amiwire import Framer
from router.asterisk.callsim import call
from router.asterisk.calltracker import CallTracker
from router.asterisk.pbxsim import SimulatedPBX
from router.core.decide import CompiledRules
from router.core.outcome import Direction, Outcome
from router.core.rulefile import DEFAULT_LIMITS, Limits, RuleFileError, load_rules_text
from router.core.rules import ReportSettings
from router.people.accounts import WALLBOARD_TOKEN_PREFIX, User, hash_password, new_token, token_digest
from router.state.shared import _Link

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "rules"

ROUTER_CMD = [sys.executable, "-m", "router"]
"""The `router` command of this checkout (not whichever one is installed)."""

SIM_SECRET = "s3cret"
"""The secret of the router's user on the AMI simulator."""

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
"""Debian's headless browser and its driver, for the page tests (the `browser` fixture)."""


# time: every call of the suite happens on one Monday in Moscow, unless a test says otherwise

MSK = ZoneInfo("Europe/Moscow")
MONDAY = "2026-11-23"
"""The day of the calls, as the report API and the CLI take it."""
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=MSK).timestamp()
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=MSK).timestamp()
HOUR, DAY = 3600, 86400


class Clock:
    """An injected clock: tests move time, nobody sleeps."""

    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


# rules

RULES_TEXT = """
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
identify: {repeat_within: 1h, callback_within: 24h, returning_after: 90d}
targets:
  new_connection: {queue: new-connection, priority: 10, timeout: 60}
  support:        {queue: support, timeout: 120}
  operators:      {queue: operators, timeout: 60}
  management:     {queue: management, timeout: 30}
  night_duty:     {dial: PJSIP/900, timeout: 25}
  self_service:   {ivr: self-service}
managers:
  ivanov: {endpoint: PJSIP/101, up: management, down: operators, timeout: 20}
  petrova: {endpoint: PJSIP/102, up: management, down: operators, timeout: 20}
rules:
  - name: night in the caller's zone
    when: {local_hours: "00:00-06:00", known: true}
    route: [night_duty, support]
  - name: A customers reach their manager
    when: {abc: A, has_manager: true}
    route: [manager]
    escalate: up
  - name: B customers, busy manager goes down
    when: {abc: B, has_manager: true}
    route: [manager]
    escalate: down
  - name: repeat callers
    when: {kind: repeat}
    route: [operators]
  - name: new prospects
    when: {kind: new}
    route: [new_connection]
  - name: C customers serve themselves
    when: {abc: C}
    route: [self_service]
  - name: everyone else
    route: [support]
fallback: [support]
"""
"""The rules most calls of the suite are routed by: managers who escalate up or down, a night rule in
the caller's own zone, repeat callers, new prospects, self-service for C customers."""

NEW_PROSPECTS_THEN_SUPPORT = """\
  - name: new prospects
    when: {kind: new}
    route: [new_connection]
  - name: everyone else
    route: [support]
fallback: [support]
"""
"""The last two rules and the fallback of many rule files: new numbers to `new_connection`, everyone
else and the fallback to `support` (both targets must be declared)."""

ESCALATION_POLICY = """
followup:
  deadline: 30m
  owner: duty
  escalate:
    - {after: 30m, to: head_of_sales}
    - {after: 3d, or_count: 5, to: director, sms_to: "+79031112233"}
notify:
  sms:
    method: GET
    url: "http://127.0.0.1:{port}/sms"
    query: {to: "{number}", text: "{text}"}
  webhooks:
    - url: "http://127.0.0.1:{port}/crm"
      events: [escalated]
      json: {event: "{event}", task: "{id}", level: "{level}", owner: "{owner}", was: "{previous_owner}"}
"""
"""A follow-up section to add to RULES_TEXT: up to head_of_sales 30 min past the deadline, to the director
after 3 days or 5 calls; SMS and escalation webhooks to the gateway on `{port}`."""

RISK_RULES_TEXT = RULES_TEXT.replace("rules:\n", """rules:
  - name: retention for customers at risk
    when: {risk: at_risk}
    route: [management]
  - name: low rating on watch
    when: {risk_signal: [low_rating]}
    route: [operators]
""", 1) + """
types: {support: technical support, billing: billing question}
risk:
  keep_events: 60d
  event_kinds: [speed_complaint]
  levels: {watch: 2, at_risk: 4}
  owner: retention-lead
  deadline: 1d
  signals:
    repeat_support_calls:
      calls: {types: [support], days: 7, at_least: 3}
      weight: 3
    technician_visit:
      events: {kinds: [technician_visit], days: 14}
      weight: 2
    not_solved:
      events: {kinds: [issue_solved], value: "no", days: 14}
      weight: 2
    low_rating:
      rating: {at_most: 2, days: 30}
      weight: 3
    waiting_for_us:
      open_followup: {calls: 2}
      weight: 1
"""
"""RULES_TEXT with churn-risk signals, and two rules ahead that route by them."""
RISK_NUMBER = "+79161230001"
"""The subscriber whose signals the risk tests add up."""

MANAGER_FIRST = """
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
targets:
  support: {queue: support, timeout: 120}
managers:
  ivanov: {endpoint: PJSIP/101, timeout: 20}
rules:
  - name: their manager
    when: {has_manager: true}
    route: [manager, support]
fallback: [support]
"""
"""A customer with a manager rings them first, then the support queue: the start of the CRM tests' rules."""

BASE_RULES = """\
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
targets:
  support: {queue: support, timeout: 120}
  management: {queue: management, timeout: 30}
managers:
  ivanov: {endpoint: PJSIP/101, up: management}
rules:
  - name: A customers
    when: {abc: A}
    route: [manager]
    escalate: up
  - name: everyone else
    route: [support]
fallback: [support]
"""
"""A small valid rule file for the rule-file checks to break in one place."""


MENU_RULES_TEXT = """
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
identify: {repeat_within: 1h}
targets:
  new_connection: {queue: new-connection, priority: 10, timeout: 60, type: new_connection}
  support:        {queue: support, timeout: 120, type: support}
  operators:      {queue: operators, timeout: 60}
  management:     {queue: management, timeout: 30}
  self_service:   {menu: main}
managers:
  ivanov: {endpoint: PJSIP/101, up: management, timeout: 20}
rules:
  - name: new connection chosen in the menu
    when: {choice: new-connection}
    route: [new_connection, operators]
  - name: A customers reach their manager
    when: {abc: A, has_manager: true}
    route: [manager]
    escalate: up
  - name: new callers to the new-connection queue
    when: {kind: new, dnid: "88006008208"}
    route: [new_connection]
  - name: everyone else chooses in the menu
    route: [self_service]
fallback: [support]
types:
  new_connection: {label: new connection, prospect: true}
  support: support
  payment: payment question
menus:
  main:
    label: self-service menu
    prompts: [custom/main-menu]
    invalid_prompt: custom/invalid-key
    timeout: 5
    tries: 3
    operator: operators
    options:
      "1": {target: support}
      "2": {target: support, type: payment, label: payment}
      "3": {choice: new-connection, label: new connection}
      "5": {menu: contract}
      "9": repeat
      "0": operator
  contract:
    prompts: [custom/enter-contract]
    input: {field: contract, length: 8, checksum: luhn}
    timeout: 10
    tries: 2
    operator: operators
    on_timeout: {menu: main}
"""
"""A self-service menu (support, payment, new connection, a contract number, operator) and rules that send
callers there: first-time callers on the sales line go to the new-connection queue, A customers to their
manager, everyone else to the menu."""
CONTRACT = "12345674"
"""A contract number whose last digit is its Luhn check digit."""


def compiled(text: str) -> CompiledRules:
    return CompiledRules(load_rules_text(text), "<test>")


RULES = compiled(RULES_TEXT)


def problems(text: str, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """The `file:line` problems a broken rule file (named r.yaml) is refused with."""
    with pytest.raises(RuleFileError) as e:
        load_rules_text(text, "r.yaml", limits)
    return [str(p) for p in e.value.problems]


def alias_bomb(levels: int) -> str:
    """BASE_RULES followed by YAML aliases that expand to 9**levels items ("billion laughs")."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return BASE_RULES + "\n".join(lines) + "\n"


# outcomes, as the AMI listener passes them on when a call ends

def missed(number: str = "+79161234500", linkedid: str = "1.1", decision: str = "",
           ended_at: float = MONDAY_10) -> Outcome:
    """An inbound call nobody answered: the caller hung up while it rang."""
    return Outcome(linkedid, "inbound", number, "missed", decision=decision, ring_seconds=20.0, ended_at=ended_at,
                   reason="caller hung up before anyone answered")


def answered(number: str = "+79161234500", direction: Direction = "outbound", by: str = "PJSIP/101") -> Outcome:
    """A call that became a one-minute conversation (by default our callback to the number)."""
    return Outcome("2.2", direction, number, "answered", by=by, ring_seconds=3.0, talk_seconds=60.0,
                   ended_at=MONDAY_10)


def answered_by(number: str, by: str, ended_at: float, linkedid: str = "9.9") -> Outcome:
    """An inbound call `by` answered and talked two minutes: `by` becomes the number's last agent."""
    return Outcome(linkedid, "inbound", number, "answered", by=by, ring_seconds=5.0, talk_seconds=120.0,
                   ended_at=ended_at)


# state written straight into the store, as a busy deployment would have it

AT_RISK_SCORES = 10
"""`put_at_risk` gives scores 4 (at_risk in every rule file of the suite) to 13, in turn."""


async def put_at_risk(store, count: int, now: float, first: int = 0, tasks: bool = True,
                      parallel: int = 40) -> list[str]:
    """`count` customers on the at-risk list, written through the Store's methods as the risk engine writes
    them (no events behind them): number +7916NNNNNNN from `first`, score 4 + i % 10, entered i minutes
    after the first, a signal that holds 30 days, and (with `tasks`) an open retention task each."""
    numbers = [f"+7916{first + i:07d}" for i in range(count)]
    await store.put_customers([(n, {"name": f"Customer {first + i}", "manager": "ivanov", "abc": "B"})
                               for i, n in enumerate(numbers)])

    async def one(i: int, number: str) -> None:
        score, since = 4 + i % AT_RISK_SCORES, now - DAY + i * 60
        hits = [{"name": "low_rating", "weight": score, "until": now + 30 * DAY, "dates": [since],
                 "text": "rating 1"}]
        state = {"level": "at_risk", "score": score, "hits": json.dumps(hits), "updated": now, "since": since}
        await store.update_risk(number, now - 60 * DAY, lambda *_: state)
        await store.set_risk_listing(number, since, None, score)
        if tasks:
            task = {"id": f"rt-{first + i:07d}", "kind": "retention", "number": number, "owner": "ivanov",
                    "state": "open", "created": since, "deadline": since + DAY, "priority": 2, "count": 1}
            await store.open_retention_task(number, task, {"at": since, "text": "at risk: low_rating"})

    for start in range(0, count, parallel):
        await asyncio.gather(*(one(i, n) for i, n in enumerate(numbers[start:start + parallel], start)))
    return numbers


# the store's round trips

class RoundTrips:
    """Counts writes to Redis on the connections calls share (one write, one wait: one round trip)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.n = 0
        original = _Link.send

        def counting(link, packed, expected):
            self.n += 1
            return original(link, packed, expected)

        monkeypatch.setattr(_Link, "send", counting)


# the AMI simulator

class Capture(AMIServer):
    """Keeps what the simulated PBX would send, instead of sending it."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = b""

    async def push(self, data: bytes, chunks=None) -> None:
        self.sent += data


def outcomes(play) -> list[dict]:
    """The outcomes a call tracker takes from what `play(pbx)` makes the simulated PBX send."""
    ami = Capture()
    asyncio.run(play(SimulatedPBX(ami, speed=1e9)))
    tracker = CallTracker()
    for i, event in enumerate(Framer().feed(ami.sent)):
        tracker.feed(event, float(i))
    return [dict(o.record()) for o in tracker.take()[0]]


def ami_target(server: AMIServer) -> AMITarget:
    """The router's AMI address of the simulator `server`."""
    return AMITarget.parse(f"ami://callrouter@127.0.0.1:{server.port}", SIM_SECRET)


DIAL_SECRET = "d1al"
"""The secret of the callbacks' AMI user `callrouter-dial` on the simulator."""


def dial_target(server: AMIServer) -> AMITarget:
    """The callbacks' AMI address on the simulator `server` (a user whose only write class is `originate`)."""
    server.more_users["callrouter-dial"] = (DIAL_SECRET, frozenset({"originate"}))
    return AMITarget.parse(f"ami://callrouter-dial@127.0.0.1:{server.port}", DIAL_SECRET)


async def wait_for(predicate, seconds: float = 10.0) -> None:
    """Poll a condition the listener reaches by itself (events are processed asynchronously)."""
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.01)


# HTTP and the browser

async def http_get(port: int, path: str, **kw) -> tuple[int, object]:
    """GET from the router's HTTP API: the status and the JSON body."""
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}{path}", **kw) as resp:
        return resp.status, await resp.json()


async def http_post(port: int, path: str, **kw) -> tuple[int, object]:
    """POST to the router's HTTP API: the status and the JSON body."""
    async with aiohttp.ClientSession() as s, s.post(f"http://127.0.0.1:{port}{path}", **kw) as resp:
        return resp.status, await resp.json()


async def until(driver, condition, seconds: float = 10):
    """Wait for the page in a thread: the router under test runs on this event loop and must keep serving."""
    from selenium.webdriver.support.ui import WebDriverWait

    return await asyncio.to_thread(WebDriverWait(driver, seconds, poll_frequency=0.05).until, condition)


async def sign_in_on_page(driver, port: int, name: str) -> None:
    """`name` signs in where /me sends a stranger (the sign-in page), with the tests' password; back on /me."""
    from selenium.webdriver.common.by import By

    await asyncio.to_thread(driver.get, f"http://127.0.0.1:{port}/me")
    await until(driver, lambda d: d.current_url.endswith("/login?next=/me"))
    field = await asyncio.to_thread(driver.find_element, By.ID, "name")
    await asyncio.to_thread(field.send_keys, name)
    password = await asyncio.to_thread(driver.find_element, By.ID, "password")
    await asyncio.to_thread(password.send_keys, PASSWORD + "\n")


async def open_report(driver, port: int, day: str, token: str) -> None:
    """The report page of `day`, signed in with the API token, once it has drawn everything."""
    from selenium.webdriver.common.by import By

    await asyncio.to_thread(driver.get, f"http://127.0.0.1:{port}/")
    await asyncio.to_thread(driver.execute_script, f"localStorage.setItem('callrouterToken', '{token}')")
    await asyncio.to_thread(driver.get, f"http://127.0.0.1:{port}/report?day={day}")
    await until(driver, lambda d: d.find_element(By.ID, "status").text == "ready", 30)
# load: calls at a steady rate, and what they took

async def calls_at_rate(port: int, rate: float, seconds: float, first_uid: int = 1,
                        number: str = "+7916{uid:07d}") -> list[float]:
    """Calls placed at a steady `rate` for `seconds` (open loop: each is placed when it is due, whether or not
    the ones before have ended); each one's seconds from when it was due to its end, as a caller waits."""
    count = int(rate * seconds)
    start = time.perf_counter() + 0.05

    async def one(i: int) -> float:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        uid = first_uid + i
        res = await call(port, number.format(uid=uid), uid=uid, timeout=30)
        assert res.variables.get("ROUTE_COUNT"), f"call {uid} got no route: {res.commands}"
        return time.perf_counter() - due

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def p99(seconds: list[float]) -> float:
    """The 99th percentile (nearest rank)."""
    ordered = sorted(seconds)
    return ordered[max(0, -(-99 * len(ordered) // 100) - 1)]


# processes

def router_env(**extra: str) -> dict[str, str]:
    """The environment for a `router` subprocess: this checkout first on the path, a spool of its own."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    spool = os.path.join(tempfile.mkdtemp(prefix="router-spool-"), "spool.jsonl")
    return {**os.environ, "PYTHONPATH": path, "ROUTER_SPOOL": spool, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_processes(procs, seconds: float = 10.0) -> None:
    """SIGTERM to all at once (they shut down side by side), then wait; one still running after
    `seconds` is killed."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(seconds)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def await_line(proc: subprocess.Popen, text: str, seen: list[str], seconds: float = 10) -> None:
    """Read the router's log (its stderr) until `text` shows up (the process tells us when it has acted)."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + seconds
    while not any(text in line for line in seen):
        left = deadline - time.monotonic()
        assert left > 0 and sel.select(left), f"no {text!r} in the log: {seen}"
        seen.append(proc.stderr.readline())


# people: accounts, and a person signed in at the login page

PASSWORD = "correct horse battery"


async def add_user(store, name: str, role: str = "agent", password: str = PASSWORD, **fields):
    """An account in the store, as `router users add` makes it; returns the User."""
    user = User(name, role, **fields)
    await store.put_user(user, hash_password(password))
    return user


async def user_token(store, name: str) -> str:
    """A new API token for an account, as `router users token` makes it."""
    found = await store.user(name)
    token = new_token()
    await store.set_token(found[0], token_digest(token))
    await store.put_user(replace(found[0], token=token_digest(token)))
    return token


def call_figures_from_csv(rows: list[dict[str, str]], scope: str, name: str, threshold: int,
                          settings: ReportSettings) -> dict[str, object]:
    """The standard call figures of one scope (day, queue, agent, hour) worked out again from the rows of the
    report's CSV export alone, one call at a time, as docs/reports.md defines them."""
    short_limit, window = settings.short_abandon, settings.first_contact_within
    mine = [r for r in rows if r["direction"] == "inbound" and not r["by"].startswith("ivr:") and (
        scope == "day" or (scope == "queue" and r["queue"] == name) or (scope == "agent" and r["by"] == name)
        or (scope == "hour" and r["time"][:2] == name))]
    answered = [r for r in mine if r["result"] == "answered"]
    gave_up = [r for r in mine if r["abandoned"] == "1"]
    short = [r for r in gave_up if float(r["ring_seconds"]) < short_limit]
    offered = len(mine) - len(short)
    in_t = [r for r in answered if math.floor(float(r["ring_seconds"])) <= threshold]
    gave_up_in_t = [r for r in gave_up if math.floor(float(r["ring_seconds"])) <= threshold]
    waits = sorted(math.floor(float(r["ring_seconds"])) for r in answered)
    contacts = [r for r in mine if r not in short]
    recalled = sorted(int(r["recalled_after_seconds"]) for r in contacts
                      if r["recalled_after_seconds"] and int(r["recalled_after_seconds"]) <= window)
    recalled_answered = [r for r in answered if r["recalled_after_seconds"]
                         and int(r["recalled_after_seconds"]) <= window]

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    def minute_up(seconds: int) -> int:
        return max(60, math.ceil(seconds / 60) * 60)

    return {
        "offered": offered, "answered": len(answered), "abandoned": len(gave_up) - len(short),
        "short_abandoned": len(short), "service_level": share(len(in_t), offered),
        "service_level2": share(len(in_t) + len(gave_up_in_t), len(answered) + len(gave_up)),
        "asa_seconds": round(sum(float(r["ring_seconds"]) for r in answered) / len(answered), 1) if answered
        else None,
        "asa_p90_seconds": waits[math.ceil(0.9 * len(waits)) - 1] if waits else None,
        "abandon_rate": share(len(gave_up) - len(short), offered),
        "aht_seconds": round(sum(float(r["agent_talk_seconds"] or r["talk_seconds"]) + float(r["hold_seconds"] or 0)
                                 + float(r["wrapup_seconds"] or 0) for r in answered) / len(answered), 1)
        if answered else None,
        "fcr_rate": share(len(answered) - len(recalled_answered), len(answered)),
        "recall_rate": share(len(recalled), offered),
        "recall_median_seconds": minute_up(recalled[math.ceil(0.5 * len(recalled)) - 1]) if recalled else None,
    }


CALL_FIGURES = ("offered", "answered", "abandoned", "short_abandoned", "service_level", "service_level2",
                "asa_seconds", "asa_p90_seconds", "abandon_rate", "aht_seconds", "fcr_rate", "recall_rate",
                "recall_median_seconds")


AGENT_FIGURES = ("talk_seconds", "available_seconds", "wrapup_seconds", "paused_seconds", "ring_no_answer", "logins",
                 "logouts", "occupancy")


def agent_figures_from_csv(rows: list[dict[str, str]], scope: str, name: str) -> dict[str, object]:
    """The agent-state figures of one scope worked again from the rows of the agents' CSV alone: the time in
    each state summed, the marks counted, occupancy = talk / (talk + available); pauses as {reason: (pauses,
    seconds)}."""
    mine = [r for r in rows if scope == "day" or (scope == "agent" and r["agent"] == name)
            or (scope == "queue" and name in r["queues"].split(";")) or (scope == "hour" and r["time"][:2] == name)]

    def time_in(state: str) -> float:
        return round(sum(float(r["seconds"]) for r in mine if r["what"] == state), 1)

    talk, available = time_in("talk"), time_in("available")
    pauses: dict[str, list] = {}
    for r in mine:
        reason = r["reason"] or "-"
        if r["what"] == "paused":
            pauses.setdefault(reason, [0, 0.0])[1] += float(r["seconds"])
        elif r["what"] == "pause":
            pauses.setdefault(reason, [0, 0.0])[0] += 1
    return {"talk_seconds": talk, "available_seconds": available, "wrapup_seconds": time_in("wrapup"),
            "paused_seconds": time_in("paused"),
            "ring_no_answer": sum(r["what"] == "ring_no_answer" for r in mine),
            "logins": sum(r["what"] == "login" for r in mine), "logouts": sum(r["what"] == "logout" for r in mine),
            "occupancy": round(talk / (talk + available), 4) if talk + available else None,
            "pauses": {reason: (n, round(seconds, 1)) for reason, (n, seconds) in pauses.items()}}


def pauses_by_reason(row: dict) -> dict[str, tuple[int, float]]:
    """A report row's pauses as agent_figures_from_csv gives them."""
    return {p["reason"]: (p["pauses"], p["seconds"]) for p in row["pauses"]}


# the wallboard

async def screen_token(store, screen: str = "hall") -> str:
    """A wallboard token, as `router wallboard token SCREEN` makes it."""
    token = new_token(WALLBOARD_TOKEN_PREFIX)
    await store.set_wallboard_token(screen, token_digest(token))
    return token


class BoardStream:
    """The wallboard's event stream read as the page's EventSource reads it: each `board` frame as it comes."""

    def __init__(self, resp: aiohttp.ClientResponse):
        self.resp = resp

    async def next_board(self, seconds: float = 10.0) -> dict:
        data = b""
        async with asyncio.timeout(seconds):
            while True:
                line = await self.resp.content.readline()
                if line.startswith(b"data: "):
                    data = line[6:]
                elif line == b"\n" and data:
                    return json.loads(data)["board"]

    async def board_where(self, predicate, seconds: float = 10.0) -> dict:
        """The first board (from now) that `predicate` holds for; TimeoutError after `seconds`."""
        async with asyncio.timeout(seconds):
            while True:
                board = await self.next_board(seconds)
                if predicate(board):
                    return board


def board_queue(board: dict, name: str) -> dict:
    """One queue of a board; an empty one while the router has not heard of it."""
    return next((q for q in board["queues"] if q["queue"] == name),
                {"queue": name, "waiting": 0, "longest_wait": 0, "agents": {}, "members": [], "today": {}})


class SignedIn:
    """An HTTP client that signed in through POST /login and keeps the session cookie; `csrf` for its POSTs."""

    def __init__(self, port: int, session: aiohttp.ClientSession, csrf: str):
        self.port, self.session, self.csrf = port, session, csrf

    @classmethod
    async def login(cls, port: int, name: str, password: str = PASSWORD, source: str = "127.0.0.1") -> SignedIn:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                        connector=aiohttp.TCPConnector(local_addr=(source, 0)))
        async with session.post(f"http://127.0.0.1:{port}/login", json={"name": name, "password": password}) as r:
            body = await r.json()
            assert r.status == 200, body
        return cls(port, session, body["csrf"])

    async def get(self, path: str) -> tuple[int, object]:
        async with self.session.get(f"http://127.0.0.1:{self.port}{path}") as r:
            return r.status, await r.json()

    async def post(self, path: str, body: dict | None = None, csrf: bool = True) -> tuple[int, object]:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        async with self.session.post(f"http://127.0.0.1:{self.port}{path}", json=body or {}, headers=headers) as r:
            return r.status, await r.json()

    async def close(self) -> None:
        await self.session.close()
