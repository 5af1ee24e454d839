"""`router simulate --at` reads times as a person types them, in the company's zone by default."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from router.cli.main import main
from router.core.when import WhenError, parse_when
from tests.helpers import ROUTER_CMD, RULES_DIR, free_port, router_env

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 22, 20, 0, tzinfo=ZoneInfo("UTC")).timestamp()  # Sunday 23:00 in Moscow


@pytest.mark.parametrize(("text", "expected"), [
    ("23:30", "2026-11-22T23:30:00+03:00"),
    ("9:05", "2026-11-22T09:05:00+03:00"),
    ("tomorrow 09:00", "2026-11-23T09:00:00+03:00"),
    ("Tomorrow 9:00", "2026-11-23T09:00:00+03:00"),
    ("yesterday 18:00", "2026-11-21T18:00:00+03:00"),
    ("tomorrow", "2026-11-23T00:00:00+03:00"),
    ("mon 10:00", "2026-11-23T10:00:00+03:00"),
    ("sunday 10:00", "2026-11-22T10:00:00+03:00"),
    ("2026-11-23T22:30", "2026-11-23T22:30:00+03:00"),
    ("2026-11-23 22:30", "2026-11-23T22:30:00+03:00"),
    ("2026-11-23T22:30+03:00", "2026-11-23T22:30:00+03:00"),
    ("2026-11-23T19:30Z", "2026-11-23T19:30:00+00:00"),
    ("22:30 Asia/Vladivostok", "2026-11-23T22:30:00+10:00"),
    ("tomorrow 09:00 UTC", "2026-11-23T09:00:00+00:00"),
    ("2026-11-23 22:30 Asia/Vladivostok", "2026-11-23T22:30:00+10:00"),
])
def test_typed_times_read_in_the_company_zone_unless_one_is_given(text, expected):
    assert parse_when(text, MOSCOW, NOW).isoformat() == expected


def test_a_zone_moves_today_to_that_zones_date():
    # 23:00 Sunday in Moscow is already Monday 06:00 in Vladivostok
    assert parse_when("08:00 Asia/Vladivostok", MOSCOW, NOW).date().isoformat() == "2026-11-23"


def test_no_time_means_now():
    assert parse_when(None, MOSCOW, NOW).timestamp() == NOW
    assert parse_when("now", MOSCOW, NOW).timestamp() == NOW


@pytest.mark.parametrize(("text", "says"), [
    ("25:00", "not a time of day"),
    ("tomorow 9:00", "write one of"),
    ("22:30 Mars/Base", "unknown time zone 'Mars/Base'"),
    ("half past ten", "write one of"),
    ("tomorrow 9", "as a time of day"),
])
def test_unreadable_times_say_what_would_be_read(text, says):
    with pytest.raises(WhenError, match=says):
        parse_when(text, MOSCOW, NOW)


@freeze_time("2026-11-22 20:00:00")
def test_simulate_at_a_typed_time_uses_the_frozen_clock(capsys):
    assert main(["simulate", "--rules", str(RULES_DIR), "--caller", "+79161234500", "--at", "tomorrow 09:00",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["at"] == datetime(2026, 11, 23, 9, 0, tzinfo=MOSCOW).timestamp()


def _simulate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ROUTER_CMD, "simulate", "--rules", str(RULES_DIR), "--caller", "+79161234500", *args],
                          capture_output=True, text=True, timeout=60, env=router_env(ROUTER_STORE=""))


@pytest.mark.slow
def test_simulate_unreadable_time_is_a_clear_error_not_a_traceback():
    res = _simulate("--at", "half past ten")
    assert res.returncode == 2
    assert res.stderr.startswith("router simulate: --at: cannot read 'half past ten' as a time")
    assert "Traceback" not in res.stderr and res.stdout == ""


@pytest.mark.slow
def test_simulate_with_an_unreachable_store_warns_first_and_fails():
    res = subprocess.run([*ROUTER_CMD, "simulate", "--rules", str(RULES_DIR), "--caller", "+79161234500",
                          "--at", "10:00", "--store", f"redis://127.0.0.1:{free_port()}/0"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60, env=router_env())
    assert res.returncode == 3
    first, rest = res.stdout.split("\n", 1)
    assert "unreachable" in first and first.startswith("router simulate: store redis://127.0.0.1:")
    assert "rule: new prospects" in rest
