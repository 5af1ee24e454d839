"""The `router` command."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import logging
import os
import sys
import time
from pathlib import Path

from router.cli import call as call_command
from router.config import DEFAULT_STORE, ConfigError, Settings, rule_limits
from router.core.decide import CompiledRules, Decision, decide
from router.core.identify import profile
from router.core.phones import Number, normalise, score
from router.core.rulefile import RuleFileError, load_rules
from router.core.snapshot import EMPTY, Snapshot
from router.core.when import EXAMPLES, WhenError, parse_when
from router.directory.csvfile import AUTO, ImportReport, encoding_name
from router.outbox.templates import gateway_warnings
from router.state.decisionlog import entry
from router.state.factory import open_store
from router.state.spool import Spool
from router.state.store import Store


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_check(args: argparse.Namespace) -> int:
    try:
        limits = rule_limits()
    except ConfigError as e:
        print(f"router check: {e}", file=sys.stderr)
        return 2
    status = 0
    for path in args.paths:
        try:
            rs = load_rules(path, limits)
        except RuleFileError as e:
            for p in e.problems:
                print(p)
            status = 1
            continue
        print(f"{path}: OK — {len(rs.rules)} rules, {len(rs.targets)} targets, {len(rs.managers)} managers")
        for w in gateway_warnings(rs.notify):
            print(f"{path}: warning: {w}")
    return status


def cmd_serve(args: argparse.Namespace) -> int:
    from router.asterisk.ami import AMITarget
    from router.server import serve_forever, start
    from router.service import Router

    _setup_logging(args.verbose)
    try:
        s = Settings.resolve(args.rules, args.store, args.agi, args.http, args.prefix, args.ami, args.spool)
        store = open_store(s.store, s.prefix)
        router = Router.from_path(s.rules, store, s.limits, instance=s.instance)
        ami_target = AMITarget.parse(s.ami, s.ami_secret) if s.ami else None
    except (ConfigError, ValueError) as e:
        print(f"router serve: {e}", file=sys.stderr)
        return 2
    except RuleFileError as e:
        first, *rest = e.problems
        more = f"; {len(rest)} more problems follow" if rest else ""
        print(f"router serve: the rules do not load, nothing started: {first}{more}", file=sys.stderr)
        for p in rest:
            print(p, file=sys.stderr)
        return 1

    for w in gateway_warnings(router.rules.rs.notify):
        logging.getLogger("router").warning("%s: %s", s.rules, w)

    async def main() -> None:
        # what is loaded now lives as long as the process: keep the collector from rescanning it
        gc.freeze()
        try:
            async with asyncio.timeout(3):
                await store.ping()
        except Exception as e:
            logging.getLogger("router").error(
                "store %s unreachable (%s): calls get the fallback chain until it is back", store.address, e)
        running = await start(router, s.agi, s.http, s.api_token, ami=ami_target,
                              max_connections=s.max_connections, max_per_peer=s.max_per_peer,
                              spool=Spool(s.spool))
        await serve_forever(running)
        await store.close()

    try:
        asyncio.run(main())
    except OSError as e:
        print(f"router serve: cannot listen ({e}); is another router running on that port?", file=sys.stderr)
        return 1
    return 0


def describe(d: Decision) -> str:
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
        lines.append(f"strategy {c.strategy}" + (f"; IVR choice {c.choice}" if c.choice else "")
                     + ("; CRM " + ", ".join(f"{k} {v}" for k, v in c.crm.items()) if c.crm else ""))
    lines.append(f"rule: {d.rule}" + (" [fallback]" if d.fallback else "") + f"   priority {d.priority}")
    for n, s in enumerate(d.steps, 1):
        lines.append(f"  {n}. {s.type:<5} {s.dest:<20} {s.timeout:>4} s   ({s.name})")
    lines.append("why: " + "; ".join(d.reasons))
    return "\n".join(lines)


def cmd_simulate(args: argparse.Namespace) -> int:
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

    async def snapshot():
        if not url:
            return EMPTY
        store = open_store(url, args.prefix)
        try:
            if (load_view := getattr(store, "load_view", None)) is not None:
                await load_view()  # a cluster store routes from its copy of the shared keys
            return await store.snapshot(number.key, score(number.key), now, rules.calls_window,
                                        crm=rules.rs.directory.crm is not None and number.e164)
        finally:
            await store.close()

    status = 0
    try:
        snap = asyncio.run(snapshot())
    except Exception as e:
        print(f"router simulate: store {url} unreachable ({e}); showing the call as if nothing were known",
              file=sys.stderr, flush=True)
        snap, status = EMPTY, 3
    snap = dataclasses.replace(snap)
    try:
        _simulated_crm(args.crm, rules, number, snap)
    except (OSError, ValueError) as e:
        print(f"router simulate: --crm {args.crm}: {e}", file=sys.stderr)
        return 2
    caller = profile(number, args.caller, "", args.dnid or "", snap, rules.rs, now, choice=args.choice or "")
    d = decide(rules, caller, snap.busy | frozenset(args.busy or ()), now)
    print(json.dumps(entry(d), ensure_ascii=False, indent=2) if args.json else describe(d))
    return status


def _simulated_crm(source: str | None, rules: CompiledRules, number: Number, snap: Snapshot) -> None:
    """The CRM's part of a simulated call: a saved answer (`--crm FILE`), a live one (`--crm live`),
    else what the store's cache holds."""
    from router.directory.crm import Crm, answer_from_documents

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


def _import(args: argparse.Namespace, what: str, load) -> int:
    """Run one importer against the store: problems streamed by line (the first --show), then a summary.

    Exit status 0 when every row was read, 1 when rows were skipped, 2 when the import could not run.
    """
    url = args.store or os.environ.get("ROUTER_STORE") or DEFAULT_STORE
    try:
        encoding = encoding_name(args.encoding)
    except ValueError as e:
        print(f"router {what} import: --encoding: {e}", file=sys.stderr)
        return 2
    report = ImportReport(args.file, keep=max(args.show, 0), echo=lambda text: print(text, file=sys.stderr))

    async def run() -> None:
        store = open_store(url, args.prefix, timeout=10)
        try:
            await store.ping()
            await load(store, encoding, report)
        finally:
            await store.close()

    status = 0
    try:
        asyncio.run(run())
    except OSError as e:
        print(f"router {what} import: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        print(f"router {what} import: store {url}: {e}", file=sys.stderr)
        status = 2
    if report.problems > len(report.errors):
        print(f"… {report.problems - len(report.errors):,} more problems not shown (--show N prints more)",
              file=sys.stderr)
    written = {"customers": f"{report.imported:,} customer records written",
               "companies": f"{report.imported:,} companies written",
               "numbering": f"{report.imported:,} ranges in force" if status == 0 else
               "nothing written: the numbering plan in force is unchanged"}[what]
    print(f"{args.file} ({report.encoding or 'unread'}): {written}, {report.skipped:,} rows skipped, "
          f"{report.warned:,} warnings" + ("; the import stopped there" if status else ""))
    return status or (1 if report.skipped else 0)


def _manager_ids(rules_path: str | None) -> frozenset[str] | None:
    """The manager ids the rules define, to check the directory against; None without rules."""
    path = rules_path or os.environ.get("ROUTER_RULES")
    return frozenset(load_rules(path).managers) if path else None


def cmd_customers_import(args: argparse.Namespace) -> int:
    from router.directory.customers import import_csv

    try:
        managers = _manager_ids(args.rules)
    except RuleFileError as e:
        print(f"router customers import: the rules do not load, nothing imported:\n{e}", file=sys.stderr)
        return 2
    if managers is None:
        print("router customers import: managers not checked (give --rules or set ROUTER_RULES)", file=sys.stderr)

    async def load(store: Store, encoding: str, report: ImportReport) -> None:
        await import_csv(store, args.file, args.region, encoding=encoding, managers=managers, report=report)

    return _import(args, "customers", load)


def cmd_customers_show(args: argparse.Namespace) -> int:
    from router.cli.show import run

    return run(args)


def cmd_companies_import(args: argparse.Namespace) -> int:
    from router.directory.companies import import_csv

    async def load(store: Store, encoding: str, report: ImportReport) -> None:
        await import_csv(store, args.file, args.region, encoding=encoding, report=report)

    return _import(args, "companies", load)


def cmd_numbering_import(args: argparse.Namespace) -> int:
    from router.directory.numbering import import_ranges

    async def load(store: Store, encoding: str, report: ImportReport) -> None:
        await import_ranges(store, args.file, args.country, args.zones, encoding=encoding, report=report)

    return _import(args, "numbering", load)


def cmd_report(args: argparse.Namespace) -> int:
    from router.reports.reader import calls_csv, parse_range, report
    from router.reports.report import text

    rules_path = args.rules or os.environ.get("ROUTER_RULES")
    if not rules_path:
        print("router report: no rules: pass --rules PATH or set ROUTER_RULES (labels and the company's day)",
              file=sys.stderr)
        return 2
    try:
        rules = CompiledRules(load_rules(rules_path), rules_path)
    except RuleFileError as e:
        print(e, file=sys.stderr)
        return 1
    now = time.time()
    try:
        days = parse_range(args.day, args.first, args.last, rules, now)
    except ValueError as e:
        print(f"router report: {e}", file=sys.stderr)
        return 2
    url = args.store or os.environ.get("ROUTER_STORE") or DEFAULT_STORE

    async def run():
        store = open_store(url, args.prefix, timeout=10)
        try:
            if args.csv:
                return await calls_csv(store, days)
            return await report(store, rules, days, now)
        finally:
            await store.close()

    try:
        found = asyncio.run(run())
    except Exception as e:
        print(f"router report: store {url}: {e}", file=sys.stderr)
        return 2
    if args.csv:
        sys.stdout.write(found)
    elif args.json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(text(found))
    return 0


def _rules_for(args: argparse.Namespace, what: str) -> CompiledRules | None:
    path = args.rules or os.environ.get("ROUTER_RULES")
    if not path:
        print(f"router {what}: no rules: pass --rules PATH or set ROUTER_RULES (the risk section is read there)",
              file=sys.stderr)
        return None
    try:
        return CompiledRules(load_rules(path), path)
    except RuleFileError as e:
        print(e, file=sys.stderr)
        return None


def _with_router(args: argparse.Namespace, rules: CompiledRules, work):
    """Run `work(router)` against the store, with the router's follow-ups (webhooks) drained after."""
    from router.service import Router

    url = args.store or os.environ.get("ROUTER_STORE") or DEFAULT_STORE

    async def run():
        store = open_store(url, args.prefix, timeout=10)
        router = Router(rules, store)
        try:
            return await work(router)
        finally:
            await router.followups.drain()
            await router.followups.outbox.close()
            await store.close()

    return asyncio.run(run())


def cmd_events_import(args: argparse.Namespace) -> int:
    from router.risk.events import read_csv

    rules = _rules_for(args, "events import")
    if rules is None:
        return 2
    try:
        batch = read_csv(args.file, rules.rs.risk, rules.company_zone, rules.region, time.time())
    except OSError as e:
        print(f"router events import: {e}", file=sys.stderr)
        return 2

    async def work(router):
        return await router.risk.add(batch.events)

    try:
        added = _with_router(args, rules, work)
    except Exception as e:
        print(f"router events import: store: {e}", file=sys.stderr)
        return 2
    for p in batch.problems:
        print(p, file=sys.stderr)
    print(f"{args.file}: {len(batch.events)} events read, {added} new, {len(batch.events) - added} already known, "
          f"{len(batch.problems)} problems")
    return 1 if batch.problems else 0


def format_risk(entries: list[dict], zone) -> str:
    """The at-risk list as a person reads it in the morning."""
    from datetime import datetime

    if not entries:
        return "nobody is at risk"
    lines = []
    for e in entries:
        since = datetime.fromtimestamp(e["since"], zone).strftime("%Y-%m-%d %H:%M")
        who = " ".join(x for x in (e["number"], e["name"] and f"({e['name']})") if x)
        task = e.get("task") or {}
        lines.append(f"{who} — score {e['score']}, at risk since {since}, manager {e['manager'] or '—'}"
                     + (f", task {task['id']} ({task['owner']}, {task['state']})" if task else ""))
        for s in e["signals"]:
            lines.append(f"    {s['name']} +{s['weight']}: {s['text']} [{', '.join(s['dates'])}]")
    return "\n".join(lines)


def cmd_risk_list(args: argparse.Namespace) -> int:
    rules = _rules_for(args, "risk list")
    if rules is None:
        return 2

    async def work(router):
        return await router.risk.listing(args.day)

    try:
        entries = _with_router(args, rules, work)
    except ValueError:
        print(f"router risk list: --day {args.day!r}: write YYYY-MM-DD", file=sys.stderr)
        return 2
    except Exception as e:
        print(f"router risk list: store: {e}", file=sys.stderr)
        return 2
    print(json.dumps(entries, ensure_ascii=False, indent=2) if args.json else format_risk(entries, rules.company_zone))
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from router.cli.tail import run

    return run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from router.cli.demo import run_demo

    return run_demo(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="router", description="Real-time call routing for Asterisk.")
    sub = p.add_subparsers(dest="command", required=True)

    def store_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--store", help="Redis URL (default $ROUTER_STORE or redis://127.0.0.1:6379/0)")
        sp.add_argument("--prefix", default="cr", help="key prefix in Redis (default cr)")

    def import_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--encoding", default=AUTO,
                        help="the file's encoding, e.g. utf-8 or windows-1251 (default: detected)")
        sp.add_argument("--show", type=int, default=20, metavar="N",
                        help="print the first N problems (default 20); all are counted")
        store_opts(sp)

    sp = sub.add_parser("serve", help="answer FastAGI route requests and serve the HTTP API")
    sp.add_argument("--rules", help="rule file or directory (default $ROUTER_RULES)")
    sp.add_argument("--store", help="Redis URL (default $ROUTER_STORE or redis://127.0.0.1:6379/0)")
    sp.add_argument("--prefix", help="key prefix in Redis (default $ROUTER_PREFIX or cr)")
    sp.add_argument("--agi", help="FastAGI HOST:PORT (default $ROUTER_AGI or 127.0.0.1:4573)")
    sp.add_argument("--http", help="HTTP HOST:PORT (default $ROUTER_HTTP or 127.0.0.1:8080)")
    sp.add_argument("--ami", help="ami://USER[:SECRET]@HOST:PORT (default $ROUTER_AMI; secret also from "
                                  "$ROUTER_AMI_SECRET); off when unset")
    sp.add_argument("--spool", help="file for what the store cannot take by shutdown, replayed at the next start "
                                    "(default $ROUTER_SPOOL, else $STATE_DIRECTORY/spool.jsonl, else "
                                    "~/.local/state/callrouter/spool.jsonl)")
    sp.add_argument("-v", "--verbose", action="store_true")
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("check", help="validate rule files; print file:line for each problem")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.set_defaults(func=cmd_check)

    call_command.add_parser(sub)

    sp = sub.add_parser("simulate", help="show what would happen to one call, and why")
    sp.add_argument("--rules", required=True)
    sp.add_argument("--caller", required=True, help="caller number as Asterisk would pass it")
    sp.add_argument("--at", help=f"when the call happens, in the company's zone unless a zone or offset is given: "
                                 f"{EXAMPLES}; default now")
    sp.add_argument("--busy", nargs="*", metavar="DEVICE", help="devices to treat as busy, e.g. PJSIP/101")
    sp.add_argument("--dnid", help="the called number")
    sp.add_argument("--choice", help="the IVR choice the dialplan passes when it asks again (choice=…)")
    sp.add_argument("--crm", metavar="FILE|live", help="the CRM's answer: a saved JSON answer (a list, one per "
                                                       "request, for several requests), or `live` to ask it")
    sp.add_argument("--json", action="store_true")
    store_opts(sp)
    sp.set_defaults(func=cmd_simulate)

    sp = sub.add_parser("demo", help="the real router on an in-process store, with a stream of sample calls",
                        description="Run the real router on an in-process store (no Redis, no Asterisk) with a "
                                    "simulated PBX placing a working day of calls through its FastAGI port; watch "
                                    "them in the terminal and on the live page. Ctrl-C stops it.")
    sp.add_argument("--calls", type=int, default=0, help="stop after this many calls (default: run until Ctrl-C)")
    sp.add_argument("--agi", default="127.0.0.1:4573", help="FastAGI HOST:PORT (default 127.0.0.1:4573)")
    sp.add_argument("--http", default="127.0.0.1:8080", help="live page and API HOST:PORT (default 127.0.0.1:8080)")
    sp.add_argument("--interval", type=float, default=2.0, help="real seconds between calls (default 2)")
    sp.add_argument("--speed", type=float, default=120.0,
                    help="simulated seconds per real second (default 120: a 30-minute deadline in 15 s)")
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("report", help="what happened: calls per type, missed share, ring times, staff load")
    sp.add_argument("--rules", help="rule file or directory, for the type labels and the company's day "
                                    "(default $ROUTER_RULES)")
    sp.add_argument("--day", help="YYYY-MM-DD in the company's zone (default today)")
    sp.add_argument("--from", dest="first", metavar="DAY", help="first day of a range")
    sp.add_argument("--to", dest="last", metavar="DAY", help="last day of a range")
    out = sp.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="the report as JSON (what GET /api/report gives)")
    out.add_argument("--csv", action="store_true", help="the raw calls of the day(s), one CSV row each")
    store_opts(sp)
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("tail", help="follow the live decision log, one line per event")
    sp.add_argument("--url", default="http://127.0.0.1:8080", help="the router's HTTP address")
    sp.add_argument("--count", type=int, default=0, help="stop after this many events")
    sp.set_defaults(func=cmd_tail)

    cp = sub.add_parser("customers", help="the customer directory").add_subparsers(dest="action", required=True)
    sp = cp.add_parser("import", help="import number,name,abc,manager,timezone,tags from CSV")
    sp.add_argument("file")
    sp.add_argument("--region", default="RU", help="region for national numbers (default RU)")
    sp.add_argument("--rules", help="rule file or directory whose managers the file may name (default $ROUTER_RULES)")
    import_opts(sp)
    sp.set_defaults(func=cmd_customers_import)
    sp = cp.add_parser("show", help="the directory record and call history the router keeps for one number")
    sp.add_argument("number", help="in any usual format: +79031234567, 8 903 123-45-67")
    sp.add_argument("--region", default="RU", help="region for national numbers (default RU)")
    sp.add_argument("--rules", help="rules whose company zone the times are shown in (default $ROUTER_RULES; else UTC)")
    sp.add_argument("--calls", type=int, default=20, help="how many of the newest inbound calls to list (default 20)")
    sp.add_argument("--json", action="store_true")
    store_opts(sp)
    sp.set_defaults(func=cmd_customers_show)

    cp = sub.add_parser("companies", help="client companies and their branch numbers").add_subparsers(
        dest="action", required=True)
    sp = cp.add_parser("import", help="import company,name,abc,manager,tags,numbers from CSV")
    sp.add_argument("file")
    sp.add_argument("--region", default="RU", help="region for national numbers (default RU)")
    import_opts(sp)
    sp.set_defaults(func=cmd_companies_import)

    ep = sub.add_parser("events", help="customer events (visits, ratings, tickets, …)").add_subparsers(
        dest="action", required=True)
    sp = ep.add_parser("import", help="import id,number,kind,at,value,note rows from CSV")
    sp.add_argument("file")
    sp.add_argument("--rules", help="rule file or directory (default $ROUTER_RULES): event kinds, retention")
    store_opts(sp)
    sp.set_defaults(func=cmd_events_import)

    rp = sub.add_parser("risk", help="customers at risk of leaving").add_subparsers(dest="action", required=True)
    sp = rp.add_parser("list", help="who is at risk, since when, why")
    sp.add_argument("--day", help="only those who entered the list on this day (YYYY-MM-DD, company time)")
    sp.add_argument("--rules", help="rule file or directory (default $ROUTER_RULES)")
    sp.add_argument("--json", action="store_true")
    store_opts(sp)
    sp.set_defaults(func=cmd_risk_list)

    np_ = sub.add_parser("numbering", help="the national numbering plan").add_subparsers(dest="action",
                                                                                        required=True)
    sp = np_.add_parser("import", help="load the regulator's range registry (DEF/ABC CSV)")
    sp.add_argument("file")
    sp.add_argument("--country", default="7", help="country code the ranges belong to (default 7)")
    sp.add_argument("--zones", help="CSV region_contains;timezone overriding the built-in Russian table")
    import_opts(sp)
    sp.set_defaults(func=cmd_numbering_import)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
