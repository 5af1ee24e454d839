"""Callbacks the router dials: the rule file's `callbacks:` section, which numbers may be dialled, and when. Pure.

Anything that originates calls is a target for toll fraud (a stolen account dialling premium or foreign
numbers all night), so every callback passes three checks before Asterisk hears of it:
- the number: E.164 digits only (`+` and 8–15 digits; nothing that a dial string or the dialplan could
  read as more than a number), not in a `deny` range (`premium`: what libphonenumber calls premium-rate
  or shared-cost, in any country), and in an `allow` range (default: the company's own country code);
- the rate: at most `max_at_once` callbacks under way and `per_minute` started in a minute, across every
  router (router/state/callbacks.py counts them);
- the hour (worklist only, `dial_window`): within the customer's own calling hours in the customer's zone
  and the company's working hours on a working day of its calendar.

A refusal names the rule that refused it (`callbacks.deny '+7809'`), so an admin reads at once what to change.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import PhoneNumberType
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from router.core.calendar import CompanyCalendar
from router.core.durations import Duration
from router.core.heldplaces import HoldQueue
from router.core.hours import Hours, HourWindow

E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
"""What may reach the dialplan as a number to dial: `+` and 8 to 15 digits (ITU-T E.164), nothing else."""
PREMIUM = "premium"
"""The `deny` word for every country's premium-rate and shared-cost ranges, as libphonenumber knows them."""
PREMIUM_TYPES = frozenset({PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST})
PATTERN = r"^(\+[0-9]{1,15}|premium)$"

MAX_AT_ONCE = 4
"""Default callbacks under way at once, across routers: each holds an agent and a trunk channel; a trunk of a
small office has 4–8 channels and inbound calls need the rest."""
PER_MINUTE = 10
"""Default callbacks started per minute, across routers: a team's agents free up far slower than this, while a
stolen account cannot run up more than 10 minutes of premium calls a minute."""
ATTEMPTS = 3
"""Default dial attempts per task before the worklist leaves it to a person (each is written on the task)."""
SPACING = 15 * 60
"""Default seconds between two attempts on one task: a customer who did not pick up is not rung again at once."""
AGENT_RING = 30
"""Default seconds the agent's phone rings before the attempt is given up (the customer is never dialled then)."""
HOLD_SECONDS = 600
"""How long a number stays claimed by one callback when its end is never seen (a router died mid-call): the
lock's expiry, longer than any ring plus a short conversation; the call's outcome releases it sooner."""

Mode = Literal["preview", "progressive"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorklistEntry(Strict):
    """Who works a self-dialling worklist: an `owner`'s tasks (their own and the names they hold) or the tasks
    of a `queue`'s agents; `preview` offers the next task on the agent's page, `progressive` rings the agent
    as soon as he is free."""

    owner: str | None = Field(None, min_length=1)
    queue: str | None = Field(None, min_length=1)
    mode: Mode = "preview"

    @model_validator(mode="after")
    def _one(self) -> WorklistEntry:
        if (self.owner is None) == (self.queue is None):
            raise ValueError("a worklist entry names exactly one of owner or queue")
        return self


class CallbackSettings(Strict):
    """`callbacks:` — how the router dials a follow-up's customer: agent first, then the customer."""

    context: str = Field("callrouter-callback", pattern=r"^[A-Za-z0-9_.-]+$")
    """The outbound dialplan context the agent's answered phone is sent to (dialplans/callrouter-callback.conf)."""
    caller_id: str = Field("", pattern=r"^(\+?[0-9]{3,15})?$")
    """The company's number the customer sees; "" keeps what the trunk sets."""
    allow: list[str] | None = None
    """Number prefixes that may be dialled (E.164, `+7`); default: the company's own country code."""
    deny: list[str] = [PREMIUM]
    """Prefixes refused even when allowed (`+7809`); `premium` stands for every premium-rate and shared-cost range."""
    max_at_once: int = Field(MAX_AT_ONCE, ge=1, le=1000)
    per_minute: int = Field(PER_MINUTE, ge=1, le=10000)
    attempts: int = Field(ATTEMPTS, ge=1, le=20)
    spacing: Duration = SPACING
    agent_ring: int = Field(AGENT_RING, ge=5, le=300)
    customer_hours: Hours = HourWindow(9 * 60, 21 * 60)
    """The customer's own calling hours, in the customer's zone."""
    company_hours: Hours | None = None
    """The company's working hours for the worklist; default the report's `working_hours`."""
    worklist: list[WorklistEntry] = []
    hold: dict[str, HoldQueue] = {}
    """Queues whose callers may press 1 to be called back keeping their place (router/core/heldplaces.py)."""

    @field_validator("allow", "deny")
    @classmethod
    def _prefixes(cls, v: list[str] | None) -> list[str] | None:
        for p in v or ():
            if not re.fullmatch(PATTERN, p):
                raise ValueError(f"number pattern {p!r}: write an E.164 prefix like +7 or +7495, or `premium`")
        return v


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a number may not be dialled: the rule that refused it, and what to do."""

    number: str
    pattern: str
    """The pattern that refused it (`callbacks.deny '+7809'`), or the check (`E.164 digits`)."""
    why: str

    def __str__(self) -> str:
        return f"{self.number!r} refused by {self.pattern}: {self.why}"


def allowed_prefixes(settings: CallbackSettings, region: str) -> list[str]:
    if settings.allow is not None:
        return settings.allow
    return [f"+{phonenumbers.country_code_for_region(region)}"]


def refusal(number: str, settings: CallbackSettings, region: str) -> Refusal | None:
    """None when `number` may be dialled; else the pattern that refused it. `number` is attacker-reachable
    text (a task's number came from a caller ID): it is matched, never trusted."""
    shown = number[:32]
    if not E164.match(number):
        return Refusal(shown, "E.164 digits", "only + and 8 to 15 digits are ever dialled")
    for p in settings.deny:
        if p == PREMIUM:
            try:
                kind = phonenumbers.number_type(phonenumbers.parse(number))
            except phonenumbers.NumberParseException:
                kind = PhoneNumberType.UNKNOWN
            if kind in PREMIUM_TYPES:
                return Refusal(shown, f"callbacks.deny {PREMIUM!r}", "a premium-rate or shared-cost number")
        elif number.startswith(p):
            return Refusal(shown, f"callbacks.deny {p!r}", "the rule file refuses this range")
    allow = allowed_prefixes(settings, region)
    if not any(number.startswith(p) for p in allow):
        return Refusal(shown, f"callbacks.allow {allow!r}", "outside every allowed range (add its prefix to "
                                                             "callbacks.allow to dial it)")
    return None


def customer_zone(record_zone: str | None, number_zone: str | None, company: ZoneInfo) -> ZoneInfo:
    """The zone a customer's hours are read in: their record's, else the one their number implies, else the
    company's (as `profile` reads it)."""
    for name in (record_zone, number_zone):
        if name:
            try:
                return ZoneInfo(name)
            except (KeyError, ValueError):
                continue
    return company


def dial_window(now: float, zone: ZoneInfo, settings: CallbackSettings, company: ZoneInfo,
                calendar: CompanyCalendar, working_hours: HourWindow) -> str:
    """"" when a worklist callback may be dialled now; else why not (logged and shown on the page)."""
    local = datetime.fromtimestamp(now, zone)
    if not settings.customer_hours.contains(local.hour * 60 + local.minute):
        return f"{local:%H:%M} in the customer's zone {zone.key}, outside {settings.customer_hours}"
    at_company = datetime.fromtimestamp(now, company)
    day = calendar.day(at_company.date())
    if not day.workday:
        return day.describe()
    hours = settings.company_hours or working_hours
    if not hours.contains(at_company.hour * 60 + at_company.minute):
        return f"{at_company:%H:%M} company time, outside working hours {hours}"
    return ""


def attempt_due(attempts: int, last_attempt: float | None, now: float, settings: CallbackSettings) -> bool:
    """Whether the worklist may try a task again: fewer than `attempts` so far, the last `spacing` ago."""
    if attempts >= settings.attempts:
        return False
    return last_attempt is None or now - last_attempt >= settings.spacing


@dataclass(frozen=True, slots=True)
class Candidate:
    """An open task as the worklist weighs it: its place in the strategy's order comes from the list it is in."""

    task_id: str
    number: str
    owner: str
    attempts: int
    last_attempt: float | None
    zone: ZoneInfo


def covered_owners(settings: CallbackSettings, targets_owners: dict[str, set[str]], names: frozenset[str],
                   ) -> tuple[set[str], Mode | None]:
    """The task owners whose tasks the worklist dials for a person holding `names`, and the entry's mode (the
    first entry that covers one of the person's names). `targets_owners`: queue name -> the owners its targets
    name. A `queue:` entry covers the owners that queue's targets name, for the people who hold those names."""
    owners: set[str] = set()
    mode: Mode | None = None
    for entry in settings.worklist:
        named = {entry.owner} if entry.owner is not None else targets_owners.get(entry.queue or "", set()) | \
            {entry.queue or ""}
        mine = named & names
        if mine:
            owners |= mine
            mode = mode or entry.mode
    return owners, mode


def next_candidate(candidates: list[Candidate], owners: set[str], now: float, settings: CallbackSettings,
                   company: ZoneInfo, calendar: CompanyCalendar, working_hours: HourWindow,
                   ) -> tuple[Candidate | None, list[str]]:
    """The first task, in the worklist's order, that may be dialled now for someone covering `owners`, and why
    each one before it was passed over (for the page and the log)."""
    passed: list[str] = []
    for c in candidates:
        if c.owner not in owners:
            continue
        if not attempt_due(c.attempts, c.last_attempt, now, settings):
            why = (f"{c.attempts} attempts made (callbacks.attempts)" if c.attempts >= settings.attempts
                   else f"last attempt {int(now - (c.last_attempt or now))} s ago (callbacks.spacing)")
            passed.append(f"{c.task_id}: {why}")
            continue
        closed = dial_window(now, c.zone, settings, company, calendar, working_hours)
        if closed:
            passed.append(f"{c.task_id}: {closed}")
            continue
        return c, passed
    return None, passed


def callback_problems(settings: CallbackSettings, queues: set[str]) -> list[tuple[tuple[str | int, ...], str]]:
    """Queues the section names that no target of the rule file routes to (a typo would silently offer nothing)."""
    out: list[tuple[tuple[str | int, ...], str]] = []

    def unknown(name: str) -> str:
        close = difflib.get_close_matches(name, sorted(queues), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        known = ", ".join(sorted(queues)) or "none"
        return f"no target routes to queue {name!r} ({hint}queues of the targets: {known})"

    for i, entry in enumerate(settings.worklist):
        if entry.queue is not None and entry.queue not in queues:
            out.append((("callbacks", "worklist", i, "queue"), unknown(entry.queue)))
    for name in settings.hold:
        if name not in queues:
            out.append((("callbacks", "hold", name), unknown(name)))
    return out
