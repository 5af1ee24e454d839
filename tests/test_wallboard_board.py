"""What the wall shows: the day's service level and abandon rate worked by hand, colours past thresholds from the
rule file (refused with file:line when they make no sense), the follow-up stack, pushes at most every 200 ms
and never more than 200 ms after the event (an injected clock: nothing waits)."""

from __future__ import annotations

import itertools
from collections import Counter

import orjson
import pytest

from router.asterisk.queuelive import DayCounts, QueueLive
from router.core.rules import ReportSettings
from router.core.wallboardrules import WallboardSettings
from router.service import Router
from router.wallboard.board import MAX_OWNERS, board, day_figures, stack, today_figures
from router.wallboard.coalesce import Coalescer
from router.wallboard.live import Wallboard
from tests.helpers import BASE_RULES, MONDAY_10, Clock, compiled, problems

T0 = 1_795_337_800.0
REPORT = ReportSettings()
NONE_YET = today_figures({}, REPORT)
"""No caller counted today in any queue."""


def test_service_level_and_abandon_rate_of_a_day_worked_by_hand():
    # 10 answered: 7 within 20 s (0, 5, 5, 12, 19, 20, 20) and 3 later (21, 45, 90); 2 abandoned after 30 s,
    # 1 after 2 s (short: apart, not offered); 1 timed out. Offered 13: SL 7/13, abandon rate 2/13.
    counts = DayCounts("d", Counter({0: 1, 5: 2, 12: 1, 19: 1, 20: 2, 21: 1, 45: 1, 90: 1}), Counter({30: 2, 2: 1}), 1)
    f = day_figures(counts, 20, 5)
    assert f == {"offered": 13, "answered": 10, "answered_in_time": 7, "service_level": 7 / 13,
                 "service_level_seconds": 20, "abandoned": 2, "short_abandoned": 1, "abandon_rate": 2 / 13,
                 "timed_out": 1, "kept": 0}


def test_a_caller_who_pressed_1_and_kept_his_place_is_offered_but_neither_answered_nor_abandoned():
    live = QueueLive(lambda t: "d")
    live.feed({"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": "1.1"}, T0)
    live.feed({"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": "1.2"}, T0 + 1)
    live.feed({"Event": "AgentConnect", "Queue": "support", "Uniqueid": "1.2", "HoldTime": "5"}, T0 + 6)
    live.feed({"Event": "QueueCallerLeave", "Queue": "support", "Uniqueid": "1.1"}, T0 + 95)
    live.feed({"Event": "UserEvent", "UserEvent": "callrouter", "Uniqueid": "1.1", "Result": "kept",
               "Queue": "support"}, T0 + 96)
    live.feed({"Event": "Hangup", "Uniqueid": "1.1"}, T0 + 97)
    f = today_figures(live.day_counts(T0 + 100), REPORT)("support")
    assert (f["offered"], f["answered"], f["kept"], f["abandoned"], f["timed_out"]) == (2, 1, 1, 0, 0)
    assert (f["service_level"], f["abandon_rate"]) == (0.5, 0.0), "as the report counts him: not answered in T"
    [q] = live.snapshot(T0 + 100)
    assert q["waiting"] == 0


def test_no_caller_yet_is_no_share_not_zero():
    f = day_figures(DayCounts("d"), 20, 5)
    assert (f["service_level"], f["abandon_rate"], f["offered"]) == (None, None, 0)


def test_the_reports_thresholds_count_the_wall_too_a_queues_own_t_first():
    report = compiled(BASE_RULES + """report:
  service_level: 30s
  short_abandon: 10s
  queues:
    management: {service_level: 10s}
""").rs.report
    days = {q: DayCounts("d", Counter({8: 1, 25: 1, 35: 1}), Counter({8: 1})) for q in ("support", "management")}
    live = QueueLive(lambda t: "d")
    for q in days:
        live.feed({"Event": "QueueCallerJoin", "Queue": q, "Uniqueid": f"{q}.1"}, T0)
    shown = {q["queue"]: q["today"] for q in board(live.snapshot(T0), today_figures(days, report), {},
                                                    WallboardSettings(), T0)["queues"]}
    assert (shown["support"]["service_level"], shown["support"]["service_level_seconds"]) == (2 / 3, 30)
    assert (shown["management"]["service_level"], shown["management"]["service_level_seconds"]) == (1 / 3, 10)
    assert shown["support"]["short_abandoned"] == 1 and shown["support"]["abandon_rate"] == 0.0


def test_figures_past_their_thresholds_turn_amber_then_red():
    live = QueueLive(lambda t: "d")
    for i in range(4):
        live.feed({"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": f"1.{i}"}, T0 - 100 + i)
    live.feed({"Event": "QueueMemberStatus", "Queue": "support", "Interface": "PJSIP/101", "MemberName": "Ivanov",
               "Status": "1", "Paused": "0", "InCall": "0"}, T0)
    [q] = board(live.snapshot(T0), today_figures({"support": DayCounts("d", Counter({5: 7, 50: 3}),
                                                                        Counter({40: 1}))}, REPORT), {},
                WallboardSettings(), T0)["queues"]
    assert q["today"]["service_level"] == pytest.approx(7 / 11)
    assert q["levels"] == {"waiting": "warn", "longest_wait": "warn", "available": "warn", "service_level": "warn",
                           "abandon_rate": "warn"}
    [q] = board(live.snapshot(T0 + 30), NONE_YET, {}, WallboardSettings(), T0 + 30)["queues"]
    assert q["levels"]["longest_wait"] == "bad"
    assert (q["levels"]["service_level"], q["levels"]["abandon_rate"]) == ("ok", "ok"), "no caller yet today"


def test_follow_up_stack_most_overdue_first_and_the_rest_summed():
    counts = {f"owner{i:02d}": {"open": i + 1, "overdue": i % 3} for i in range(MAX_OWNERS + 4)}
    counts["duty"] = {"open": 9, "overdue": 7}
    s = stack(counts, WallboardSettings())
    assert s["owners"][0] == {"owner": "duty", "open": 9, "overdue": 7, "level": "bad"}
    assert [r["overdue"] for r in s["owners"]] == sorted((r["overdue"] for r in s["owners"]), reverse=True)
    assert len(s["owners"]) == MAX_OWNERS
    shown = sum(r["open"] for r in s["owners"])
    assert shown + s["more"]["open"] == sum(c["open"] for c in counts.values())
    assert {r["level"] for r in s["owners"] if r["overdue"] == 1} == {"ok"}
    assert {r["level"] for r in s["owners"] if r["overdue"] == 2} == {"warn"}


def test_wallboard_section_in_the_rule_file():
    rules = compiled(BASE_RULES + """wallboard:
  colours:
    service_level: {warn: 90%, bad: 0.7}
    longest_wait: {warn: 45s, bad: 3m}
""")
    w = rules.rs.wallboard
    assert (w.colours.service_level.warn, w.colours.service_level.bad, w.colours.longest_wait.bad,
            w.colours.abandon_rate.warn) == (0.9, 0.7, 180, 0.05)


def test_thresholds_that_make_no_sense_are_refused_with_file_and_line():
    lines = BASE_RULES.count("\n")
    out = problems(BASE_RULES + """wallboard:
  colours:
    service_level: {warn: 60%, bad: 80%}
    abandon_rate: {warn: 5, bad: 10%}
    longest_wait: {warn: 60, bad: 2m}
    waiting: {warn: 3, bad: 6, worst: 9}
""")
    assert out[0].startswith(f"r.yaml:{lines + 3}: wallboard.colours.service_level: bad (0.8) must be below warn")
    assert out[1].startswith(f"r.yaml:{lines + 4}: wallboard.colours.abandon_rate.warn: bad share 5")
    assert out[2].startswith(f"r.yaml:{lines + 5}: wallboard.colours.longest_wait.warn: bad duration 60")
    assert out[3].startswith(f"r.yaml:{lines + 6}: wallboard.colours.waiting.worst: unknown key")
    assert len(out) == 4


class Timers:
    """A clock moved by hand and the callbacks scheduled on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.due: list[tuple[float, object]] = []

    def call_later(self, delay: float, callback) -> None:
        self.due.append((self.now + delay, callback))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for at, callback in sorted([d for d in self.due if d[0] <= self.now], key=lambda d: d[0]):
            self.due.remove((at, callback))
            callback()  # type: ignore[operator]


def test_pushes_come_at_most_every_200_ms_and_never_later_than_200_ms_after_a_change():
    t = Timers()
    sent: list[float] = []
    c = Coalescer(0.2, lambda: t.now, t.call_later, lambda: sent.append(t.now))
    c.poke()
    assert sent == [0.0], "the first change after a quiet spell goes at once"
    changes = []
    for _ in range(100):  # a burst: a change every 10 ms for a second
        t.advance(0.01)
        c.poke()
        changes.append(t.now)
    t.advance(0.5)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.2 - 1e-9, "never two pushes within 200 ms"
    for changed in changes:  # each change is carried by a push within 200 ms of it
        assert any(changed <= s <= changed + 0.2 + 1e-9 for s in sent)
    assert len(sent) <= 1 + 1.0 / 0.2 + 1


async def test_an_ami_event_reaches_the_screens_within_200_ms_and_a_burst_as_one_push(store):
    clock = Clock(MONDAY_10)
    due: list[tuple[float, object]] = []
    wall = Wallboard(Router(compiled(BASE_RULES), store, clock=clock),
                     call_later=lambda delay, f: due.append((clock() + delay, f)))
    screen = wall.screens.subscribe()
    assert screen is not None

    def boards() -> list[dict]:
        out = [orjson.loads(f.split(b"data: ", 1)[1]) for f in screen.frames if f]
        screen.frames.clear()
        return [b["board"] for b in out]

    def run_due() -> None:
        for at, f in sorted([d for d in due if d[0] <= clock()], key=lambda d: d[0]):
            due.remove((at, f))
            f()  # type: ignore[operator]

    wall.feed({"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": "1.1"}, clock())
    [board] = boards()
    assert board["queues"][0]["waiting"] == 1, "the first change after a quiet spell goes at once"
    for i in range(2, 6):  # a burst within 50 ms
        clock.advance(0.01)
        wall.feed({"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": f"1.{i}"}, clock())
    assert boards() == [] and [round(at - MONDAY_10, 3) for at, _ in due] == [0.2]
    clock.advance(0.16)
    run_due()
    [board] = boards()
    assert board["queues"][0]["waiting"] == 5 and board["at"] == MONDAY_10 + 0.2, "the burst as one push, 200 ms on"
    clock.advance(5)
    wall.feed({"Event": "Newchannel", "Uniqueid": "9.9"}, clock())
    assert boards() == [] and due == [], "an event that changes nothing on the wall pushes nothing"


def test_the_rule_file_chooses_the_queues_shown_and_their_order():
    live = QueueLive(lambda t: "d")
    for name in ("sales", "support", "ext-queue-7"):
        live.feed({"Event": "QueueCallerJoin", "Queue": name, "Uniqueid": f"{name}.1"}, T0)
    settings = WallboardSettings.model_validate({"queues": ["support", "retention", "sales"]})
    shown = board(live.snapshot(T0), NONE_YET, {}, settings, T0)["queues"]
    assert [(q["queue"], q["waiting"]) for q in shown] == [("support", 1), ("retention", 0), ("sales", 1)]
    assert [q["queue"] for q in board(live.snapshot(T0), NONE_YET, {}, WallboardSettings(), T0)["queues"]] == [
        "ext-queue-7", "sales", "support"], "none named: every queue Asterisk reports, by name"


def test_a_queue_named_twice_or_too_many_queues_are_refused_with_file_and_line():
    lines = BASE_RULES.count("\n")
    out = problems(BASE_RULES + "wallboard:\n  queues: [support, sales, support]\n")
    assert out == [f"r.yaml:{lines + 2}: wallboard.queues: support named more than once"]
    out = problems(BASE_RULES + "wallboard:\n  queues: [" + ", ".join(f"q{i}" for i in range(9)) + "]\n")
    assert len(out) == 1 and out[0].startswith(f"r.yaml:{lines + 2}: wallboard.queues: ")


async def test_a_queues_wrap_up_from_the_report_section_shows_on_the_wall(store):
    clock = Clock(MONDAY_10)
    rules = compiled(BASE_RULES + "report:\n  queues:\n    support: {wrapup: 15s}\n")
    wall = Wallboard(Router(rules, store, clock=clock), call_later=lambda delay, f: None)
    for queue in ("support", "sales"):
        wall.feed({"Event": "QueueMemberStatus", "Queue": queue, "Interface": "PJSIP/101", "MemberName": "Ivanov",
                   "Status": "1", "Paused": "0", "InCall": "0", "Wrapuptime": "0"}, clock())
        wall.feed({"Event": "AgentComplete", "Queue": queue, "Interface": "PJSIP/101"}, clock())
    clock.advance(10)
    states = {q["queue"]: q["members"][0]["state"] for q in wall.board()["queues"]}
    assert states == {"support": "wrapup", "sales": "available"}, "sales has no wrap-up in the rules"
    clock.advance(6)
    assert {q["members"][0]["state"] for q in wall.board()["queues"]} == {"available"}
