"""The demo's day as a real one: who calls and how each call ends (the script, then random traffic), the
lines customers and prospects call, and the company's midnight said aloud."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from router.asterisk.pbxsim import Attempt
from router.core.decide import CompiledRules

SALES_LINE, SUPPORT_LINE = "88006008208", "88006008200"
"""The reference rules' lines (`types_by_dnid`): the sales line types calls as new connections."""

QUEUE_MEMBERS = {"management": "PJSIP/103", "new-connection": "PJSIP/201", "support": "PJSIP/301",
                 "operators": "PJSIP/401", "retention": "PJSIP/501"}
"""Who rings in each queue of the reference rules (management: sidorov's phone, a manager the rules name)."""


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




def lines(rules: CompiledRules) -> tuple[str, str]:
    """(sales line, support line) of the rules' `types_by_dnid`: the number typed as a prospect's call (a new
    connection), and one typed otherwise; the reference rules' numbers when the rules type no line so."""
    rs = rules.rs
    prospect = [n for n, t in rs.types_by_dnid.items() if rs.types.get(t) is not None and rs.types[t].prospect]
    other = [n for n, t in rs.types_by_dnid.items() if n not in prospect]
    return (prospect[0] if prospect else SALES_LINE), (other[0] if other else SUPPORT_LINE)


def read_customers(path: str) -> set[str]:
    with open(path, encoding="utf-8") as f:
        return {line.split(",", 1)[0] for line in f if line.startswith("+")}


async def say_the_day(clock: Callable[[], float], tz: ZoneInfo, say: Callable[[str], None]) -> None:
    """When the simulated clock passes the company's midnight: which day the report shows now, and where the
    day before is (the report is per company day)."""
    day = datetime.fromtimestamp(clock(), tz).date()
    while True:
        await asyncio.sleep(0.5)
        now = datetime.fromtimestamp(clock(), tz).date()
        if now != day:
            say(f"— midnight in {tz.key}: today's report (/report) now shows {now.isoformat()}; "
                f"the calls before midnight are in /report?day={day.isoformat()}")
            day = now
