"""IVR menus: the rule file's `menus:` section, what each key does, and how a typed number is checked. Pure.

A menu plays its prompts (sound files the admin records, named as Asterisk's Playback names them:
`custom/main-menu`, no extension) and waits `timeout` seconds for a key. Each option maps a key
(`0`-`9`, `*`, `#`) to one action:

- `{choice: NAME}`: ask the router again with `choice=NAME`; the rules decide (`when: {choice: …}`),
  with an optional `type:` for the call;
- `{type: NAME}`: the same, the choice being the type's name and the call typed so;
- `{target: NAME}`: ask the router again; it routes to that target or manager (an implicit rule
  placed first: the strategy's priority, `escalate:`, the call type and follow-ups apply);
- `{menu: NAME}`: another menu; `repeat`: the prompts again; `operator`: the menu's `operator:`
  target, through the router like `target:`; `hangup`.

A menu with `input:` reads digits instead of one key (a contract number): the router checks
their length and checksum, looks the number up in the directory and, when it knows it, routes
the call as that customer. `tries` timeouts and wrong keys (or wrong numbers) in all send the
caller to `on_timeout` or `on_invalid`, whichever ended the last try.

Asterisk runs menus as dialplan that `router ivr dialplan` writes (router/ivr/dialplan.py):
nothing holds a FastAGI session while a caller listens to a prompt. Every way out of a menu
towards a person asks the router again with AGI arguments `menu=`, `key=` (a key, `timeout`,
`invalid` or `input`) and `choice=` or the typed digits, so one engine decides.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

MENU_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
"""Menu names: they become dialplan context names and report counter fields."""
KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "*", "#")
TIMEOUT_KEY = "timeout"
"""`key=` when the caller's last try timed out (the menu's `on_timeout`)."""
INVALID_KEY = "invalid"
"""`key=` when the caller's last try was a key no option has, or a number nobody knows (`on_invalid`)."""
INPUT_KEY = "input"
"""`key=` of a menu's typed digits (a contract number)."""
ACTIONS = ("repeat", "operator", "hangup")
CHOICE = r"^[A-Za-z0-9_.-]{1,64}$"
"""What `choice=` may carry (router/asterisk/variables.py keeps the same characters)."""
SOUND = r"/?[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*"
"""A sound file as Playback names it: a path under Asterisk's sounds folder, or an absolute one, with no
extension; no `..`, `&` or `,` (Playback's own separators)."""
CONTEXT_PREFIX = "callrouter-menu-"
INPUT_FIELDS = ("contract",)
"""What typed digits identify: a directory field (customers CSV, CRM)."""
MAX_DIGITS = 20


def menu_context(name: str) -> str:
    """The dialplan context of a menu (what a target `menu: NAME` routes to)."""
    return CONTEXT_PREFIX + name


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _action_or_mapping(value: Any) -> Any:
    if isinstance(value, str):
        if value in ACTIONS:
            return {"then": value}
        close = difflib.get_close_matches(value, ACTIONS, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown action {value!r}: {hint}write repeat, operator, hangup, or a mapping "
                         "{choice: …}, {type: …}, {target: …}, {menu: …}")
    return value


class Option(_Section):
    """What one key does (see the module's docstring)."""

    choice: str | None = Field(None, pattern=CHOICE)
    type: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$")
    target: str | None = None
    menu: str | None = None
    then: Literal["repeat", "operator", "hangup"] | None = None
    escalate: Literal["up", "down"] | None = None
    label: str | None = Field(None, min_length=1, max_length=60)
    """How the report names this option (default: what it leads to)."""

    @model_validator(mode="after")
    def _one_action(self) -> Option:
        leads = [k for k in ("choice", "target", "menu", "then") if getattr(self, k) is not None]
        if not leads and self.type is None:
            raise ValueError("an option needs one of choice, type, target, menu, or repeat/operator/hangup")
        if len(leads) > 1:
            raise ValueError(f"an option does one thing: {' and '.join(leads)} given together")
        if self.type is not None and (self.menu is not None or self.then is not None):
            raise ValueError("type: goes with choice: or target:, not with a menu or an action")
        if self.escalate is not None and self.target is None and self.then != "operator":
            raise ValueError("escalate: goes with target: or operator")
        return self

    @property
    def asks(self) -> bool:
        """Leaving the menu this way asks the router again."""
        return self.menu is None and self.then not in ("repeat", "hangup")

    @property
    def asked_choice(self) -> str:
        """The `choice=` the dialplan passes: the choice, else a type-only option's type."""
        if self.choice is not None:
            return self.choice
        return self.type or "" if self.target is None and self.then is None else ""

    def name(self) -> str:
        """What the option leads to, for the report and the reasons."""
        if self.label:
            return self.label
        if self.then is not None:
            return self.then
        return self.choice or self.target or (f"menu {self.menu}" if self.menu else "") or self.type or ""


OptionSpec = Annotated[Option, BeforeValidator(_action_or_mapping)]


def _length(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", value):
        lo, hi = (int(x) for x in value.split("-"))
        return (lo, hi)
    raise ValueError(f"length {value!r}: write a number of digits (8) or a range (6-10)")


class DigitInput(_Section):
    """Digits the caller types, identifying them (`field: contract`)."""

    field: Literal["contract"] = "contract"
    length: Annotated[tuple[int, int], BeforeValidator(_length)]
    checksum: Literal["luhn"] | None = None
    """`luhn`: the last digit is the Luhn check digit of the others (as on bank cards and many contract numbers)."""

    @field_validator("length")
    @classmethod
    def _sane(cls, v: tuple[int, int]) -> tuple[int, int]:
        lo, hi = v
        if not 1 <= lo <= hi <= MAX_DIGITS:
            raise ValueError(f"length {lo}-{hi}: between 1 and {MAX_DIGITS} digits, the shorter first")
        return v

    def problem(self, digits: str) -> str:
        """Why these digits cannot be a number of this kind; empty when they can."""
        lo, hi = self.length
        if not digits.isdigit() or not digits.isascii():
            return "not digits"
        if not lo <= len(digits) <= hi:
            return f"{len(digits)} digit{'' if len(digits) == 1 else 's'}, {lo}{'' if lo == hi else f'-{hi}'} expected"
        if self.checksum == "luhn" and not luhn_valid(digits):
            return "the check digit does not match (Luhn)"
        return ""


def luhn_valid(digits: str) -> bool:
    """The Luhn check: doubling every second digit from the right, the sum ends in 0."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _keys(value: Any) -> Any:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


def _sound(value: Any) -> Any:
    if isinstance(value, str) and not (len(value) <= 200 and re.fullmatch(SOUND, value)):
        raise ValueError(f"sound {value[:60]!r}: a file name as Playback takes it, without its extension "
                         "(custom/main-menu): letters, digits, _ . - and /, no .. & or ,")
    return value


Sound = Annotated[str, BeforeValidator(_sound)]


class Menu(_Section):
    label: str | None = Field(None, min_length=1, max_length=60)
    """How the report names the menu (default: its name)."""
    prompts: Annotated[list[Sound], Field(min_length=1, max_length=20)]
    """Played in order, interruptible by a key."""
    invalid_prompt: Sound | None = None
    """Played after a key no option has, or a number nobody knows, before the prompts again."""
    options: Annotated[dict[str, OptionSpec], BeforeValidator(_keys)] = {}
    input: DigitInput | None = None
    timeout: int = Field(5, ge=1, le=60)
    """Seconds to wait for a key (or for the digits) after the prompts."""
    tries: int = Field(3, ge=1, le=10)
    """Timeouts and wrong keys in all before the caller is sent on."""
    operator: str | None = None
    """The target or manager `operator` leads to."""
    on_timeout: OptionSpec | None = None
    """Where a caller goes whose last try timed out (default: operator when `operator:` is set, else hangup)."""
    on_invalid: OptionSpec | None = None
    """Where a caller goes whose last try was a wrong key or number (default as `on_timeout`)."""

    @model_validator(mode="after")
    def _options_or_input(self) -> Menu:
        if bool(self.options) == (self.input is not None):
            raise ValueError("a menu has either options: (one key each) or input: (digits), not both or neither")
        return self

    def after(self, key: str) -> Option:
        """What the caller's last try leads to: `on_timeout` or `on_invalid`, with their defaults."""
        given = self.on_timeout if key == TIMEOUT_KEY else self.on_invalid or self.on_timeout
        return given or Option(then="operator" if self.operator else "hangup")

    def option(self, key: str) -> Option | None:
        """What a key (or `timeout`, `invalid`) does; None for a key no option has."""
        if key in (TIMEOUT_KEY, INVALID_KEY):
            return self.after(key)
        return self.options.get(key)

    def exits(self) -> list[tuple[str, Option]]:
        """Every way out of the menu: the options, then the last timeout and the last wrong key."""
        return [*self.options.items(), (TIMEOUT_KEY, self.after(TIMEOUT_KEY)),
                (INVALID_KEY, self.after(INVALID_KEY))]

    def prompt_names(self) -> list[tuple[tuple[Any, ...], str]]:
        """(path in the menu, sound name) of every sound it plays."""
        out: list[tuple[tuple[Any, ...], str]] = [(("prompts", i), p) for i, p in enumerate(self.prompts)]
        if self.invalid_prompt:
            out.append((("invalid_prompt",), self.invalid_prompt))
        return out


@dataclass(frozen=True, slots=True)
class Asked:
    """What the dialplan said when it asked the router again from a menu (AGI arguments)."""

    menu: str = ""
    key: str = ""
    choice: str = ""
    digits: str = ""
    """The typed number of an input menu (`contract=`)."""
    dnid: str = ""
    """The number the caller called (`dnid=`: in a menu, the dialplan's extension is the key pressed)."""

    def __bool__(self) -> bool:
        return bool(self.menu or self.choice)


NOT_ASKED = Asked()
"""A call's first ask: no menu behind it."""


@dataclass(frozen=True, slots=True)
class Names:
    """What the rest of the rule file defines, for checking the menus' references."""

    targets: frozenset[str]
    managers: frozenset[str]
    types: frozenset[str]
    choices: frozenset[str]
    """Choices some rule's `when: {choice: …}` or `types_by_choice` names."""
    types_by_choice: dict[str, str]


def _unknown(what: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown {what} {name!r} ({hint}known: {', '.join(sorted(known)) or 'none'})"


def menu_problems(menus: dict[str, Menu], names: Names,
                  target_menus: dict[str, str]) -> list[tuple[tuple[Any, ...], str]]:
    """Names a menu uses that must exist; `target_menus` maps each target to the menu it names."""
    out: list[tuple[tuple[Any, ...], str]] = []
    steps = sorted(names.targets | names.managers)
    for target, named in target_menus.items():
        if named not in menus:
            out.append((("targets", target, "menu"), _unknown("menu", named, list(menus))))
    choice_types: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for name, menu in menus.items():
        here = ("menus", name)
        if not MENU_NAME.match(name):
            out.append((here, f"menu name {name!r}: lower-case letters, digits and _, at most 32"))
        for key in menu.options:
            if key not in KEYS:
                out.append(((*here, "options", key), f"key {key!r}: a menu's keys are 0-9, * and # (quote them: "
                                                     '"1", "*", "#")'))
        for way in ("on_timeout", "on_invalid"):
            if (o := getattr(menu, way)) is not None and o.then == "repeat":
                out.append(((*here, way), "repeat would keep the caller in the menu for ever: send them on"))
        if menu.operator is not None and menu.operator not in names.targets | names.managers:
            out.append(((*here, "operator"), _unknown("target or manager", menu.operator, steps)))
        for key, o in menu.exits():
            where = (*here, "options", key) if key in menu.options else (*here, f"on_{key}")
            if o.target is not None and o.target not in names.targets | names.managers:
                out.append(((*where, "target"), _unknown("target or manager", o.target, steps)))
            if o.menu is not None and o.menu not in menus:
                out.append(((*where, "menu"), _unknown("menu", o.menu, list(menus))))
            if o.then == "operator" and menu.operator is None:
                out.append((where, f"operator: menu {name!r} names no operator (add `operator: TARGET` to it)"))
            if o.type is not None and o.type not in names.types:
                out.append(((*where, "type"), f"unknown call type {o.type!r} (declared under types: "
                                              f"{', '.join(sorted(names.types)) or 'none'})"))
            choice = o.asked_choice
            if o.choice is not None and o.type is None and choice not in names.choices:
                close = difflib.get_close_matches(choice, sorted(names.choices), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                out.append(((*where, "choice"), f"choice {choice!r}{hint}: no rule's `when: {{choice: …}}` and no "
                            "types_by_choice entry names it, so it would be routed like any other call; name it in "
                            "a rule, give it a `type:`, or write `target:` to send it somewhere directly"))
            if choice and o.target is None:
                typed = o.type or names.types_by_choice.get(choice)
                first = choice_types.setdefault(choice, (typed or "", where))
                if typed and first[0] and first[0] != typed:
                    out.append((where, f"choice {choice!r} is typed {typed!r} here but {first[0]!r} elsewhere "
                                       "(menus and types_by_choice must agree)"))
    return out


@dataclass(slots=True)
class WrongInput:
    """The router's answer to typed digits it cannot take (malformed, or nobody's): no decision; the menu
    plays its prompt again or, after its last try, sends the caller where `on_invalid` says."""

    menu: str
    why: str
    latency_ms: float = 0.0
