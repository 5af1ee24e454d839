"""`router demo`: the whole product on one machine, with no Redis, no Asterisk and no network.

The real router answers calls on its real FastAGI port; the store's code talks to fakeredis's
in-process server; the real AMI listener follows every call on a real socket from a simulated
PBX (`router.asterisk.pbxsim`, the same AMI server the tests use) that ends each call as a
working day would: answered after some ringing, missed, a busy manager, a queue timeout, an
answered callback and an unanswered one (dialled by the router itself: the agent's phone first, then the
customer, through the same checks as the page's Call button), callers who press keys in the rule file's menu (the PBX
sends the menus' events, the router is asked again as the generated dialplan asks it). Missed
calls become follow-ups, one SMS goes to a local sink that prints it, an answered callback closes
its task. Three staff accounts (two agents and a head, a password printed at start) are told of
their tasks by Telegram, through a local sink shaped like the bot API that prints each message;
the API takes a token printed with the page's address (ROUTER_API_TOKEN when set). Simulated time
runs `speed` times faster than real time, so a 30-minute follow-up deadline passes within the
first minute.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import random
import secrets
import sys
import time
from datetime import datetime
from importlib import resources
from zoneinfo import ZoneInfo

import fakeredis
import orjson
from aiohttp import ClientSession, web
from cryptography.fernet import Fernet

from router.asterisk import callsim
from router.asterisk import variables as V
from router.asterisk.ami import AMITarget
from router.asterisk.amisim import AMIServer
from router.asterisk.inventory import named_endpoints
from router.asterisk.originate import OriginateResult
from router.asterisk.pbxsim import Press, SimulatedPBX
from router.cli.demoday import (
    EXTRA_NUMBERS,
    QUEUE_MEMBERS,
    SCRIPT,
    Scene,
    attempts,
    lines,
    random_fate,
    read_customers,
    say_the_day,
)
from router.config import ConfigError, host_port
from router.core.decide import CompiledRules
from router.core.menus import INPUT_KEY, Menu
from router.core.rulefile import RuleFileError, load_rules
from router.core.rules import HttpRequest, Notify, TelegramBot
from router.directory.customers import import_csv
from router.directory.numbering import import_ranges
from router.people.accounts import User, hash_password
from router.server import Running, start
from router.service import Router
from router.state.store import Store

DEMO_START = datetime(2026, 11, 23, 22, 0, tzinfo=ZoneInfo("Europe/Moscow"))
"""A Monday evening in Moscow: early morning in Vladivostok, so the night rule shows."""

CALLBACK_AGENT = "PJSIP/201"
"""The sales agent who calls missed prospects back."""

LISTEN = 6.0
"""Simulated seconds a caller listens to a menu's prompt before pressing a key."""


class DemoClock:
    """Simulated wall-clock time: starts at `start` and runs `speed` times faster than real time."""

    def __init__(self, start: float, speed: float):
        self.start, self.speed = start, speed
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self._t0) * self.speed


def data_path(name: str) -> str:
    return str(resources.files("router").joinpath(f"data/{name}"))


class Narrator:
    """One terminal line per event: decisions, how calls ended, follow-ups, SMS, overdue tasks."""

    def __init__(self, tz: ZoneInfo, out=sys.stdout):
        self.tz, self.out = tz, out
        self.counts: dict[str, int] = {}

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def hhmm(self, ts: float | str) -> str:
        return datetime.fromtimestamp(float(ts), self.tz).strftime("%H:%M")

    def event(self, e: dict) -> None:
        if e.get("type") == "outcome":
            o = e["outcome"]
            who = o.get("number") or "anonymous"
            if o.get("direction") == "outbound":
                how = "reached" if o["result"] == "answered" else "not reached"
                self.say(f"  ↳ callback to {who} by {o.get('by') or 'us'}: {how}")
            elif o.get("menu_left"):
                self.say(f"  ↳ {who} hung up in the {o['menu_left']} menu")
            elif o.get("ivr"):
                self.say(f"  ↳ {who} served by the {o['ivr']} IVR for {int(o['talk_seconds'])} s")
            elif o["result"] == "answered":
                self.say(f"  ↳ {who} answered by {o.get('by')} after {o['ring_seconds']:.0f} s, "
                         f"talked {int(o['talk_seconds']) // 60}:{int(o['talk_seconds']) % 60:02d}")
            else:
                self.say(f"  ↳ {who} missed: {o.get('reason')} (rang {o['ring_seconds']:.0f} s)")
        elif e.get("type") == "risk" and e.get("level") == "at_risk":
            self.say(f"  ⚠ {e['number']} is at risk of leaving: on today's list, with a retention task")
        elif e.get("type") == "followup":
            t = e["task"]
            if e["event"] == "created":
                self.say(f"  ✎ follow-up {t['id']} opened for {t['owner']}: call {t['number']} back "
                         f"by {self.hhmm(t['deadline'])}")
            elif e["event"] == "closed":
                self.say(f"  ✓ follow-up {t['id']} {t.get('closed_reason', 'closed')}")
            elif int(t.get("count", 1)) > self.counts.get(t["id"], 1):
                self.say(f"  ✎ follow-up {t['id']} commented: missed call {t['count']} from {t['number']}, "
                         "no second task, no second SMS")
            else:
                self.say(f"  ✎ follow-up {t['id']} commented: callback to {t['number']} not answered; still open")
            self.counts[t["id"]] = int(t.get("count", 1))


STAFF = (User("ivanov", "agent", telegram="1001"), User("petrova", "agent", telegram="1002"),
         User("head", "head", telegram="1003", holds=("duty", "head_of_sales", "sales-lead", "retention-lead")))
"""The demo's accounts: two agents (managers in the rules) and a head who holds the rules' owner names."""


async def sms_sink(say) -> web.AppRunner:
    """The SMS gateway and Telegram's bot API of the demo: print every message instead of sending it."""
    chats = {u.telegram: u.name for u in STAFF}

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        say(f"  ✉ SMS to {body.get('to')}: {body.get('text')}")
        return web.json_response({"status": "queued", "id": secrets.token_hex(4)})

    async def telegram(request: web.Request) -> web.Response:
        body = await request.json()
        text = str(body.get("text", "")).replace("\n", "\n      ")
        say(f"  ✈ Telegram to {chats.get(str(body.get('chat_id')), body.get('chat_id'))}: {text}")
        return web.json_response({"ok": True, "result": {"message_id": 1}})

    app = web.Application()
    app.router.add_post("/sms", receive)
    app.router.add_post("/bot{token}/sendMessage", telegram)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


async def watch(running: Running, narrator: Narrator) -> None:
    """Narrate live events, and each task the moment it becomes overdue."""
    sub = running.router.broadcast.subscribe()
    overdue: set[str] = set()

    async def overdue_loop() -> None:
        while True:
            for t in await running.router.followups.worklist("overdue"):
                if t["id"] not in overdue:
                    overdue.add(t["id"])
                    narrator.say(f"  ! follow-up {t['id']} is overdue: {t['owner']} was to call {t['number']} "
                                 f"back by {narrator.hhmm(t['deadline'])}")
            await asyncio.sleep(0.5)

    poll = asyncio.create_task(overdue_loop())
    try:
        while sub is not None and (sse := await sub.next()) is not None:
            narrator.event(orjson.loads(sse.partition(b"\ndata: ")[2]))
    finally:
        poll.cancel()
        if sub is not None:
            running.router.broadcast.unsubscribe(sub)


async def demo(calls: int, agi: tuple[str, int], http: tuple[str, int], interval: float, speed: float,
               rules_path: str = "") -> None:
    clock = DemoClock(DEMO_START.timestamp(), speed)
    store = Store(fakeredis.FakeAsyncRedis(decode_responses=True))
    rules_file = rules_path or data_path("default.yaml")
    narrator = Narrator(ZoneInfo("Europe/Moscow"))
    sink = await sms_sink(narrator.say)
    rs = load_rules(rules_file)
    sms = HttpRequest(method="POST", url=f"http://127.0.0.1:{sink.addresses[0][1]}/sms",
                      json_body={"to": "{number}", "text": "{text}"})
    bot = TelegramBot(token="demo", api=f"http://127.0.0.1:{sink.addresses[0][1]}")
    notices = rs.people.notices.model_copy(update={"telegram": bot, "quiet_hours": None})  # the demo runs at night
    rs = rs.model_copy(update={"notify": Notify(sms=sms), "people": rs.people.model_copy(update={"notices": notices})})
    router = Router(CompiledRules(rs, rules_file), store, rules_path=rules_file, clock=clock)
    narrator.tz = ZoneInfo(rs.company.timezone)
    await import_csv(store, data_path("demo-customers.csv"))
    customers = read_customers(data_path("demo-customers.csv"))
    sales_line, support_line = lines(router.rules)
    await import_ranges(store, data_path("numbering-sample.csv"))
    await store.record_outbound("+79035550103", clock() - 3600, answered=False)
    password, token = secrets.token_urlsafe(9), os.environ.get("ROUTER_API_TOKEN") or secrets.token_urlsafe(12)
    os.environ.setdefault("ROUTER_SESSION_KEY", Fernet.generate_key().decode())  # sign-ins last as long as the demo
    for user in STAFF:
        await store.put_user(user, await asyncio.to_thread(hash_password, password))
    pbx_ami = AMIServer(secret=secrets.token_hex(8), devices={"PJSIP/102": "INUSE"})  # petrova is on a call
    pbx_ami.queues = list(QUEUE_MEMBERS)  # the wallboard's queues, each with the member the day's calls ring
    pbx_ami.endpoints = sorted(named_endpoints(router.rules.rs))  # the simulated PBX has every phone the rules name
    pbx_ami.members = [{"Queue": q, "Name": m, "Location": m, "StateInterface": m, "Status": "1", "Paused": "0",
                        "InCall": "0"} for q, m in QUEUE_MEMBERS.items()]
    await pbx_ami.start()
    pbx = SimulatedPBX(pbx_ami, speed)
    running = await start(router, agi, http, token, ami=AMITarget("127.0.0.1", pbx_ami.port, pbx_ami.username,
                                                            pbx_ami.secret))
    listener = running.ami
    assert listener is not None, "started with an AMI target"
    await asyncio.wait_for(listener.synced.wait(), 10)
    await listener.flush()  # the device states it just read are in the store before the first call
    narrator.say(f"callrouter demo — rules {rules_file}\n"
                 f"FastAGI agi://{agi[0]}:{running.agi.port}/route   live page "
                 f"http://{http[0]}:{running.http_port}/?token={token}\n"
                 f"my work http://{http[0]}:{running.http_port}/me: sign in as ivanov, petrova or head, password "
                 f"{password}\n"
                 f"wallboard http://{http[0]}:{running.http_port}/wallboard#token={token}\n"
                 f"simulated clock starts {DEMO_START:%a %Y-%m-%d %H:%M %Z}, {speed:g}× real time\n")
    answers: dict[str, bool] = {}
    router.callbacks.originate = demo_originate(pbx, answers)
    watcher = asyncio.create_task(watch(running, narrator))
    midnight = asyncio.create_task(say_the_day(clock, narrator.tz, narrator.say))
    scenes: set[asyncio.Task] = set()
    rnd = random.Random(7)
    try:
        for n in itertools.count(1):
            if calls and n > calls:
                break
            scene = SCRIPT[n - 1] if n <= len(SCRIPT) else Scene(rnd.choice(EXTRA_NUMBERS), "more traffic",
                                                                 random_fate(rnd))
            if not scene.dnid:  # customers call the support line, prospects the sales line, as on a real day
                scene = dataclasses.replace(scene, dnid=support_line if scene.number in customers else sales_line)
            if scene.events:
                await post_events(running.http_port, scene, clock(), n, token)
            await callsim.call(running.agi.port, scene.number, uid=n, dnid=scene.dnid, host=agi[0])
            d = router.log.recent[-1]
            narrator.say(_format(d, scene.label, narrator))

            async def ask(args: tuple[str, ...], scene: Scene = scene, n: int = n) -> dict:
                """The generated menu asks the router again, on the same channel."""
                await callsim.call(running.agi.port, scene.number, uid=n, extension="s", host=agi[0],
                                   args=(*args, f"dnid={scene.dnid}"))
                again = router.log.recent[-1]
                await router.log.flush()  # its facts are in the store before the call can end
                narrator.say(_format(again, "asked again from the menu", narrator))
                return again

            async def call_back(number: str, answered: bool) -> None:
                """The sales agent clicks Call on the number's follow-up: the router dials it."""
                await listener.flush()
                for _ in range(100):  # the missed call's task is opened once its outcome is written
                    task_id = await store.open_task_of(number)
                    if task_id:
                        break
                    await asyncio.sleep(0.05)
                else:
                    return
                answers[number] = answered
                result = await router.callbacks.call(task_id, CALLBACK_AGENT, "the sales agent")
                narrator.say(f"  ☎ callback {task_id}: the router dials — {result.message}")

            task = asyncio.create_task(play(pbx, scene, d, ask, router.rules.rs.menus, call_back))
            scenes.add(task)
            task.add_done_callback(scenes.discard)
            await asyncio.sleep(interval)
        await asyncio.gather(*scenes)
        await listener.flush()
    finally:
        for t in scenes:
            t.cancel()
        watcher.cancel()
        midnight.cancel()
        await running.stop()
        await pbx_ami.close()
        await sink.cleanup()
        await store.close()


async def post_events(http_port: int, scene: Scene, now: float, n: int, token: str) -> None:
    """What a CRM does: POST /api/events (ids make a re-sent batch harmless)."""
    events = [{"id": f"demo-{n}-{i}", "number": scene.number, "kind": kind, "value": value,
               "at": now - days * 86400} for i, (kind, value, days) in enumerate(scene.events)]
    async with ClientSession() as http, http.post(f"http://127.0.0.1:{http_port}/api/events", json={"events": events},
                                                   headers={"Authorization": f"Bearer {token}"}) as r:
        r.raise_for_status()


def demo_originate(pbx: SimulatedPBX, answers: dict[str, bool]):
    """The simulated PBX's side of the router's Originate: the agent's phone rings and he answers, then the
    trunk dials the customer, who answers or not as the scene says."""

    calls: set[asyncio.Task] = set()

    async def originate(action: dict[str, str | list[str]], ring: int) -> OriginateResult:
        number = next(v.split("=", 1)[1] for v in action["Variable"] if v.startswith(V.CALLBACK_NUMBER + "="))
        agent = str(action["Channel"])
        call = asyncio.create_task(pbx.callback(agent, number, answered=answers.pop(number, True), ring=12, talk=240))
        calls.add(call)
        call.add_done_callback(calls.discard)
        return OriginateResult(True, "4", f"agent's phone {agent} answered")

    return originate


async def play(pbx: SimulatedPBX, scene: Scene, d: dict, ask, menus: dict[str, Menu], call_back) -> None:
    """The call as the PBX plays it: the chain's steps, or the menus first and then the chain the router
    answers when the menu asks it again."""
    if not scene.presses:
        await pbx.inbound(scene.number, d["id"], attempts(d["steps"], scene.fate))
    else:
        caller = await pbx.arrive(scene.number, d["id"])
        await pbx.in_menus(caller, [Press(menu, key, LISTEN) for menu, key in scene.presses])
        menu, key = scene.presses[-1]
        option = menus[menu].option(key)
        choice = option.asked_choice if option is not None else ""
        args = (f"menu={menu}", f"key={key}", *((f"choice={choice}",) if choice else ()),
                *((f"contract={scene.typed}",) if key == INPUT_KEY else ()))
        again = await ask(args)
        await pbx.routed(caller, again["id"])
        await pbx.walk(caller, again["id"], attempts(again["steps"], scene.fate))
    if scene.callback:
        await call_back(scene.number, scene.callback == "answered")


def _format(e: dict, label: str, narrator: Narrator) -> str:
    c = e.get("caller", {})
    chain = " → ".join(f"{s['type']} {s['dest']}" for s in e["steps"])
    local = c.get("local_time", "")[11:16]
    profile = f"{c.get('kind', ''):<9} {c.get('abc') or '-'} {c.get('manager') or '-':<8} {local} {c.get('tz', '')}"
    return (f"{narrator.hhmm(e['at']) if 'at' in e else '':>5} {c.get('number') or 'anonymous':<14} {profile:<44} "
            f"→ {chain}   [{e['rule']}, {e['latency_ms']:.1f} ms]\n"
            f"{'':21}{label}. Why: {'; '.join(e['reasons'][1:]) or e['reasons'][0]}")


def run_demo(args) -> int:
    try:
        agi, http = host_port(args.agi, "--agi"), host_port(args.http, "--http")
    except ConfigError as e:
        print(f"router demo: {e}", file=sys.stderr)
        return 2
    if args.speed <= 0:
        print("router demo: --speed must be above 0 (simulated seconds per real second)", file=sys.stderr)
        return 2
    try:
        asyncio.run(demo(args.calls, agi, http, args.interval, args.speed, args.rules or ""))
    except KeyboardInterrupt:
        pass
    except RuleFileError as e:
        print(f"router demo: the rules do not load:\n{e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"router demo: cannot listen ({e}); pass --agi/--http with free ports", file=sys.stderr)
        return 1
    return 0


def add_parser(sub) -> None:
    sp = sub.add_parser("demo", help="the real router on an in-process store, with a stream of sample calls",
                        description="Run the real router on an in-process store (no Redis, no Asterisk) with a "
                                    "simulated PBX placing a working day of calls through its FastAGI port; watch "
                                    "them in the terminal and on the live page. Ctrl-C stops it.")
    sp.add_argument("--calls", type=int, default=0, help="stop after this many calls (default: run until Ctrl-C)")
    sp.add_argument("--rules", help="a rule file or folder of your own (default: the reference rules, "
                                    "rules/default.yaml); the demo's customers and calls stay the same")
    sp.add_argument("--agi", default="127.0.0.1:4573", help="FastAGI HOST:PORT (default 127.0.0.1:4573)")
    sp.add_argument("--http", default="127.0.0.1:8080", help="live page and API HOST:PORT (default 127.0.0.1:8080)")
    sp.add_argument("--interval", type=float, default=2.0, help="real seconds between calls (default 2)")
    sp.add_argument("--speed", type=float, default=120.0,
                    help="simulated seconds per real second (default 120: a 30-minute deadline in 15 s)")
    sp.set_defaults(func=run_demo)
