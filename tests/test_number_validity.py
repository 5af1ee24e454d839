"""A number a digit short is no customer's: imports, the API and `router call` refuse it, saying where and why."""

from __future__ import annotations

import subprocess

import pytest

from router.core.phones import why_invalid
from router.directory.customers import import_csv
from router.risk.events import parse_batch
from tests.helpers import MSK, RISK_RULES_TEXT, ROUTER_CMD, compiled, router_env


def test_a_number_a_digit_short_parses_but_is_not_valid():
    why = why_invalid("8 913 555-00-0", "RU")
    assert why is not None and "(+78913555000) is not a valid number for RU" in why
    assert "too short" in why_invalid("+7495123456", "RU")
    assert why_invalid("8 913 555-00-01", "RU") is None and why_invalid("+14155550123", "RU") is None


async def test_the_import_skips_an_invalid_number_by_file_and_line_and_keeps_the_rest(store, tmp_path):
    f = tmp_path / "crm.csv"
    f.write_text("number,name\n8 913 555-00-01,Olga\n8 913 555-00-0,Short\n+79135550002,Ivan\n")
    report = await import_csv(store, str(f))
    assert report.imported == 2
    [error] = report.errors
    assert error.startswith(f"{f}:3: number '8 913 555-00-0' (+78913555000) is not a valid number for RU")
    assert await store.customer("+78913555000") == {}


def test_an_event_posted_for_an_invalid_number_is_a_problem_the_others_go_through():
    rs = compiled(RISK_RULES_TEXT).rs.risk
    batch = parse_batch([{"id": "e1", "number": "8 913 555-00-0", "kind": "technician_visit", "at": "2026-11-20"},
                         {"id": "e2", "number": "+79135550001", "kind": "technician_visit", "at": "2026-11-20"}],
                        rs, MSK, "RU", 1_795_400_000.0)
    assert len(batch.events) == 1 and "#0: number '8 913 555-00-0' (+78913555000) is not a valid" in batch.problems[0]


@pytest.mark.slow
def test_router_call_refuses_an_invalid_number_unless_told_to_send_it_as_it_is():
    done = subprocess.run([*ROUTER_CMD, "call", "8 913 555-00-0", "--agi", "127.0.0.1:1"], capture_output=True,
                          text=True, env=router_env(), timeout=60)
    assert done.returncode == 2 and "is not a valid number for RU" in done.stderr
    assert "--any-caller-id sends it as it is" in done.stderr
    sent = subprocess.run([*ROUTER_CMD, "call", "8 913 555-00-0", "--any-caller-id", "--agi", "127.0.0.1:1"],
                          capture_output=True, text=True, env=router_env(), timeout=60)
    assert sent.returncode == 2 and "cannot reach the router at agi://127.0.0.1:1" in sent.stderr
