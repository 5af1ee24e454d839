from __future__ import annotations

import pytest

from router.core.identify import profile
from router.core.phones import normalise, score
from router.core.rulefile import load_rules
from router.core.snapshot import EMPTY, Snapshot
from tests.helpers import MONDAY_10, RULES_DIR, RoundTrips

RULES = load_rules(RULES_DIR / "default.yaml")
NOW = MONDAY_10  # the moment each call is identified at
H, D = 3600, 86400


def snap(customer=None, last=None, inbound=(), numbering=None) -> Snapshot:
    return Snapshot(customer or {}, last or {}, list(inbound), numbering, frozenset())


def who(number="+79035550101", s=EMPTY, now=NOW):
    return profile(normalise(number, "RU"), number, "", "", s, RULES, now)


def test_never_seen_number_is_new():
    c = who()
    assert (c.kind, c.known) == ("new", False)


def test_directory_customer_without_calls_is_known():
    c = who(s=snap({"abc": "A", "manager": "ivanov"}))
    assert (c.kind, c.known, c.abc, c.manager) == ("known", True, "A", "ivanov")


def test_repeat_call_within_window_is_repeat():
    assert who(s=snap(last={"in": str(NOW - 59 * 60)})).kind == "repeat"


def test_call_after_repeat_window_is_known():
    assert who(s=snap(last={"in": str(NOW - 61 * 60)})).kind == "known"


def test_our_missed_outbound_after_their_call_makes_callback_after_missed():
    c = who(s=snap(last={"in": str(NOW - 2 * H), "out": str(NOW - H), "out_ok": "0"}))
    assert (c.kind, c.callback_after) == ("callback", "missed")


def test_callback_after_a_finished_conversation_is_recorded_as_such():
    c = who(s=snap(last={"out": str(NOW - H), "out_ok": "1"}))
    assert (c.kind, c.callback_after) == ("callback", "answered")


def test_recent_inbound_after_our_call_is_repeat_not_callback():
    c = who(s=snap(last={"in": str(NOW - 10 * 60), "out": str(NOW - H), "out_ok": "1"}))
    assert c.kind == "repeat"


def test_callback_window_expires():
    assert who(s=snap(last={"out": str(NOW - 25 * H), "out_ok": "0"})).kind == "known"


def test_last_contact_long_ago_is_returning():
    assert who(s=snap(last={"in": str(NOW - 91 * D)})).kind == "returning"
    assert who(s=snap(last={"in": str(NOW - 89 * D)})).kind == "known"


def test_anonymous_caller_is_routed_as_new():
    c = who("anonymous")
    assert (c.kind, c.number, c.anonymous) == ("new", "", True)


def test_zone_from_customer_record_wins():
    c = who("+74232123456", snap({"timezone": "Asia/Yekaterinburg"}, numbering="Asia/Tokyo"))
    assert (c.tz, c.tz_source) == ("Asia/Yekaterinburg", "customer")


def test_zone_from_fixed_line_number_before_numbering_plan():
    c = who("+74232123456", snap(numbering="Asia/Tokyo"))
    assert (c.tz, c.tz_source) == ("Asia/Vladivostok", "number")


def test_zone_of_mobile_number_from_numbering_plan():
    c = who("+79147000123", snap(numbering="Asia/Vladivostok"))
    assert (c.tz, c.tz_source, c.local.hour) == ("Asia/Vladivostok", "numbering plan", 17)


def test_zone_falls_back_to_company():
    c = who("+79147000123")
    assert (c.tz, c.tz_source, c.local.hour) == ("Europe/Moscow", "company", 10)


def test_bad_zone_in_customer_record_is_ignored():
    assert who("+79147000123", snap({"timezone": "Nowhere/Land"})).tz == "Europe/Moscow"


def test_calls_within_counts_this_call_too():
    c = who(s=snap(inbound=[NOW - 6 * D, NOW - 2 * D, NOW - 8 * D]))
    assert c.calls_within(7 * D, NOW) == 3


def test_open_followup_comes_from_the_number_state():
    assert who(s=snap(last={"followup": "fu-1"})).open_followup == "fu-1"


def test_tags_are_split():
    assert who(s=snap({"tags": "vip;churn-risk"})).tags == {"vip", "churn-risk"}


async def test_snapshot_is_one_round_trip_and_records_the_call(store, monkeypatch):
    number = "+79035550101"
    await store.put_customers([(number, {"abc": "A", "manager": "ivanov"})])
    await store.set_device_state("PJSIP/101", "INUSE")
    await store.replace_numbering([(79035550000, 79035559999, "Asia/Omsk", "test")])
    await store.ping()
    trips = RoundTrips(monkeypatch)
    s = await store.snapshot(number, score(number), NOW, 7 * D, record_inbound="call-1")
    assert trips.n == 1
    assert s.customer == {"abc": "A", "manager": "ivanov"}
    assert s.busy == {"PJSIP/101"} and s.numbering == "Asia/Omsk" and s.state == {} and s.inbound == []
    again = await store.snapshot(number, score(number), NOW + 60, 7 * D)
    assert again.state["in"] == str(NOW) and again.inbound == [NOW]


async def test_numbering_range_outside_the_number_is_not_used(store):
    await store.replace_numbering([(79035550000, 79035550099, "Asia/Omsk", "test")])
    s = await store.snapshot("+79035550101", 79035550101, NOW, 0)
    assert s.numbering is None


@pytest.mark.parametrize("state,busy", [("INUSE", True), ("BUSY", True), ("RINGINUSE", True),
                                        ("NOT_INUSE", False), ("RINGING", False)])
async def test_device_states_feed_the_busy_set(store, state, busy):
    await store.set_device_state("PJSIP/101", "INUSE")
    await store.set_device_state("PJSIP/101", state)
    assert ("PJSIP/101" in await store.busy()) is busy
