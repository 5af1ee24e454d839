"""`router followups list`, the key prefix from the environment, `router tail --http`, and output cut short."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from zoneinfo import ZoneInfo

import pytest

from router.cli.followups import when
from router.cli.main import main
from router.cli.tail import base_url
from router.config import ConfigError
from tests.helpers import ROUTER_CMD, RULES_DIR, RULES_TEXT, Clock, compiled, missed, router_env

MSK = ZoneInfo("Europe/Moscow")
NOON = 1_795_424_400.0  # Monday 2026-11-23 12:00 Moscow time


def test_a_deadline_today_is_its_time_and_another_days_carries_its_date():
    assert when(NOON + 3600, NOON, MSK) == "13:00"
    assert when(NOON + 86400, NOON, MSK) == "Tue 24 Nov 12:00"


def test_tail_finds_the_router_where_serve_listens():
    assert base_url("127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert base_url("0.0.0.0:9090") == "http://127.0.0.1:9090"
    assert base_url("[::1]:8080") == "http://[::1]:8080"
    with pytest.raises(ConfigError, match="write HOST:PORT"):
        base_url("localhost")


async def test_followups_list_prints_the_worklist_in_order_overdue_marked(store, monkeypatch, capsys, tmp_path):
    from router.service import Router

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_TEXT)
    clock = Clock(time.time() - 3600)
    router = Router(compiled(RULES_TEXT), store, clock=clock)
    await router.followups.on_outcome(missed("+79161234500", "1", ended_at=clock()))  # due 30 min ago
    clock.advance(3000)
    await router.followups.on_outcome(missed("+79169998877", "2", ended_at=clock()))
    monkeypatch.setenv("ROUTER_PREFIX", store.k.prefix)  # no --prefix: the environment's is used
    store_url = f"redis://127.0.0.1:{store.address.nodes[0][1]}/0"
    argv = ["followups", "list", "--rules", str(rules), "--store", store_url]
    assert await asyncio.to_thread(main, argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["+79161234500", "+79169998877"]
    assert lines[0].endswith("[OVERDUE]") and not lines[1].endswith("[OVERDUE]")
    assert await asyncio.to_thread(main, [*argv, "--state", "overdue", "--json"]) == 0
    assert [t["number"] for t in json.loads(capsys.readouterr().out)] == ["+79161234500"]


@pytest.mark.slow
def test_output_to_a_reader_that_went_away_ends_quietly():
    """`router … | head`: the reader closes the pipe before the router writes; no traceback, status 0."""
    proc = subprocess.Popen([*ROUTER_CMD, "simulate", "--rules", str(RULES_DIR), "--caller", "89031234567", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=router_env())
    proc.stdout.close()  # long before the router has started and written anything
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err.decode()) == (0, "")
