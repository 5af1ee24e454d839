"""The head of the call centre's report for a day or a range of days, built from the daily counters. Pure.

The CLI, the API and the page all print this one structure, so they agree to the call.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from math import ceil
from typing import Any

from router.core.decide import CompiledRules
from router.core.rules import INTERNAL_TYPE, MISSED_TYPE
from router.core.tasks import Task
from router.reports.figures import StandardRow, standard
from router.reports.tally import CALLBACK_STAGES, SEP

Row = dict[str, Any]
"""One row or section of the report as JSON: what the CLI, the API and the page print."""

MAX_DAYS = 400
KEPT_ROW = "callback_requested"
KEPT_LABEL = "kept their place for a callback"
"""The auditors' table's row of callers who pressed 1 in a queue and hung up keeping their place: not missed,
not answered yet (the callbacks line says how many the router reached)."""


def days_between(first: date, last: date) -> list[str]:
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    n = (last - first).days + 1
    if n > MAX_DAYS:
        raise ValueError(f"{n} days asked; a report covers at most {MAX_DAYS} days")
    return [(first + timedelta(days=i)).isoformat() for i in range(n)]


def percent(part: float, whole: float) -> int:
    """Whole percent, halves rounded up (2 of 75 is 3 %): what a person writes in the table."""
    return int(part * 100 / whole + 0.5) if whole else 0


def share(part: float, whole: float) -> float:
    return round(part * 100 / whole, 1) if whole else 0.0


def quantile(dist: Counter[int], q: float) -> int | None:
    """Nearest-rank quantile of a {value: count} distribution: the smallest value with at least q of the calls
    at or below it."""
    total = sum(dist.values())
    if not total:
        return None
    rank = max(1, ceil(q * total))
    seen = 0
    for value in sorted(dist):
        seen += dist[value]
        if seen >= rank:
            return int(value)
    return None


def _summed(counters: list[dict[str, str]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for day in counters:
        for k, v in day.items():
            total[k] += int(v)
    return total


def _dist(c: Counter[str], prefix: str) -> Counter[int]:
    out: Counter[int] = Counter()
    for k, n in c.items():
        if k.startswith(prefix) and n:
            out[int(k[len(prefix):])] += n
    return out


def _dimension(c: Counter[str], dim: str) -> dict[str, tuple[int, int]]:
    """{name: (calls, missed)} of one dimension: fields `dim|name` and `dim|name|m`."""
    calls: dict[str, int] = {}
    missed: dict[str, int] = defaultdict(int)
    head = dim + SEP
    for k, n in c.items():
        if not k.startswith(head):
            continue
        name = k[len(head):]
        if name.endswith(SEP + "m"):
            missed[name[:-2]] += n
        elif name.endswith(SEP + "k"):
            continue  # callbacks requested: counted apart (`_kept`)
        else:
            calls[name] = calls.get(name, 0) + n
    return {name: (n, missed.get(name, 0)) for name, n in calls.items()}


def _kept(c: Counter[str], dim: str) -> dict[str, int]:
    """{name: callers who pressed 1 in a queue and hung up keeping their place} of one dimension: `dim|name|k`."""
    head, tail = dim + SEP, SEP + "k"
    return {k[len(head):-len(tail)]: n for k, n in c.items() if k.startswith(head) and k.endswith(tail) and n}


def _missed_rows(dims: dict[str, tuple[int, int]], label: Callable[[str], str] = str) -> list[Row]:
    rows = [{"name": name, "label": label(name), "calls": n, "missed": m, "missed_share": share(m, n)}
            for name, (n, m) in dims.items() if n]
    return sorted(rows, key=lambda r: (-r["calls"], r["name"]))


def _ring(dist: Counter[int]) -> Row:
    return {"calls": sum(dist.values()), "median": quantile(dist, 0.5), "p90": quantile(dist, 0.9)}


def build(rules: CompiledRules, days: list[str], counters: list[dict[str, str]], open_tasks: list[Task],
          now: float) -> Row:
    """`counters` one dict per day (Store.report_counters); `open_tasks` the follow-ups open now."""
    rs = rules.rs
    c = _summed(counters)
    types = _dimension(c, "t")
    inbound, missed, kept = c["in"], c["in|m"], c["in|k"]
    internal = c["int"]
    kept_by_type = _kept(c, "t")
    answered = {n: calls - m - kept_by_type.get(n, 0) for n, (calls, m) in types.items()}
    rows: list[tuple[str, int]] = []
    for n in rs.types:
        rows.append((n, internal if n == INTERNAL_TYPE else missed if n == MISSED_TYPE else answered.get(n, 0)))
    if INTERNAL_TYPE not in rs.types and internal:
        rows.insert(0, (INTERNAL_TYPE, internal))
    rows += [(n, k) for n, k in sorted(answered.items()) if k and n and n not in rs.types]
    if MISSED_TYPE not in rs.types:
        rows.append((MISSED_TYPE, missed))
    if answered.get(""):
        rows.append(("", answered[""]))
    total = inbound + internal
    table = [{"type": n, "label": rs.type_label(n), "count": count, "percent": percent(count, total)}
             for n, count in rows]
    if kept:
        table.append({"type": KEPT_ROW, "label": KEPT_LABEL, "count": kept, "percent": percent(kept, total)})

    hours = _dimension(c, "h")
    per_hour = [{"hour": f"{h:02d}", "calls": hours.get(f"{h:02d}", (0, 0))[0],
                 "missed": hours.get(f"{h:02d}", (0, 0))[1],
                 "missed_share": share(hours.get(f"{h:02d}", (0, 0))[1], hours.get(f"{h:02d}", (0, 0))[0])}
                for h in range(24)]
    return {
        "from": days[0], "to": days[-1], "days": len(days), "zone": rs.company.timezone,
        "table": table, "total": total,
        "inbound": {"calls": inbound, "answered": inbound - missed - kept, "missed": missed,
                    "missed_share": share(missed, inbound), "callback_requested": kept},
        "internal": {"calls": internal, "missed": c["int|m"]},
        "outbound": {"calls": c["out"], "answered": c["out|ok"]},
        "missed_by": {
            "type": _missed_rows(types, lambda n: rs.type_label(n)),
            "queue": _missed_rows(_dimension(c, "q")),
            "manager": _missed_rows(_dimension(c, "mg")),
            "dnid": _missed_rows(_dimension(c, "d")),
            "hour": [h for h in per_hour if h["calls"]],
        },
        "per_hour": per_hour,
        "ring_seconds": {"before_answer": _ring(_dist(c, "ra|")), "before_giving_up": _ring(_dist(c, "rm|"))},
        "callbacks": {"made": c["cb"], "answered": c["cb|ok"], "after_miss_seconds": _ring(_dist(c, "cbd|")),
                      **{stage: sum(n for k, n in c.items() if k.startswith(prefix + SEP))
                         for stage, prefix in CALLBACK_STAGES.items()}},
        "staff": staff(c, rules.staff_names, rules, days, open_tasks, now),
        "menus": menus(c, rules),
        "standard": standard(c.items(), rs.report),
    }


MENU_EXITS = (("timeout", "timed_out"), ("invalid", "invalid"))


def menus(c: Counter[str], rules: CompiledRules) -> list[Row]:
    """Per menu: callers who entered it, left it by each option, timed out, pressed wrong keys (or typed
    wrong numbers) to the end, hung up in it; the types of the calls that came from it. Menus of the rule
    file first, in its order, then any the counters name that it no longer has."""
    rs = rules.rs
    names = [*rs.menus, *sorted({k.split(SEP)[1] for k in c if k.startswith(("mn|", "mt|"))} - set(rs.menus))]
    out = []
    for name in names:
        menu = rs.menus.get(name)
        head = f"mn{SEP}{name}{SEP}"
        if not c[head + "in"] and menu is None:
            continue
        options = [{"key": key, "label": o.name(), "callers": c[f"{head}k{SEP}{key}"]}
                   for key, o in (menu.options.items() if menu is not None else ())]
        known = {o["key"] for o in options} | {"timeout", "invalid", "input"}
        options += [{"key": key, "label": "(not in the rules now)", "callers": n}
                    for key, n in sorted(_keys_left(c, head).items()) if key not in known and n]
        typed = {t: n for t, (n, _) in _dimension(c, f"mt{SEP}{name}").items() if n}
        types = [{"type": t, "label": rs.type_label(t), "calls": n}
                 for t, n in sorted(typed.items(), key=lambda kv: (-kv[1], kv[0]))]
        row = {"menu": name, "label": (menu.label if menu is not None else None) or name, "entered": c[head + "in"],
               "options": options, "left": c[head + "left"], "types": types}
        row |= {field: c[f"{head}k{SEP}{key}"] for key, field in MENU_EXITS}
        if menu is not None and menu.input is not None:
            row["identified"] = c[f"{head}k{SEP}input"]
        out.append(row)
    return out


def _keys_left(c: Counter[str], head: str) -> dict[str, int]:
    start = f"{head}k{SEP}"
    return {k[len(start):]: n for k, n in c.items() if k.startswith(start)}


CALLBACK_FIELDS = {prefix: f"callbacks_{stage}" for stage, prefix in CALLBACK_STAGES.items()}


def staff(c: Counter[str], agents: dict[str, str], rules: CompiledRules, days: list[str], open_tasks: list[Task],
          now: float) -> list[Row]:
    """Per person (a manager of the rule file, else the device or queue member) and per follow-up owner."""
    working = rules.rs.report.working_hours
    day_seconds = ((working.end - working.start) % 1440 or 1440) * 60
    people: dict[str, Row] = {}

    def person(who: str) -> Row:
        return people.setdefault(who, {"who": who, "devices": [], "answered": 0, "reached_outbound": 0,
                                       "talk_seconds": 0.0, "phone_share": 0.0, "followups_opened": 0,
                                       "followups_closed": 0, "close_median_seconds": None,
                                       "closed_late": 0, "overdue_open": 0, "callbacks_requested": 0,
                                       "callbacks_attempted": 0, "callbacks_reached": 0, "_close": Counter()})

    for k, n in c.items():
        parts = k.split(SEP)
        if parts[0] == "a" and len(parts) == 3:
            p = person(agents.get(parts[1], parts[1]))
            if parts[1] not in p["devices"]:
                p["devices"].append(parts[1])
            if parts[2] == "n":
                p["answered"] += n
            elif parts[2] == "out":
                p["reached_outbound"] += n
            elif parts[2] == "ds":
                p["talk_seconds"] += n / 10
        elif parts[0] == "fo" and len(parts) == 2:
            person(parts[1])["followups_opened"] += n
        elif parts[0] == "fc" and len(parts) == 2:
            person(parts[1])["followups_closed"] += n
        elif parts[0] == "fl" and len(parts) == 2:
            person(parts[1])["closed_late"] += n
        elif parts[0] == "fct" and len(parts) == 3:
            person(parts[1])["_close"][int(parts[2])] += n
        elif parts[0] in CALLBACK_FIELDS and len(parts) == 2:
            person(parts[1])[CALLBACK_FIELDS[parts[0]]] += n
    first, last = days[0], days[-1]
    zone = rules.company_zone
    for t in open_tasks:
        created = datetime.fromtimestamp(float(t.get("created", 0)), zone).date().isoformat()
        if first <= created <= last and float(t.get("deadline", now)) < now:
            person(t.get("owner", ""))["overdue_open"] += 1
    out = []
    for p in people.values():
        p["talk_seconds"] = round(p["talk_seconds"], 1)
        p["phone_share"] = share(p["talk_seconds"], day_seconds * len(days))
        p["close_median_seconds"] = quantile(p.pop("_close"), 0.5)
        out.append(p)
    return sorted(out, key=lambda p: (-p["answered"], -p["followups_closed"], p["who"]))


def text(report: Row) -> str:
    """The report as the CLI prints it: the auditors' table first."""
    width = max([len(r["label"]) for r in report["table"]] + [10]) + 2
    span = report["from"] if report["from"] == report["to"] else f"{report['from']} – {report['to']}"
    lines = [f"Calls on {span} ({report['zone']})", "", f"{'call type':<{width}}{'count':>6}{'%':>6}"]
    for r in report["table"]:
        lines.append(f"{r['label']:<{width}}{r['count']:>6}{r['percent']:>4} %")
    lines.append(f"{'total':<{width}}{report['total']:>6}")
    i = report["inbound"]
    lines += ["", f"Missed: {i['missed']} of {i['calls']} calls from customers ({i['missed_share']} %)"]
    for dim, title in (("type", "per type"), ("queue", "per queue"), ("manager", "per personal manager"),
                       ("dnid", "per called number"), ("hour", "per hour")):
        rows = report["missed_by"][dim]
        if rows:
            cells = ", ".join(f"{r.get('label') or r.get('hour') or r.get('name')} {r['missed']}/{r['calls']} "
                              f"({r['missed_share']} %)" for r in rows)
            lines.append(f"  {title}: {cells}")
    ring = report["ring_seconds"]
    lines.append(f"Ring time before an answer: median {_s(ring['before_answer']['median'])}, "
                 f"90 % within {_s(ring['before_answer']['p90'])}; before giving up: median "
                 f"{_s(ring['before_giving_up']['median'])}, 90 % within {_s(ring['before_giving_up']['p90'])}")
    cb = report["callbacks"]
    lines.append(f"Callbacks: {cb['made']} made, {cb['answered']} answered; first attempt after the miss: median "
                 f"{_s(cb['after_miss_seconds']['median'])}, 90 % within {_s(cb['after_miss_seconds']['p90'])}")
    lines.append(f"Callbacks the router dialled: {cb['requested']} requested (pressed 1 in a queue), "
                 f"{cb['attempted']} attempted, {cb['reached']} reached")
    lines.append(f"Outbound: {report['outbound']['calls']} calls, {report['outbound']['answered']} answered; "
                 f"internal: {report['internal']['calls']}")
    lines += standard_text(report["standard"], lambda name: name)
    if report["menus"]:
        lines += ["", "Menus (callers: entered; left by each option; timed out or wrong keys at the last try; "
                      "hung up in the menu)"]
        for m in report["menus"]:
            ways = [f"{o['key']} {o['label']} {o['callers']}" for o in m["options"]]
            if "identified" in m:
                ways.append(f"identified {m['identified']}")
            lines.append(f"  {m['label']}: {m['entered']} entered; " + ", ".join(ways)
                         + f"; timed out {m['timed_out']}, wrong keys {m['invalid']}, hung up {m['left']}")
            if m["types"]:
                by_type = ", ".join(f"{t['label']} {t['calls']}" for t in m["types"])
                lines.append(f"    calls from it by type: {by_type}")
    if report["staff"]:
        lines += ["", "Staff load (follow-ups: opened, closed, median time to close, closed late, overdue now)",
                  f"{'':<24}{'answered':>9}{'outbound':>9}{'on the phone':>15}{'share':>8}"
                  f"{'opened':>8}{'closed':>8}{'median':>14}{'late':>6}{'overdue':>8}"]
        for p in report["staff"]:
            lines.append(f"{p['who'][:23]:<24}{p['answered']:>9}{p['reached_outbound']:>9}"
                         f"{_s(p['talk_seconds']):>15}{p['phone_share']:>6} %{p['followups_opened']:>8}"
                         f"{p['followups_closed']:>8}{_s(p['close_median_seconds']):>14}{p['closed_late']:>6}"
                         f"{p['overdue_open']:>8}")
    return "\n".join(lines) + "\n"


STANDARD_COLUMNS = (("offered", 8), ("answered", 9), ("SL", 8), ("SL2", 8), ("T", 6), ("ASA", 8), ("ASA90", 8),
                    ("aband.", 7), ("short", 6), ("rate", 8), ("AHT", 12), ("FCR", 8), ("recall", 8),
                    ("to recall", 13), ("occup.", 8))
STANDARD_HEAD = f"{'':<22}" + "".join(f"{name:>{width}}" for name, width in STANDARD_COLUMNS)


def _pct(fraction: float | None) -> str:
    return "–" if fraction is None else f"{fraction * 100:.1f} %"


def _standard_line(title: str, r: StandardRow) -> str:
    cells = (r["offered"], r["answered"], _pct(r["service_level"]), _pct(r["service_level2"]),
             f"{r['service_level_seconds']} s", _s(r["asa_seconds"]), _s(r["asa_p90_seconds"]), r["abandoned"],
             r["short_abandoned"], _pct(r["abandon_rate"]), _s(r["aht_seconds"]), _pct(r["fcr_rate"]),
             _pct(r["recall_rate"]), _s(r["recall_median_seconds"]), _pct(r["occupancy"]))
    return f"{title[:21]:<22}" + "".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, STANDARD_COLUMNS,
                                                                                         strict=True))


def standard_text(fig: Row, label: Callable[[str], str]) -> list[str]:
    """The standard figures as the CLI prints them: the day, then per queue, agent and hour."""
    day = fig["day"]
    lines = ["", f"Standard figures (SL: answered within T of offered; SL2: Asterisk's, abandons within T "
                 f"counted; short abandons under {day['short_abandon_seconds']} s apart; FCR: no further call "
                 f"within {_days(day['first_contact_seconds'])})", STANDARD_HEAD, _standard_line("day", day)]
    for kind, title in (("queues", "queue "), ("agents", ""), ("hours", "hour ")):
        lines += [_standard_line(title + (label(r["name"]) if kind == "agents" else r["name"]), r)
                  for r in fig[kind]]
    states = [r for r in fig["agents"] if r["talk_seconds"] or r["available_seconds"] or r["paused_seconds"]
              or r["ring_no_answer"] or r["logins"]]
    if states:
        lines += ["", "Agent states (on a call, available, wrap-up, paused with reasons; rings not answered; "
                      "logins and logouts)"]
        for r in states:
            paused = ", ".join(f"{p['reason']} {p['pauses']}× {_s(p['seconds'])}" for p in r["pauses"])
            lines.append(f"  {label(r['name'])}: talk {_s(r['talk_seconds'])}, available "
                         f"{_s(r['available_seconds'])}, wrap-up {_s(r['wrapup_seconds'])}, paused "
                         f"{_s(r['paused_seconds'])}{f' ({paused})' if paused else ''}; not answered "
                         f"{r['ring_no_answer']}; logins {r['logins']}, logouts {r['logouts']}")
    return lines


def _days(seconds: int) -> str:
    return f"{seconds // 86400} days" if seconds % 86400 == 0 else _s(seconds)


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s" if seconds < 3600 \
        else f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


CSV_FIELDS = ("day", "time", "direction", "number", "type", "result", "by", "queue", "manager", "dnid", "rule",
              "kind", "abc", "ring_seconds", "talk_seconds", "callback_after_seconds", "decision", "linkedid",
              "hold_seconds", "wrapup_seconds", "agent_talk_seconds", "abandoned", "recalled_after_seconds",
              "callback_requested")
