"""`router demo`: the whole product on one machine, with no Redis, no Asterisk and no network.

The real router answers calls on its real FastAGI port; the store's code talks to fakeredis's
in-process server; the real AMI listener follows every call on a real socket from a simulated
PBX (`router.asterisk.pbxsim`, the same AMI server the tests use) that ends each call as a
working day would: answered after some ringing, missed, a busy manager, a queue timeout, an
answered callback and an unanswered one, callers who press keys in the rule file's menu (the PBX
sends the menus' events, the router is asked again as the generated dialplan asks it). Missed
calls become follow-ups, one SMS goes to a local sink that prints it, an answered callback closes
its task. Simulated time runs `speed` times faster than real time, so a 30-minute follow-up
deadline passes within the first minute.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from zoneinfo import ZoneInfo

import fakeredis
import orjson
from aiohttp import ClientSession, web

from router.asterisk import callsim
from router.asterisk.ami import AMITarget
from router.asterisk.amisim import AMIServer
from router.asterisk.pbxsim import Attempt, Press, SimulatedPBX
from router.cli.demoday import SUPPORT_LINE, lines, read_customers, say_the_day
from router.config import ConfigError, host_port
from router.core.decide import CompiledRules
from router.core.menus import INPUT_KEY, Menu
from router.core.rulefile import RuleFileError, load_rules
from router.core.rules import HttpRequest, Notify
from router.directory.customers import import_csv
from router.directory.numbering import import_ranges
from router.server import Running, start
from router.service import Router
from router.state.store import Store

DEMO_START = datetime(2026, 11, 23, 22, 0, tzinfo=ZoneInfo("Europe/Moscow"))
"""A Monday evening in Moscow: early morning in Vladivostok, so the night rule shows."""

QUEUE_MEMBERS = {"management": "PJSIP/103", "new-connection": "PJSIP/201", "support": "PJSIP/301",
                 "operators": "PJSIP/401", "retention": "PJSIP/501"}
"""Who rings in each queue of the reference rules (management: sidorov's phone, a manager the rules name)."""

CALLBACK_AGENT = "PJSIP/201"
"""The sales agent who calls missed prospects back."""

LISTEN = 6.0
"""Simulated seconds a caller listens to a menu's prompt before pressing a key."""


@dataclass(frozen=True)
class Scene:
    """One scripted call: who calls, what the narrator says, and how each step of the route ends.

    `fate` holds one `result[:ring[:talk]]` per step (simulated seconds); steps past it are not
    reached. `callback`: after the call, the agent calls the number back — `answered` or not.
    `presses`: (menu, key) the caller presses in the menus the call reaches (`input` for `typed`,
    the digits of a contract number); `fate` then plays the chain the router answers after them.
    """

    number: str
    label: str
    fate: tuple[str, ...]
    callback: str = ""
    dnid: str = ""
    """The line called; empty: the one a real day uses (a customer the support line, anyone else the sales line)."""
    presses: tuple[tuple[str, str], ...] = ()
    typed: str = ""
    events: tuple[tuple[str, str, float], ...] = ()
    """(kind, value, days ago): customer events the CRM posts before the call."""


SCRIPT = [
    Scene("+79035550101", "A customer: straight to her personal manager", ("answer:6:240",)),
    Scene("+79035550102", "A customer whose manager is on the phone: escalated up", ("answer:15:180",)),
    Scene("+79161234500", "a number never seen before: the new-connection queue, priority 10; "
          "the caller gives up after 45 s", ("hangup:45",)),
    Scene("+79035550104", "C customer: the self-service menu; she presses 2 (payment), the router asked again "
          "sends her to support, typed payment", ("answer:12:90",), presses=(("main", "2"),)),
    Scene("+79990001122", "a phone we do not know, on the support line: the menu; the caller presses 5 and types "
          "contract 12345674, which is Olga Smirnova's: routed as her, to her manager", ("answer:5:200",),
          dnid=SUPPORT_LINE, presses=(("main", "5"), ("contract", "input")), typed="12345674"),
    Scene("+79161234500", "the same prospect again a few minutes later: a repeat, missed again",
          ("hangup:30",), callback="answered"),
    Scene("+79147000123", "Vladivostok customer before dawn their time: the night duty engineer "
          "does not answer, the support queue does", ("noanswer:30", "answer:20:200")),
    Scene("+74951234567", "national format, Moscow landline: known B customer", ("answer:25:320",)),
    Scene("+79035550103", "we called him back and missed him; now he calls us: callback", ("answer:5:150",)),
    Scene("anonymous", "withheld number: still routed; the first queue times out, the next answers",
          ("timeout:60", "answer:10:90")),
    Scene("+14155550123", "a foreign caller: zone from the number, local time in California; "
          "hangs up after 20 s", ("hangup:20",), callback="unanswered"),
    Scene("+74951234567", "Torgovy Dom again: a repeat, straight to the agent who answered them last, "
          "no story told twice", ("answer:4:200",)),
    Scene("+79035550103", "the CRM posted a technician visit and a rating of 2 for Pavel Orlov: he enters the "
          "at-risk list, and his call goes to retention", ("answer:8:420",),
          events=(("technician_visit", "", 3), ("rating", "2", 1))),
]

EXTRA_NUMBERS = ["+79035550101", "+79035550104", "+79161234500", "+79147000123", "+79990001122", "+79035550103"]


class DemoClock:
    """Simulated wall-clock time: starts at `start` and runs `speed` times faster than real time."""

    def __init__(self, start: float, speed: float):
        self.start, self.speed = start, speed
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self._t0) * self.speed


def data_path(name: str) -> str:
    return str(resources.files("router").joinpath(f"data/{name}"))


def attempts(steps: list[dict], fate: tuple[str, ...]) -> list[Attempt]:
    """The route's steps as the PBX plays them, one fate per step."""
    out = []
    for step, spec in zip(steps, fate, strict=False):
        result, *times = spec.split(":")
        ring, talk = (float(x) for x in (*times, "0", "0")[:2])
        out.append(Attempt(step["type"], step["dest"], result, ring, talk,
                           member=QUEUE_MEMBERS.get(step["dest"], "PJSIP/401")))
    return out


def random_fate(rnd: random.Random) -> tuple[str, ...]:
    roll = rnd.random()
    talk = rnd.randint(40, 420)
    if roll < 0.7:
        return (f"answer:{rnd.randint(3, 25)}:{talk}",)
    if roll < 0.85:
        return (rnd.choice(["busy", "noanswer:20"]), f"answer:{rnd.randint(5, 40)}:{talk}")
    return (f"hangup:{rnd.randint(10, 70)}",)


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


async def sms_sink(say) -> web.AppRunner:
    """The SMS gateway of the demo: prints every message instead of sending it."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        say(f"  ✉ SMS to {body.get('to')}: {body.get('text')}")
        return web.json_response({"status": "queued", "id": secrets.token_hex(4)})

    app = web.Application()
    app.router.add_post("/sms", receive)
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
    rs = rs.model_copy(update={"notify": Notify(sms=sms)})
    router = Router(CompiledRules(rs, rules_file), store, rules_path=rules_file, clock=clock)
    narrator.tz = ZoneInfo(rs.company.timezone)
    await import_csv(store, data_path("demo-customers.csv"))
    customers = read_customers(data_path("demo-customers.csv"))
    sales_line, support_line = lines(router.rules)
    await import_ranges(store, data_path("numbering-sample.csv"))
    await store.record_outbound("+79035550103", clock() - 3600, answered=False)
    pbx_ami = AMIServer(secret=secrets.token_hex(8), devices={"PJSIP/102": "INUSE"})  # petrova is on a call
    await pbx_ami.start()
    pbx = SimulatedPBX(pbx_ami, speed)
    running = await start(router, agi, http, ami=AMITarget("127.0.0.1", pbx_ami.port, pbx_ami.username,
                                                            pbx_ami.secret))
    listener = running.ami
    assert listener is not None, "started with an AMI target"
    await asyncio.wait_for(listener.synced.wait(), 10)
    await listener.flush()  # the device states it just read are in the store before the first call
    narrator.say(f"callrouter demo — rules {rules_file}\n"
                 f"FastAGI agi://{agi[0]}:{running.agi.port}/route   live page http://{http[0]}:{running.http_port}/"
                 f"   simulated clock starts {DEMO_START:%a %Y-%m-%d %H:%M %Z}, {speed:g}× real time\n")
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
                await post_events(running.http_port, scene, clock(), n)
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

            task = asyncio.create_task(play(pbx, scene, d, ask, router.rules.rs.menus))
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


async def post_events(http_port: int, scene: Scene, now: float, n: int) -> None:
    """What a CRM does: POST /api/events (ids make a re-sent batch harmless)."""
    events = [{"id": f"demo-{n}-{i}", "number": scene.number, "kind": kind, "value": value,
               "at": now - days * 86400} for i, (kind, value, days) in enumerate(scene.events)]
    async with ClientSession() as http, http.post(f"http://127.0.0.1:{http_port}/api/events",
                                                   json={"events": events}) as r:
        r.raise_for_status()


async def play(pbx: SimulatedPBX, scene: Scene, d: dict, ask, menus: dict[str, Menu]) -> None:
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
        await pbx.callback(CALLBACK_AGENT, scene.number, answered=scene.callback == "answered", ring=12, talk=240)


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
