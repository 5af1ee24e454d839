"""GET /metrics: the router's counters in Prometheus' text format.

The store's part (follow-ups per owner, the at-risk list) is read with a 1 s budget; when the
store cannot answer, the rest is still served and a comment line says what is missing.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from router.asterisk import admission
from router.asterisk.agi import ABUSE, ACCEPT_FAILED, BAD_HEADER, HEADER_LATE, FastAGIServer
from router.asterisk.ami import Listener
from router.service import LATENCY_BUCKETS_MS, Router
from router.web.keys import AGI_KEY, AMI_KEY, ROUTER_KEY
from router.web.storeerrors import STORE_ERRORS


async def metrics(request: web.Request) -> web.Response:
    router = request.app[ROUTER_KEY]
    c = router.followups.counters
    h = router.latency
    lines = ["# HELP callrouter_decisions_total Routing decisions made.", "# TYPE callrouter_decisions_total counter",
             f"callrouter_decisions_total {router.decisions}",
             "# TYPE callrouter_fallbacks_total counter", f"callrouter_fallbacks_total {router.fallbacks}",
             *_rule_lines(router),
             "# HELP callrouter_decision_latency_ms Identify + decide, store round trip included.",
             "# TYPE callrouter_decision_latency_ms histogram"]
    cumulative = 0
    for bound, n in zip((*LATENCY_BUCKETS_MS, "+Inf"), h.counts, strict=True):
        cumulative += n
        lines.append(f'callrouter_decision_latency_ms_bucket{{le="{bound}"}} {cumulative}')
    lines += [f"callrouter_decision_latency_ms_sum {h.sum:.3f}", f"callrouter_decision_latency_ms_count {cumulative}",
              "# TYPE callrouter_missed_calls_total counter", f"callrouter_missed_calls_total {c.missed_calls}",
              "# TYPE callrouter_sms_total counter",
              f'callrouter_sms_total{{result="sent"}} {c.sms_sent}',
              f'callrouter_sms_total{{result="skipped"}} {c.sms_skipped}',
              f'callrouter_sms_total{{result="failed"}} {c.sms_failed}',
              "# HELP callrouter_escalations_total Follow-up levels reached by this instance.",
              "# TYPE callrouter_escalations_total counter",
              f"callrouter_escalations_total {router.escalator.escalated}",
              "# HELP callrouter_risk_entered_total Customers this instance saw enter the at-risk list.",
              "# TYPE callrouter_risk_entered_total counter", f"callrouter_risk_entered_total {router.risk.entered}"]
    agi = request.app.get(AGI_KEY)
    if agi is not None:
        lines += agi_metrics(agi)
    ami = request.app.get(AMI_KEY)
    if ami is not None:
        lines += ami_metrics(ami)
    try:
        async with asyncio.timeout(1):
            counts = await router.followups.counts()
        lines += ["# TYPE callrouter_followups gauge"]
        for owner, n in sorted(counts.items()):
            safe = owner.replace("\\", "").replace('"', "")
            lines.append(f'callrouter_followups{{owner="{safe}",state="open"}} {n["open"]}')
            lines.append(f'callrouter_followups{{owner="{safe}",state="overdue"}} {n["overdue"]}')
        async with asyncio.timeout(1):
            at_risk = await router.store.r.zcard(router.store.k.risk_list)
        lines += ["# TYPE callrouter_at_risk gauge", f"callrouter_at_risk {at_risk}"]
    except STORE_ERRORS as e:
        lines.append(f"# follow-up counts unavailable: store unreachable ({type(e).__name__})")
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


AGI_COUNTERS = (
    ("callrouter_agi_refused_total", "FastAGI connections refused at the cap.",
     ((admission.REFUSED_FULL, 'reason="full"'), (admission.REFUSED_PEER, 'reason="per_peer"'),
      (ACCEPT_FAILED, 'reason="out_of_fds"'))),
    ("callrouter_agi_shed_total", "Idle FastAGI connections closed to admit new ones.", ((admission.SHED, ""),)),
    ("callrouter_agi_bad_sessions_total", "FastAGI sessions closed for breaking the protocol.",
     ((BAD_HEADER, 'reason="bad_header"'), (HEADER_LATE, 'reason="header_timeout"'), (ABUSE, 'reason="abuse"'))),
)


def agi_metrics(agi: FastAGIServer) -> list[str]:
    a = agi.admission
    lines = ["# HELP callrouter_agi_connections Open FastAGI connections (idle: header not complete yet).",
             "# TYPE callrouter_agi_connections gauge",
             f'callrouter_agi_connections{{state="routing"}} {a.open - a.idle}',
             f'callrouter_agi_connections{{state="idle"}} {a.idle}',
             "# TYPE callrouter_agi_connections_limit gauge", f"callrouter_agi_connections_limit {a.max_connections}"]
    totals = agi.flood.totals
    for name, help_text, series in AGI_COUNTERS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        lines += [f"{name}{{{labels}}} {totals[k]}" if labels else f"{name} {totals[k]}" for k, labels in series]
    return lines


def _rule_lines(router: Router) -> list[str]:
    src = router.source
    if src is None:
        return []
    return ["# HELP callrouter_rule_reloads_total Rule reloads; failed ones keep the rules in force.",
            "# TYPE callrouter_rule_reloads_total counter",
            f'callrouter_rule_reloads_total{{result="ok"}} {src.reloads_ok}',
            f'callrouter_rule_reloads_total{{result="failed"}} {src.reloads_failed}',
            "# HELP callrouter_rules_stale 1 while the rules in force are older than the rule files.",
            "# TYPE callrouter_rules_stale gauge", f"callrouter_rules_stale {int(src.status()['stale'])}"]


AMI_SERIES = (
    ("callrouter_ami_connected", "gauge", "1 while logged in to Asterisk's AMI.", "connected"),
    ("callrouter_ami_last_event_timestamp_seconds", "gauge", "When the last AMI event arrived (0: none yet).",
     "last_event_at"),
    ("callrouter_ami_events_total", "counter", "AMI events received.", "events"),
    ("callrouter_ami_reconnects_total", "counter", "AMI connections lost after a login.", "reconnects"),
    ("callrouter_ami_connect_failures_total", "counter", "AMI connects that failed (refused, unreachable).",
     "connect_failures"),
)


def ami_metrics(ami: Listener) -> list[str]:
    st = ami.status()
    host = st["host"].replace("\\", "").replace('"', "")
    lines = []
    for name, kind, help_text, key in AMI_SERIES:
        v = float(st[key] or 0)
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}",
                  f'{name}{{host="{host}"}} {int(v) if v.is_integer() else round(v, 3)}']
    return lines
