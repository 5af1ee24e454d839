"""The rule-file schema: what an admin may write, and nothing else.

Pure: no file or network access. `rulefile` reads YAML into these models and maps
validation errors back to `file:line`.

This module is long because the schema is one document: every section an admin may write, with
its checks and the cross-references between sections, read together as the rule file is.
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from router.core.calendar import CalendarSettings
from router.core.callbacks import CallbackSettings, callback_problems
from router.core.crmrules import CrmSettings, crm_problems
from router.core.durations import Duration
from router.core.freepbx import FreePBXDestination
from router.core.hours import Hours, HourWindow
from router.core.menus import Menu, Names, menu_problems
from router.core.risk import Level, RiskSettings, risk_problems

KINDS = ("new", "repeat", "callback", "returning", "known")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MANAGER_STEP = "manager"
"""The route step that stands for the caller's personal manager."""
LAST_AGENT_STEP = "last_agent"
"""The route step that stands for whoever answered this number's last answered call."""
TASK_OWNER_STEP = "task_owner"
"""The route step that stands for the owner of the number's open task (follow-up, retention)."""
PERSON_STEPS = (MANAGER_STEP, LAST_AGENT_STEP, TASK_OWNER_STEP)
"""Route steps resolved per caller at ring time; reserved, never a target or manager name."""
MISSED_TYPE = "missed"
"""What the report calls a call nobody answered, whatever its type; declared only for its label."""
INTERNAL_TYPE = "internal"
"""Calls between extensions: counted apart from customers' calls."""
BUILTIN_TYPE_LABELS = {INTERNAL_TYPE: "internal call", MISSED_TYPE: "missed"}

def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


Kind = Literal["new", "repeat", "callback", "returning", "known"]
Abc = Literal["A", "B", "C"]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Strategy = Literal["expansion", "retention"]
STRATEGIES: tuple[Strategy, ...] = ("expansion", "retention")
SwitchMode = Literal["day", "night"]
SWITCH_MODES: tuple[SwitchMode, ...] = ("day", "night")
"""The day/night switch someone flips at runtime (the page, the API, a feature code): `day` until flipped."""
"""What the company favours: winning new customers, or keeping the valuable ones it has."""
SEGMENTS = ("new", "A", "B", "C")
Segment = Literal["new", "A", "B", "C"]
DEFAULT_ORDER = {"expansion": ("new", "A", "B", "C"), "retention": ("A", "B", "new", "C")}


def _str_list(value: Any) -> Any:
    value = _one_or_many(value)
    if isinstance(value, list):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    return value


Many = Annotated[list[str], BeforeValidator(_str_list), Field(min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, populate_by_name=True)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}: use an IANA name like Europe/Moscow") from None
    return value


class Company(Strict):
    timezone: str = "UTC"
    default_region: str = Field("RU", pattern=r"^[A-Z]{2}$")
    strategy: Strategy = "expansion"
    """The strategy in force until someone switches it at runtime (`POST /api/strategy`)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        return _zone(v)


class IdentifySettings(Strict):
    repeat_within: Duration = 3600
    callback_within: Duration = 86400
    returning_after: Duration = 90 * 86400
    last_agent_within: Duration = 14 * 86400


class CallsWithin(Strict):
    days: int = Field(gt=0, le=366)
    at_least: int = Field(ge=1)


class When(Strict):
    """Conditions, ANDed. `any`/`all`/`not` nest further conditions."""

    kind: Annotated[list[Kind], BeforeValidator(_one_or_many), Field(min_length=1)] | None = None
    abc: Annotated[list[Abc], BeforeValidator(_one_or_many), Field(min_length=1)] | None = None
    known: bool | None = None
    anonymous: bool | None = None
    has_manager: bool | None = None
    has_open_followup: bool | None = None
    has_last_agent: bool | None = None
    last_agent_within: Duration | None = None
    has_task_owner: bool | None = None
    manager: Many | None = None
    company: Many | None = None
    strategy: Annotated[list[Strategy], BeforeValidator(_one_or_many), Field(min_length=1)] | None = None
    choice: Many | None = None
    crm: dict[Annotated[str, Field(pattern=FIELD_NAME)], Many] | None = Field(None, min_length=1)
    callback_after: Literal["missed", "answered"] | None = None
    local_hours: Hours | None = None
    hours: Hours | None = None
    days: Annotated[list[Day], BeforeValidator(_one_or_many), Field(min_length=1)] | None = None
    dnid: Many | None = None
    prefix: Many | None = None
    tags: Many | None = None
    calls_within: CallsWithin | None = None
    prospect: bool | None = None
    risk: Annotated[list[Level], BeforeValidator(_one_or_many), Field(min_length=1)] | None = None
    risk_signal: Many | None = None
    holiday: bool | None = None
    workday: bool | None = None
    switch: Annotated[list[SwitchMode], BeforeValidator(_one_or_many), Field(min_length=1)] | None = None
    zone: Many | None = None
    any: list[When] | None = Field(None, min_length=1)
    all: list[When] | None = Field(None, min_length=1)
    not_: When | None = Field(None, alias="not")

    @field_validator("zone")
    @classmethod
    def _zones(cls, v: list[str]) -> list[str]:
        return [_zone(z) for z in v]

    @field_validator("prefix")
    @classmethod
    def _e164_prefix(cls, v: list[str]) -> list[str]:
        for p in v:
            if not re.fullmatch(r"\+\d{1,14}", p):
                raise ValueError(f"prefix {p!r} must be E.164 digits after a +, like +7495")
        return v


class Target(Strict):
    """A queue, an endpoint to dial, an IVR context, a menu of the rule file (`menus:`), or a FreePBX destination
    (router/core/freepbx.py)."""

    queue: str | None = None
    dial: str | None = None
    ivr: str | None = None
    menu: str | None = None
    freepbx: FreePBXDestination | None = None
    priority: int = Field(0, ge=0, le=1000)
    priorities: dict[Strategy, Annotated[int, Field(ge=0, le=1000)]] = {}
    """`priority` under a given strategy: {expansion: 20, retention: 5}."""
    timeout: int = Field(60, gt=0, le=3600)
    up: str | None = None
    down: str | None = None
    state: str | None = None
    owner: str | None = None
    type: str | None = None

    @field_validator("ivr")
    @classmethod
    def _context_name(cls, v: str | None) -> str | None:
        # the walk's Goto splits its target on `,` and its IF on `?` and `:`
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", v):
            raise ValueError(f"IVR context {v!r}: use letters, digits, '_', '.' and '-' only")
        return v

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Target:
        given = [k for k in ("queue", "dial", "ivr", "menu", "freepbx") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a target needs exactly one of queue, dial, ivr, menu, freepbx")
        return self


class Manager(Strict):
    endpoint: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*/\S+$")
    up: str | None = None
    down: str | None = None
    timeout: int = Field(20, gt=0, le=3600)
    state: str | None = None
    name: str | None = None


class Rule(Strict):
    name: str = Field(min_length=1)
    when: When | None = None
    route: Annotated[list[str], Field(min_length=1)]
    escalate: Literal["up", "down"] | None = None
    priority: int | None = Field(None, ge=0, le=1000)
    owner: str | None = None
    type: str | None = None


TYPE_NAME = r"^[a-z][a-z0-9_]*$"


class CallType(Strict):
    """A call type: its label in the report (any language); `prospect` marks a caller as a prospect."""

    label: str = Field(min_length=1, max_length=120)
    prospect: bool = False


def _call_type(value: Any) -> Any:
    return {"label": value} if isinstance(value, str) else value


class HttpRequest(Strict):
    """An HTTP call as a template: `{placeholders}` from the event, `${ENV}` from the environment."""

    method: Literal["GET", "POST", "PUT"] = "POST"
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    form: dict[str, str] | None = None
    json_body: dict[str, Any] | None = Field(None, alias="json")


FIELD_NAME = r"^[a-z_][a-z0-9_]{0,39}$"
PATH = r"^[A-Za-z0-9_\-$@]+(\.[A-Za-z0-9_\-$@]+)*$"
CRM_PROFILE_FIELDS = ("name", "abc", "manager", "tags", "timezone", "company", "status")
"""CRM fields the profile uses; any other mapped field is kept for `when: {crm: …}` and the log."""


class CrmRequest(HttpRequest):
    """One request of a CRM lookup. `map` takes fields from its JSON answer by dotted path
    (`result.CONTACT.0`); a later request may use them as `{placeholders}`. `translate` maps CRM
    values to the rule file's (a CRM user id to a manager name, a segment to a class)."""

    method: Literal["GET", "POST", "PUT"] = "GET"
    map: dict[Annotated[str, Field(pattern=FIELD_NAME)], Annotated[str, Field(pattern=PATH)]] = Field(
        min_length=1)
    translate: dict[str, dict[str, str]] = {}

    @field_validator("translate", mode="before")
    @classmethod
    def _text_keys(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {f: {str(a): str(b) for a, b in m.items()} if isinstance(m, dict) else m for f, m in v.items()}
        return v


class CrmDirectory(Strict):
    """A live CRM lookup at ring time, bounded, cached, failing open."""

    budget_ms: int = Field(150, gt=0, le=2000)
    """How long a call waits for the CRM (within the store's budget); past it, it is routed on what is known."""
    cache_ttl: Duration = 600
    negative_ttl: Duration = 120
    """How long "the CRM does not know this number" is remembered."""
    max_bytes: int = Field(256 * 1024, gt=0, le=16 * 1024 * 1024)
    """An answer larger than this is refused (and not read further)."""
    timeout: Duration = 5
    """How long a lookup that outlived the call's budget may still run to fill the cache."""
    requests: Annotated[list[CrmRequest], Field(min_length=1, max_length=5)]
    contract_requests: Annotated[list[CrmRequest], Field(max_length=5)] = []
    """Requests that find a customer by the contract number a caller typed in a menu (`{contract}`); a
    mapped `number` (the customer's phone) lets that number's history and open task count too."""


class Directory(Strict):
    crm: CrmDirectory | None = None


class Webhook(HttpRequest):
    events: list[Literal["created", "updated", "closed", "escalated", "at_risk"]] = ["created", "updated", "closed"]


class EscalationLevel(Strict):
    """A follow-up passes to `to` as soon as one of its conditions holds: overdue by `after`, `or_count` missed
    calls, no staff action (take, comment, call attempt) for `no_reaction` (counted from the last one, else from
    the task's opening), or more than `replies_over` replies (staff comments and the customer's calls and events)."""

    after: Duration | None = None
    or_count: int | None = Field(None, ge=2, le=1000)
    no_reaction: Duration | None = None
    replies_over: int | None = Field(None, ge=0, le=10000)
    to: str = Field(min_length=1, max_length=64)
    sms_to: str | None = Field(None, pattern=r"^\+\d{6,15}$")

    @model_validator(mode="after")
    def _some_condition(self) -> EscalationLevel:
        if self.after is None and self.or_count is None and self.no_reaction is None and self.replies_over is None:
            raise ValueError("an escalation level needs a condition: after, no_reaction, replies_over or or_count")
        return self


class FollowupSettings(Strict):
    deadline: Duration = 1800
    sms_every: Duration = 600
    sms_text: str = "We missed your call and will call you back shortly."
    chat_link: str = ""
    owner: str = "unassigned"
    order: dict[Strategy, Annotated[list[Segment], Field(min_length=1)]] = {}
    """Worklist order per strategy (new connections and classes; what is not listed comes after);
    a strategy not given here keeps DEFAULT_ORDER's."""
    escalate: list[EscalationLevel] = []
    escalation_text: str = "Follow-up {id} for {number} is yours now (level {level}): {why}"

    @field_validator("escalate")
    @classmethod
    def _levels_climb(cls, v: list[EscalationLevel]) -> list[EscalationLevel]:
        timed = [lv.after for lv in v if lv.after is not None]
        for lower, higher in itertools.pairwise(timed):
            if higher <= lower:
                raise ValueError("escalate: each level's `after` must be longer than the level before it")
        return v


class ReportSettings(Strict):
    """What the daily report keeps and how it measures a working day."""

    working_hours: Hours = HourWindow(9 * 60, 18 * 60)
    keep_days: Duration = 400 * 86400
    keep_calls: Duration = 90 * 86400


class RetentionSettings(Strict):
    """How long the store keeps what is not bounded otherwise (personal data laws want a limit)."""

    numbers: Duration = 400 * 86400
    """A number's history and state after its last call: at least the longest window the rules use."""
    tasks: Duration = 400 * 86400
    """A closed follow-up or retention task, with its log."""


class Notify(Strict):
    sms: HttpRequest | None = None
    webhooks: list[Webhook] = []
    retry_for: Duration = 86400
    """How long a message whose target is away is tried again before it is given up (default 24 h)."""


# people: the whisper on the agent's phone and the notices that reach staff (docs/people.md)

NoticeEvent = Literal["assigned", "escalated", "overdue", "at_risk"]

NOTICE_EVENTS: tuple[NoticeEvent, ...] = ("assigned", "escalated", "overdue", "at_risk")
"""What a person is told about: a task assigned to them, escalated to them, overdue, a customer of theirs
entering the at-risk list."""


class WhisperPart(Strict):
    """One piece of the prefix the agent's phone shows before the caller's name: `text` when `when` holds
    (always without one). `text` takes {abc}, {kind}, {risk}, {manager}, {company}."""

    text: str = Field(min_length=1, max_length=40)
    when: When | None = None


class EmailServer(Strict):
    """The SMTP server notices are sent through; `${NAME}`s are read from the environment when a mail goes out."""

    host: str = Field(min_length=1)
    port: int = Field(25, gt=0, le=65535)
    sender: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    username: str = ""
    password: str = ""
    starttls: bool = False
    tls: bool = False
    """Implicit TLS from the first byte (port 465); `starttls` upgrades a plain connection instead."""
    timeout: Duration = 10


class TelegramBot(Strict):
    """Telegram's bot API: `sendMessage` to each person's chat."""

    token: str = "${TELEGRAM_BOT_TOKEN}"
    api: str = Field("https://api.telegram.org", pattern=r"^https?://")


class Notices(Strict):
    events: list[NoticeEvent] = list(NOTICE_EVENTS)
    every: Duration = 600
    """At most one message per person per this long: what happens meanwhile waits and goes as one digest."""
    quiet_hours: Hours | None = None
    """Nothing is sent in these hours of the person's zone (their own setting wins); it goes after them."""
    email: EmailServer | None = None
    telegram: TelegramBot | None = None


class People(Strict):
    whisper: list[WhisperPart] = []
    whisper_max: int = Field(40, ge=8, le=80)
    """Characters the phone is shown at most: the prefix and the caller's name together."""
    notices: Notices = Notices()


class RuleSet(Strict):
    version: Literal[1]
    company: Company = Company()
    identify: IdentifySettings = IdentifySettings()
    targets: dict[str, Target] = {}
    managers: dict[str, Manager] = {}
    rules: list[Rule] = []
    fallback: Annotated[list[str], Field(min_length=1)]
    followup: FollowupSettings = FollowupSettings()
    notify: Notify = Notify()
    directory: Directory = Directory()
    crm: CrmSettings | None = None
    calendar: CalendarSettings = CalendarSettings()
    report: ReportSettings = ReportSettings()
    retention: RetentionSettings = RetentionSettings()
    types: dict[Annotated[str, Field(pattern=TYPE_NAME)], Annotated[CallType, BeforeValidator(_call_type)]] = {}
    types_by_dnid: dict[str, str] = {}
    types_by_choice: dict[str, str] = {}
    menus: dict[str, Menu] = {}

    @field_validator("types_by_dnid", mode="before")
    @classmethod
    def _dnid_keys(cls, v: Any) -> Any:
        return {str(k): val for k, val in v.items()} if isinstance(v, dict) else v

    def type_label(self, name: str) -> str:
        t = self.types.get(name)
        return t.label if t is not None else BUILTIN_TYPE_LABELS.get(name, name or "no type")

    def assignable_types(self) -> list[str]:
        """Type names a rule, a target or a person may give a call (never `missed`: that is an outcome)."""
        return [n for n in self.types if n != MISSED_TYPE]

    def correctable_types(self) -> list[str]:
        """Types a person may set afterwards: not `internal` either, which the caller's number decides."""
        return [n for n in self.assignable_types() if n != INTERNAL_TYPE]
    risk: RiskSettings = RiskSettings()
    people: People = People()
    callbacks: CallbackSettings = CallbackSettings()


@dataclass(frozen=True, slots=True)
class Problem:
    """A cross-reference error, located by its path in the rule document."""

    path: tuple[str | int, ...]
    message: str


def cross_check(rs: RuleSet) -> list[Problem]:
    """Names that must exist: route steps, escalation targets, fallback."""
    problems: list[Problem] = []
    both = set(rs.targets) & set(rs.managers)
    for name in sorted(both):
        problems.append(Problem(("managers", name), f"{name!r} is both a target and a manager: rename one"))
    for step in PERSON_STEPS:
        if step in rs.targets or step in rs.managers:
            section = "targets" if step in rs.targets else "managers"
            problems.append(Problem((section, step), f"{step!r} is reserved: it names a person per caller"))

    def known_step(name: str) -> bool:
        return name in rs.targets or name in rs.managers

    def unknown(what: str, name: str, known: list[str]) -> str:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown {what} {name!r} ({hint}known: {', '.join(sorted(known)) or 'none'})"

    steps = [*rs.targets, *rs.managers]

    for section, entries in (("targets", rs.targets), ("managers", rs.managers)):
        for name, entry in entries.items():
            for way in ("up", "down"):
                ref = getattr(entry, way)
                if ref is not None and not known_step(ref):
                    problems.append(Problem((section, name, way), unknown("target", ref, list(rs.targets))))
    for i, rule in enumerate(rs.rules):
        for j, step in enumerate(rule.route):
            if step not in PERSON_STEPS and not known_step(step):
                problems.append(Problem(("rules", i, "route", j),
                                        f"rule {rule.name!r}: " + unknown("target or manager", step, steps)))
        if rule.when is not None:
            _check_when(rule.when, ("rules", i, "when"), rs, problems)
    _check_types(rs, problems)
    for i, part in enumerate(rs.people.whisper):
        if part.when is not None:
            _check_when(part.when, ("people", "whisper", i, "when"), rs, problems)
    seen: dict[str, int] = {}
    for i, rule in enumerate(rs.rules):
        if rule.name in seen:
            problems.append(Problem(("rules", i, "name"), f"rule name {rule.name!r} is used twice (first at rule "
                                                          f"{seen[rule.name] + 1}): names identify decisions"))
        seen.setdefault(rule.name, i)
    for j, step in enumerate(rs.fallback):
        if step in PERSON_STEPS:
            problems.append(Problem(("fallback", j), f"fallback cannot use {step!r}: it runs when the caller is "
                                                     "unknown"))
        elif not known_step(step):
            problems.append(Problem(("fallback", j), unknown("target or manager", step, steps)))
    problems += [Problem(path, message) for path, message in risk_problems(rs.risk)]
    problems += [Problem(path, message) for path, message in crm_problems(rs.crm, set(rs.managers))]
    problems += _retention_problems(rs)
    problems += [Problem(path, message) for path, message in
                 callback_problems(rs.callbacks, {t.queue for t in rs.targets.values() if t.queue})]
    names = Names(frozenset(rs.targets), frozenset(rs.managers), frozenset(rs.assignable_types()),
                  frozenset(rule_choices(rs)) | frozenset(rs.types_by_choice), rs.types_by_choice)
    target_menus = {name: t.menu for name, t in rs.targets.items() if t.menu is not None}
    problems += [Problem(path, message) for path, message in menu_problems(rs.menus, names, target_menus)]
    return problems


def rule_choices(rs: RuleSet) -> set[str]:
    """Every IVR choice some rule's `when:` names."""
    found: set[str] = set()

    def walk(w: When | None) -> None:
        if w is None:
            return
        found.update(w.choice or ())
        for sub in (*(w.any or ()), *(w.all or ()), w.not_):
            walk(sub)

    for rule in rs.rules:
        walk(rule.when)
    return found


def _retention_problems(rs: RuleSet) -> list[Problem]:
    """A number's history must outlive every window that reads it, or the window could never see it."""
    ident = rs.identify
    windows = {"identify.returning_after": ident.returning_after, "identify.callback_within": ident.callback_within,
               "identify.repeat_within": ident.repeat_within, "identify.last_agent_within": ident.last_agent_within}
    name, longest = max(windows.items(), key=lambda kv: kv[1])
    if rs.retention.numbers <= longest:
        return [Problem(("retention", "numbers"), f"retention.numbers ({rs.retention.numbers // 86400} d) must be "
                                                  f"longer than {name} ({longest // 86400} d): a number's history "
                                                  "would be gone before that window could see it")]
    return []


def _check_types(rs: RuleSet, problems: list[Problem]) -> None:
    """`type:` on rules and targets and `types_by_dnid` name a type declared under `types:`."""
    known = rs.assignable_types()

    def check(name: str | None, path: tuple[Any, ...]) -> None:
        if name is None or name in known:
            return
        if name == MISSED_TYPE:
            why = "'missed' is what the report calls an unanswered call, not a type to assign"
        else:
            why = f"unknown call type {name!r} (declared under types: {', '.join(known) or 'none'})"
        problems.append(Problem(path, why))

    for name, target in rs.targets.items():
        check(target.type, ("targets", name, "type"))
    for i, rule in enumerate(rs.rules):
        check(rule.type, ("rules", i, "type"))
    for dnid, name in rs.types_by_dnid.items():
        check(name, ("types_by_dnid", dnid))
    for choice, name in rs.types_by_choice.items():
        check(name, ("types_by_choice", choice))
    for name, sig in rs.risk.signals.items():
        for t in sig.calls.types or () if sig.calls is not None else ():
            check(t, ("risk", "signals", name, "calls", "types"))


def _check_when(w: When, path: tuple[Any, ...], rs: RuleSet, problems: list[Problem]) -> None:
    for j, m in enumerate(w.manager or ()):
        if m not in rs.managers:
            problems.append(Problem((*path, "manager", j), f"unknown manager {m!r}"))
    for j, name in enumerate(w.risk_signal or ()):
        if name not in rs.risk.signals:
            problems.append(Problem((*path, "risk_signal", j), f"unknown risk signal {name!r} (defined under "
                                    f"risk.signals: {', '.join(sorted(rs.risk.signals)) or 'none'})"))
    for key in ("any", "all"):
        for j, sub in enumerate(getattr(w, key) or ()):
            _check_when(sub, (*path, key, j), rs, problems)
    if w.not_ is not None:
        _check_when(w.not_, (*path, "not"), rs, problems)
