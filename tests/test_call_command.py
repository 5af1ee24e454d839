"""`router call` places a real FastAGI call on a running router and prints what the dialplan would get."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.helpers import MONDAY_10, ROUTER_CMD, RULES, Clock, free_port, router_env


async def router_call(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*ROUTER_CMD, "call", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, env=router_env())
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.slow
async def test_call_prints_the_variables_the_dialplan_receives(serve, store):
    await store.put_customers([("+79035550101", {"abc": "A", "manager": "ivanov", "name": "Olga"})])
    r = await serve(RULES, Clock(MONDAY_10))
    status, out, err = await router_call("8 903 555-01-01", "--name", "Olga", "--dnid", "88006008208",
                                         "--agi", f"127.0.0.1:{r.agi.port}")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("ROUTE_DECISION ")
    assert "ROUTE_ABC          A" in lines and "ROUTE_MANAGER      ivanov" in lines
    assert "ROUTE_1_DEST       PJSIP/101" in lines
    assert any(line.startswith("chain: dial PJSIP/101 (20 s)") for line in lines)
    logged = await r.router.log.newest(1)
    assert logged[0]["call"]["dnid"] == "88006008208" and logged[0]["call"]["name"] == "Olga"


@pytest.mark.slow
async def test_call_json_has_the_variables_chain_and_commands(serve):
    r = await serve(RULES, Clock(MONDAY_10))
    status, out, _ = await router_call("+79161234500", "--json", "--agi", f"127.0.0.1:{r.agi.port}")
    assert status == 0
    d = json.loads(out)
    assert d["variables"]["ROUTE_CALLER_KIND"] == "new"
    assert d["chain"][0][:2] == ["queue", "new-connection"]
    assert d["commands"] and all(c.startswith(("SET VARIABLE", "EXEC")) for c in d["commands"])


@pytest.mark.slow
async def test_call_to_no_router_says_where_it_knocked():
    port = free_port()
    status, out, err = await router_call("+79161234500", "--agi", f"127.0.0.1:{port}")
    assert status == 2 and out == ""
    assert f"cannot reach the router at agi://127.0.0.1:{port} (Connection refused)" in err
    assert "Traceback" not in err
