"""GET /metrics: the router's counters in Prometheus' text exposition format (version 0.0.4).

prometheus-client writes the text: it escapes label values as the format requires (backslash,
double quote, newline), so a follow-up owner's name — text anyone with API access may set —
or an AMI host cannot add lines of its own. Nothing is registered in the library's global
registry: each scrape builds its metric families from the counters the router keeps on its
own objects (plain ints) and hands them to `generate_latest`. Values are written as the
library writes them (`1.0`, `1.767e+09`); Prometheus reads them the same.

The store's part (follow-ups per owner, the at-risk list's length, the outbox's depth, oldest
message and blocked channels) is read with a 1 s budget each; when the store cannot answer, the
rest is still served and a comment line says what is missing. bench/metrics.py measures what one
response costs (bench/README.md, "/metrics").
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from router.asterisk import admission
from router.asterisk.agi import ABUSE, ACCEPT_FAILED, BAD_HEADER, HEADER_LATE, FastAGIServer
from router.asterisk.ami import Listener
from router.latency import LATENCY_BUCKETS_MS, Histogram
from router.outbox.outbox import Outbox, Status
from router.service import Router
from router.state.errors import STORE_ERRORS
from router.web.keys import AGI_KEY, AMI_KEY, ROUTER_KEY
from router.web.login import LOGINS
from router.web.paging import one_list_at_a_time
from router.web.worklist import OwnerCounts, owner_counts

STORE_BUDGET = 1.0
"""Seconds each of the store's two reads may take before the scrape goes on without it."""


@dataclass
class StoreReadings:
    """What the store adds to a scrape; None for a part it could not give, `missing` says why."""

    followups: dict[str, OwnerCounts] | None = None
    at_risk: int | None = None
    outbox: Status | None = None
    channels: tuple[str, ...] = ()
    """The channels this router sends on: each has a `blocked` series, 0 or 1."""
    missing: str = ""


class Families:
    """The families of one scrape, in the shape `generate_latest` reads (an object with collect())."""

    def __init__(self, families: Iterable[Metric]):
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _labelled(family: CounterMetricFamily | GaugeMetricFamily,
              series: Iterable[tuple[Sequence[str], float]]) -> Metric:
    for labels, value in series:
        family.add_metric(labels, value)
    return family


def latency_histogram(h: Histogram) -> HistogramMetricFamily:
    buckets, cumulative = [], 0
    for bound, n in zip((*LATENCY_BUCKETS_MS, "+Inf"), h.counts, strict=True):
        cumulative += n
        buckets.append((str(bound), cumulative))
    return HistogramMetricFamily("callrouter_decision_latency_ms", "Identify + decide, store round trip included.",
                                 buckets=buckets, sum_value=round(h.sum, 3))


def router_families(router: Router) -> Iterator[Metric]:
    c = router.followups.counters
    yield CounterMetricFamily("callrouter_decisions_total", "Routing decisions made.", value=router.decisions)
    yield CounterMetricFamily("callrouter_fallbacks_total",
                              "Calls given the fallback chain: store unavailable, no rule matched, or no step left.",
                              value=router.fallbacks)
    if (src := router.source) is not None:
        yield _labelled(CounterMetricFamily("callrouter_rule_reloads_total",
                                            "Rule reloads; failed ones keep the rules in force.", labels=["result"]),
                        ((["ok"], src.reloads_ok), (["failed"], src.reloads_failed)))
        yield GaugeMetricFamily("callrouter_rules_stale", "1 while the rules in force are older than the rule files.",
                                value=int(src.status()["stale"]))
    yield latency_histogram(router.latency)
    yield CounterMetricFamily("callrouter_missed_calls_total",
                              "Inbound calls nobody answered (each opens or adds to a follow-up).",
                              value=c.missed_calls)
    yield _labelled(CounterMetricFamily("callrouter_sms_total", "SMS to missed callers, by result.",
                                        labels=["result"]),
                    ((["sent"], c.sms_sent), (["skipped"], c.sms_skipped), (["failed"], c.sms_failed)))
    yield CounterMetricFamily("callrouter_escalations_total", "Follow-up levels reached by this instance.",
                              value=router.escalator.escalated)
    yield CounterMetricFamily("callrouter_risk_entered_total",
                              "Customers this instance saw enter the at-risk list.", value=router.risk.entered)
    yield GaugeMetricFamily("callrouter_store_without_persistence",
                            "1 while Redis keeps nothing on disk (no AOF, no RDB snapshots): see /healthz.",
                            value=int(bool(router.store_warning)))
    yield from outbox_counters(router.followups.outbox)
    yield from callback_counters(router.callbacks.counts)


CALLBACK_RESULTS = ("originated", "agent_answered", "agent_missed")


def callback_counters(counts: Counter[str]) -> Iterator[Metric]:
    yield _labelled(CounterMetricFamily("callrouter_callbacks_refused",
                                        "Callbacks refused before dialling, by the callbacks.allow/deny pattern or "
                                        "check that refused the number.", labels=["pattern"]),
                    sorted(([k.partition(":")[2]], v) for k, v in counts.items() if k.startswith("refused:")))
    yield _labelled(CounterMetricFamily("callrouter_callbacks_limited",
                                        "Callbacks not dialled because a rate limit was reached.", labels=["limit"]),
                    (([limit], counts[f"limited:{limit}"]) for limit in ("at_once", "per_minute")))
    yield _labelled(CounterMetricFamily("callrouter_callbacks", "Callbacks this instance originated, and whether "
                                        "the agent's phone answered.", labels=["result"]),
                    (([r], counts[r]) for r in CALLBACK_RESULTS))


OUTBOX_RESULTS = ("sent", "rejected", "given_up", "skipped")
"""What became of the messages this instance handled (`Outbox.counts`); failed attempts are counted apart."""


def outbox_counters(outbox: Outbox) -> Iterator[Metric]:
    channels = sorted(set(outbox.senders) | {channel for channel, _ in outbox.counts})
    yield _labelled(CounterMetricFamily("callrouter_outbox_messages_total",
                                        "Messages (SMS, webhooks) this instance sent, saw refused, gave up on, "
                                        "or skipped as already sent.", labels=["channel", "result"]),
                    (([c, r], outbox.counts[(c, r)]) for c in channels for r in OUTBOX_RESULTS))
    yield _labelled(CounterMetricFamily("callrouter_outbox_failed_attempts_total",
                                        "Attempts that failed and will be tried again.", labels=["channel"]),
                    (([c], outbox.counts[(c, "failed_attempts")]) for c in channels))
    yield GaugeMetricFamily("callrouter_outbox_unwritten",
                            "Messages waiting in this instance's memory for the store to take them.",
                            value=len(outbox.unwritten))


AGI_COUNTERS = (
    ("callrouter_agi_refused_total", "FastAGI connections refused at the cap.",
     ((admission.REFUSED_FULL, "full"), (admission.REFUSED_PEER, "per_peer"), (ACCEPT_FAILED, "out_of_fds"))),
    ("callrouter_agi_shed_total", "Idle FastAGI connections closed to admit new ones.", ((admission.SHED, None),)),
    ("callrouter_agi_bad_sessions_total", "FastAGI sessions closed for breaking the protocol.",
     ((BAD_HEADER, "bad_header"), (HEADER_LATE, "header_timeout"), (ABUSE, "abuse"))),
)
"""name, help, (flood counter, the `reason` label or None for a series without labels)."""


def agi_families(agi: FastAGIServer) -> Iterator[Metric]:
    a = agi.admission
    yield _labelled(GaugeMetricFamily("callrouter_agi_connections",
                                      "Open FastAGI connections (idle: header not complete yet).", labels=["state"]),
                    ((["routing"], a.open - a.idle), (["idle"], a.idle)))
    yield GaugeMetricFamily("callrouter_agi_connections_limit", "The most FastAGI connections held open at once.",
                            value=a.max_connections)
    totals = agi.flood.totals
    for name, help_text, series in AGI_COUNTERS:
        if series[0][1] is None:
            yield CounterMetricFamily(name, help_text, value=totals[series[0][0]])
        else:
            yield _labelled(CounterMetricFamily(name, help_text, labels=["reason"]),
                            (([reason], totals[k]) for k, reason in series))


AMI_SERIES = (
    ("callrouter_ami_connected", GaugeMetricFamily, "1 while logged in to Asterisk's AMI.", "connected"),
    ("callrouter_ami_last_event_timestamp_seconds", GaugeMetricFamily,
     "When the last AMI event arrived (0: none yet).", "last_event_at"),
    ("callrouter_ami_events_total", CounterMetricFamily, "AMI events received.", "events"),
    ("callrouter_ami_reconnects_total", CounterMetricFamily, "AMI connections lost after a login.", "reconnects"),
    ("callrouter_ami_connect_failures_total", CounterMetricFamily,
     "AMI connects that failed (refused, unreachable).", "connect_failures"),
)


def ami_families(ami: Listener) -> Iterator[Metric]:
    st = ami.status()
    for name, kind, help_text, key in AMI_SERIES:
        yield _labelled(kind(name, help_text, labels=["host"]), (([st["host"]], float(st[key] or 0)),))


def store_families(readings: StoreReadings) -> Iterator[Metric]:
    if readings.followups is not None:
        yield _labelled(GaugeMetricFamily("callrouter_followups", "Open and overdue follow-ups per owner.",
                                          labels=["owner", "state"]),
                        (series for owner, n in sorted(readings.followups.items())
                         for series in (([owner, "open"], n["open"]), ([owner, "overdue"], n["overdue"]))))
    if readings.at_risk is not None:
        yield GaugeMetricFamily("callrouter_at_risk", "Customers on the at-risk list.", value=readings.at_risk)
    if (o := readings.outbox) is not None:
        yield GaugeMetricFamily("callrouter_outbox_depth", "Messages queued to leave (every router's).",
                                value=o.depth)
        yield GaugeMetricFamily("callrouter_outbox_oldest_age_seconds",
                                "How long the oldest queued message has waited (0: none queued).",
                                value=o.oldest_age or 0)
        yield _labelled(GaugeMetricFamily("callrouter_outbox_blocked",
                                          "1 while a channel's target refuses every message (a wrong key or URL: "
                                          "/healthz says what to do).", labels=["channel"]),
                        (([c], int(c in o.blocked)) for c in sorted(set(readings.channels) | set(o.blocked))))
        yield GaugeMetricFamily("callrouter_outbox_given_up",
                                "Messages given up on and kept for the admin (the newest 1000).", value=o.given_up)


def exposition(router: Router, agi: FastAGIServer | None, ami: Listener | None, readings: StoreReadings,
               logins: Counter[str] | None = None) -> bytes:
    """One /metrics body."""
    families = [*router_families(router), *(agi_families(agi) if agi is not None else ()),
                *(ami_families(ami) if ami is not None else ()), *store_families(readings),
                *(login_families(logins) if logins is not None else ())]
    body = generate_latest(Families(families))
    if readings.missing:
        body += f"# {readings.missing}\n".encode()
    return body


async def read_store(router: Router, gate: asyncio.Semaphore) -> StoreReadings:
    readings = StoreReadings(channels=tuple(router.followups.outbox.senders))
    try:
        async with gate, asyncio.timeout(STORE_BUDGET):  # behind a list being built, then its own budget
            readings.followups = await owner_counts(router)
        async with asyncio.timeout(STORE_BUDGET):
            readings.at_risk = await router.store.r.zcard(router.store.k.risk_list)
        async with asyncio.timeout(STORE_BUDGET):
            readings.outbox = await router.followups.outbox.status()
    except STORE_ERRORS as e:
        readings.missing = (f"follow-up counts, at-risk list and outbox unavailable: store unreachable "
                            f"({type(e).__name__})")
    return readings


def login_families(logins: Counter[str]) -> Iterator[Metric]:
    yield _labelled(CounterMetricFamily("callrouter_logins_total", "Sign-ins at /login, by result (ok, failed, "
                                        "throttled: refused unheard while failures slow the address or name down; "
                                        "refused: posted from another site).", labels=["result"]),
                    [([r], logins[r]) for r in ("ok", "failed", "throttled", "refused")])


async def metrics(request: web.Request) -> web.Response:
    router = request.app[ROUTER_KEY]
    body = exposition(router, request.app.get(AGI_KEY), request.app.get(AMI_KEY),
                      await read_store(router, one_list_at_a_time(request)), request.app.get(LOGINS))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
