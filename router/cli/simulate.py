"""`router simulate`: what would happen to one call, and why, without Asterisk.

The store is read when one is given (--store or $ROUTER_STORE); without one the caller is a
stranger. The CRM's part comes from a saved answer, a live lookup or the store's cache.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from router.cli.options import add_store_options
from router.cli.store import on_store
from router.cli.storeerrors import StoreFailure
from router.core.decide import CompiledRules, Decision, decide
from router.core.identify import profile
from router.core.menus import CONTEXT_PREFIX, INPUT_KEY, INVALID_KEY, TIMEOUT_KEY, Asked
from router.core.phones import Number, normalise, score
from router.core.rulefile import RuleFileError, load_rules
from router.core.snapshot import EMPTY, Snapshot
from router.core.when import EXAMPLES, WhenError, parse_when
from router.directory.contracts import find_customer
from router.directory.crm import Crm, answer_from_documents
from router.state.decisionlog import entry
from router.state.store import Store


def describe(d: Decision, rules: CompiledRules | None = None) -> str:
    c = d.caller
    lines = []
    if c is not None:
        who = c.number or "anonymous"
        extra = ", ".join(x for x in (c.kind + (f" after our {c.callback_after} call" if c.callback_after else ""),
                                      c.abc and f"ABC {c.abc}", c.manager and f"manager {c.manager}",
                                      c.company and f"company {c.company_name or c.company}",
                                      c.last_agent and f"last agent {c.last_agent}",
                                      c.task_owner and f"task owner {c.task_owner}") if x)
        lines.append(f"{who} {c.name}".rstrip() + f" — {extra}; {c.tz} {c.local:%a %H:%M} (zone from {c.tz_source})")
        if c.identified:
            lines.append(f"identified by {c.identified} (calling from {c.phone or 'a withheld number'})")
        day = rules.calendar.day(datetime.fromtimestamp(d.at, rules.company_zone).date()) if rules else None
        lines.append(f"strategy {c.strategy}; switch {c.switch}" + (f"; {day.describe()}" if day else "")
                     + (f"; IVR choice {c.choice}" if c.choice else "")
                     + ("; CRM " + ", ".join(f"{k} {v}" for k, v in c.crm.items()) if c.crm else ""))
    lines.append(f"rule: {d.rule}" + (" [fallback]" if d.fallback else "") + f"   priority {d.priority}")
    for n, s in enumerate(d.steps, 1):
        lines.append(f"  {n}. {s.type:<5} {s.dest:<20} {s.timeout:>4} s   ({s.name})")
    lines.append("why: " + "; ".join(d.reasons))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        rules = CompiledRules(load_rules(args.rules), args.rules)
    except RuleFileError as e:
        print(e, file=sys.stderr)
        return 1
    try:
        now = parse_when(args.at, rules.company_zone, time.time()).timestamp()
    except WhenError as e:
        print(f"router simulate: --at: {e}", file=sys.stderr)
        return 2
    number = normalise(args.caller, rules.region)
    url = args.store or os.environ.get("ROUTER_STORE")

    async def snapshot(store: Store) -> Snapshot:
        if (load_view := getattr(store, "load_view", None)) is not None:
            await load_view()  # a cluster store routes from its copy of the shared keys
        return await store.snapshot(number.key, score(number.key), now, rules.calls_window,
                                    crm=rules.rs.directory.crm is not None and number.e164)

    status = 0
    try:
        snap = on_store("simulate", url, args.prefix, snapshot, timeout=1.0) if url else EMPTY
    except StoreFailure as e:
        print(f"{e} The store is unreachable: the call is shown as if nothing were known.", file=sys.stderr,
              flush=True)
        snap, status = EMPTY, 3
    snap = dataclasses.replace(snap, switch=args.switch or snap.switch)
    try:
        _simulated_crm(args.crm, rules, number, snap)
    except (OSError, ValueError) as e:
        print(f"router simulate: --crm {args.crm}: {e}", file=sys.stderr)
        return 2
    caller = profile(number, args.caller, "", args.dnid or "", snap, rules.rs, now, choice=args.choice or "")
    busy = snap.busy | frozenset(args.busy or ())
    d = decide(rules, caller, busy, now)
    if not args.keys:
        print(json.dumps(entry(d), ensure_ascii=False, indent=2) if args.json else describe(d, rules))
        return status

    def ask(asked: Asked) -> Decision | str:
        """The router asked again from a menu: a decision, or why typed digits were refused."""
        again, who, identified = snap, number, ""
        if asked.digits:
            why = rules.rs.menus[asked.menu].input.problem(asked.digits)  # type: ignore[union-attr]
            if why:
                return why
            if not url:
                return "no store given (--store): the number cannot be looked up"
            found = on_store("simulate", url, args.prefix, lambda store: _customer(store, rules, asked.digits, now),
                             timeout=1.0)
            if found is None:
                return f"no customer with contract {asked.digits}"
            who, again, identified = found[0], found[1], f"contract {asked.digits}"
        c = profile(who, args.caller, "", args.dnid or "", again, rules.rs, now, asked=asked,
                    phone=number.key if identified else "", identified=identified)
        return decide(rules, c, busy, now)

    shown: list = [entry(d)] if args.json else [describe(d, rules)]
    for line, result in follow_keys(rules, d, args.keys, ask):
        if args.json:
            shown.append(entry(result) if result is not None else {"menu": line})
        else:
            shown += [line, *([describe(result, rules)] if result is not None else [])]
    print(json.dumps(shown, ensure_ascii=False, indent=2) if args.json else "\n".join(shown))
    return status


async def _customer(store: Store, rules: CompiledRules, contract: str, now: float) -> tuple[Number, Snapshot] | None:
    found = await find_customer(store, Crm(None), None, contract, rules.region, 1.0, lambda: 1.0)
    if found is None or found.number is None:
        return None
    snap = await store.snapshot(found.number.key, score(found.number.key), now, rules.calls_window)
    return (found.number, snap) if snap.customer.get("contract") == contract else None


def menu_of(rules: CompiledRules, d: Decision) -> str:
    """The menu a decision sends the caller to first, if it does."""
    dest = d.steps[0].dest if d.steps and d.steps[0].type == "ivr" else ""
    name = dest.removeprefix(CONTEXT_PREFIX)
    return name if dest.startswith(CONTEXT_PREFIX) and name in rules.rs.menus else ""


def follow_keys(rules: CompiledRules, first: Decision, keys: list[str], ask):
    """(what happened, the decision when the router was asked again) for each key the caller presses in the
    menus `first` sends them to: `t` waits for the timeout; in an input menu a key is the digits typed."""
    menu_name, tries, left = menu_of(rules, first), 0, list(keys)
    if not menu_name:
        yield "the call does not reach a menu: keys not used", None
        return
    while left and menu_name:
        menu = rules.rs.menus[menu_name]
        pressed = left.pop(0)
        key = TIMEOUT_KEY if pressed in ("t", "timeout") else INPUT_KEY if menu.input is not None else \
            pressed if pressed in menu.options else INVALID_KEY
        head = f"menu {menu_name}: " + ("no key (timeout)" if key == TIMEOUT_KEY else f"typed {pressed}"
                                        if key == INPUT_KEY else f"key {pressed}")
        if key == INPUT_KEY:
            result = ask(Asked(menu_name, INPUT_KEY, "", pressed))
            if isinstance(result, Decision):
                yield f"{head} → the router is asked again", result
                menu_name, tries = menu_of(rules, result), 0
                continue
            key, head = INVALID_KEY, f"{head}: wrong number ({result})"
        if key in (TIMEOUT_KEY, INVALID_KEY):
            tries += 1
            if tries < menu.tries:
                yield f"{head} → try {tries} of {menu.tries}: the prompts again", None
                continue
        option = menu.option(key)
        assert option is not None
        if option.menu is not None:
            yield f"{head} → menu {option.menu}", None
            menu_name, tries = option.menu, 0
        elif option.then in ("repeat", "hangup"):
            yield f"{head} → " + ("the prompts again" if option.then == "repeat" else "hung up"), None
            menu_name = "" if option.then == "hangup" else menu_name
        else:
            result = ask(Asked(menu_name, key, option.asked_choice))
            yield f"{head} → {option.name()}: the router is asked again", result
            menu_name, tries = menu_of(rules, result), 0
    if left:
        yield f"keys not used (the caller left the menus): {' '.join(left)}", None


def _simulated_crm(source: str | None, rules: CompiledRules, number: Number, snap: Snapshot) -> None:
    """The CRM's part of a simulated call: a saved answer (`--crm FILE`), a live one (`--crm live`),
    else what the store's cache holds."""
    settings = rules.rs.directory.crm
    if settings is None or not number.e164:
        if source:
            snap.crm_note = "CRM not asked: the rule file has no directory.crm section" if settings is None else \
                "CRM not asked: the number is not an E.164 number"
        return
    if source == "live":
        answer = asyncio.run(Crm(None).lookup(settings, number.key))
        how = f"CRM answered live in {answer.ms:.0f} ms"
    elif source:
        docs = json.loads(Path(source).read_text(encoding="utf-8"))
        docs = docs if isinstance(docs, list) and len(settings.requests) > 1 else [docs]
        answer = answer_from_documents(settings, docs)
        how = f"CRM answer from {source}"
    else:
        if snap.crm is not None:
            snap.crm_note = "CRM (cached): " + ("known" if snap.crm.get("found") else "does not know this number")
        else:
            snap.crm_note = "CRM not asked: give --crm FILE (a saved answer) or --crm live"
        return
    if answer.error:
        snap.crm_note = f"CRM lookup failed: {answer.error}"
    else:
        snap.crm = answer.cacheable()
        snap.crm_note = how + ("" if answer.found else ": not known")


def add_parser(sub) -> None:
    sp = sub.add_parser("simulate", help="show what would happen to one call, and why")
    sp.add_argument("--rules", required=True)
    sp.add_argument("--caller", required=True, help="caller number as Asterisk would pass it")
    sp.add_argument("--at", help=f"when the call happens, in the company's zone unless a zone or offset is given: "
                                 f"{EXAMPLES}; default now")
    sp.add_argument("--busy", nargs="*", metavar="DEVICE", help="devices to treat as busy, e.g. PJSIP/101")
    sp.add_argument("--dnid", help="the called number")
    sp.add_argument("--switch", choices=("day", "night"), help="the day/night switch as if flipped so (default: the "
                                                               "store's, else day)")
    sp.add_argument("--choice", help="the IVR choice the dialplan passes when it asks again (choice=…)")
    sp.add_argument("--keys", nargs="+", metavar="KEY", help="what the caller presses in the menus the call "
                                                             "reaches: keys, `t` for a timeout, the digits of a "
                                                             "number in an input menu (--keys 5 12345674)")
    sp.add_argument("--crm", metavar="FILE|live", help="the CRM's answer: a saved JSON answer (a list, one per "
                                                       "request, for several requests), or `live` to ask it")
    sp.add_argument("--json", action="store_true")
    add_store_options(sp)
    sp.set_defaults(func=run)
