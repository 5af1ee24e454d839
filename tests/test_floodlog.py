"""Floods of one event become one log line per interval; limits for connections come from the environment."""

from __future__ import annotations

import logging

import pytest

from router.config import ConfigError, Settings
from router.floodlog import FloodLog
from tests.helpers import Clock


def test_ten_thousand_refusals_in_a_second_are_two_log_lines(caplog):
    caplog.set_level(logging.WARNING, "test.flood")
    clock = Clock(100.0)
    flood = FloodLog(logging.getLogger("test.flood"), "AGI", clock=clock)
    for i in range(10_000):
        flood.note("connections refused", f"10.0.0.{i % 250}")
        clock.advance(0.00005)
    clock.advance(1)
    flood.flush()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["AGI: 1 connections refused (last: 10.0.0.0)",
                     "AGI: 9999 connections refused (last: 10.0.0.249) in the last 1.5 s"]
    assert flood.totals["connections refused"] == 10_000


def test_a_quiet_event_after_the_interval_is_logged_at_once(caplog):
    caplog.set_level(logging.WARNING, "test.flood")
    clock = Clock(0.0)
    flood = FloodLog(logging.getLogger("test.flood"), "AGI", clock=clock)
    flood.note("bad header blocks")
    clock.advance(5)
    flood.note("bad header blocks")
    assert len(caplog.records) == 2


def test_connection_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ROUTER_RULES", "rules/")
    monkeypatch.setenv("ROUTER_MAX_CONNECTIONS", "5000")
    monkeypatch.setenv("ROUTER_MAX_CONNECTIONS_PER_PEER", "300")
    s = Settings.resolve()
    assert (s.max_connections, s.max_per_peer) == (5000, 300)
    monkeypatch.setenv("ROUTER_MAX_CONNECTIONS", "lots")
    with pytest.raises(ConfigError, match="ROUTER_MAX_CONNECTIONS='lots'"):
        Settings.resolve()
