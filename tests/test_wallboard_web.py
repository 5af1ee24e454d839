"""The wallboard served by a real router listening to the AMI simulator: who may open it (a head, a wallboard
token and nothing the token does not open), the queue status read at connect, and events pushed to the stream."""

from __future__ import annotations

import subprocess

import aiohttp
import pytest

from router.asterisk.amisim import block
from router.people.accounts import WALLBOARD_TOKEN_PREFIX, token_digest
from tests.helpers import (
    MONDAY_10,
    ROUTER_CMD,
    BoardStream,
    Clock,
    SignedIn,
    add_user,
    ami_target,
    board_queue,
    compiled,
    http_get,
    router_env,
    screen_token,
    user_token,
    wait_for,
)
from tests.helpers import RULES_TEXT as TEXT

RULES = compiled(TEXT)


async def test_a_wallboard_token_opens_the_wallboard_and_nothing_else(serve, store):
    await add_user(store, "boss", "head")
    await add_user(store, "petrova", "agent")
    r = await serve(RULES, Clock(MONDAY_10))
    token = await screen_token(store)
    wall = {"Authorization": f"Bearer {token}"}
    status, body = await http_get(r.http_port, "/api/wallboard", headers=wall)
    assert status == 200 and body["queues"] == [] and body["followups"]["owners"] == []
    for path in ("/api/report", "/api/followups", "/api/followups/counts", "/api/me/work", "/api/decisions"):
        status, _ = await http_get(r.http_port, path, headers=wall)
        assert status == 401, path
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{r.http_port}/api/decisions/stream",
                                                   params={"token": token}) as resp:
        assert resp.status == 401, "the token opens the wallboard's stream, not the decision log's"
    status, _ = await http_get(r.http_port, f"/api/wallboard?token={token}")
    assert status == 401, "?token= counts on the stream only (a token in a URL lands in logs)"
    status, _ = await http_get(r.http_port, "/api/wallboard",
                               headers={"Authorization": f"Bearer {await user_token(store, 'petrova')}"})
    assert status == 403, "an agent is no head"
    boss = await SignedIn.login(r.http_port, "boss")
    try:
        assert (await boss.get("/api/wallboard"))[0] == 200, "a head's session opens it"
    finally:
        await boss.close()
    await store.drop_wallboard_token("hall")
    status, _ = await http_get(r.http_port, "/api/wallboard", headers=wall)
    assert status == 401, "a revoked token opens nothing"


async def test_the_stream_shows_the_queue_read_at_connect_then_follows_events(serve, store, ami):
    clock = Clock(MONDAY_10)
    ami.queues = ["support"]
    ami.members = [{"Queue": "support", "Name": "Ivanov", "Location": "PJSIP/101", "StateInterface": "PJSIP/101",
                    "Status": "1", "Paused": "0", "InCall": "0"},
                   {"Queue": "support", "Name": "Petrova <b>", "Location": "PJSIP/102", "StateInterface": "PJSIP/102",
                    "Status": "1", "Paused": "1", "PausedReason": "lunch", "InCall": "0"}]
    ami.entries = [{"Queue": "support", "Position": "1", "Uniqueid": "1.1", "CallerIDNum": "+79161234567",
                    "Wait": "30"}]
    r = await serve(RULES, clock, ami=ami_target(ami))
    await add_user(store, "boss", "head")
    await wait_for(lambda: r.ami is not None and r.ami.synced.is_set())
    token = await screen_token(store)
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{r.http_port}/api/wallboard/stream",
                                                   params={"token": token}) as resp:
        assert resp.status == 200
        stream = BoardStream(resp)
        q = board_queue(await stream.next_board(), "support")
        assert (q["waiting"], q["longest_wait"]) == (1, 30)
        assert q["agents"]["available"] == 1 and q["agents"]["paused"] == 1
        assert [(m["name"], m["reason"]) for m in q["members"]] == [("Ivanov", ""), ("Petrova <b>", "lunch")]

        at = f"{MONDAY_10:.6f}"
        await ami.push(block(("Event", "QueueCallerJoin"), ("Queue", "support"), ("Uniqueid", "1.2"),
                             ("Timestamp", at)))
        board = await stream.board_where(lambda b: board_queue(b, "support")["waiting"] == 2)
        await ami.push(block(("Event", "QueueCallerLeave"), ("Queue", "support"), ("Uniqueid", "1.1"),
                             ("Timestamp", at))
                       + block(("Event", "AgentConnect"), ("Queue", "support"), ("Uniqueid", "1.1"),
                               ("Interface", "PJSIP/101"), ("HoldTime", "30"), ("Timestamp", at))
                       + block(("Event", "QueueCallerAbandon"), ("Queue", "support"), ("Uniqueid", "1.2"),
                               ("HoldTime", "0"), ("Timestamp", at))
                       + block(("Event", "QueueCallerLeave"), ("Queue", "support"), ("Uniqueid", "1.2"),
                               ("Timestamp", at))
                       + block(("Event", "Hangup"), ("Uniqueid", "1.2"), ("Linkedid", "1.2"), ("Timestamp", at)))
        board = await stream.board_where(lambda b: board_queue(b, "support")["today"]["short_abandoned"] == 1)
        q = board_queue(board, "support")
        assert q["waiting"] == 0 and q["agents"]["on_call"] == 1
        assert q["today"] == {"offered": 1, "answered": 1, "answered_in_time": 0, "service_level": 0.0,
                              "service_level_seconds": 20, "abandoned": 0, "short_abandoned": 1,
                              "abandon_rate": 0.0, "timed_out": 0, "kept": 0}, \
            "waited 30 s; a caller gone at once is apart"
        assert q["levels"]["service_level"] == "bad"


@pytest.mark.slow
async def test_router_wallboard_token_prints_a_token_once_and_replaces_the_screens_old_one(redis_url, prefix,
                                                                                           store):
    env = router_env(ROUTER_STORE=redis_url)
    run = lambda *a: subprocess.run([*ROUTER_CMD, "wallboard", *a, "--prefix", prefix],  # noqa: E731
                                    capture_output=True, text=True, env=env, timeout=60)
    first = run("token", "hall")
    assert first.returncode == 0 and first.stdout.startswith(WALLBOARD_TOKEN_PREFIX), first.stderr
    second = run("token", "hall")
    assert second.stdout != first.stdout
    assert run("token", "lobby").returncode == 0
    assert run("list").stdout.split() == ["hall", "lobby"]
    assert first.stdout.strip() not in run("list").stdout
    assert await store.wallboard_screen(token_digest(first.stdout.strip())) is None, "the old token stops working"
    assert await store.wallboard_screen(token_digest(second.stdout.strip())) == "hall"
    assert "revoked" in run("token", "hall", "--revoke").stdout
    assert run("list").stdout.split() == ["lobby"]
    bad = run("token", "hall tv")
    assert bad.returncode == 2 and "screen's name" in bad.stderr


async def test_after_a_reconnect_the_queues_are_read_afresh_and_the_days_counts_kept(serve, store, ami):
    ami.queues = ["support"]
    ami.members = [{"Queue": "support", "Name": "Ivanov", "Location": "PJSIP/101", "Status": "1", "Paused": "0"}]
    ami.entries = [{"Queue": "support", "Position": "1", "Uniqueid": "1.1", "Wait": "10"}]
    r = await serve(RULES, Clock(MONDAY_10), ami=ami_target(ami))
    await wait_for(lambda: r.ami is not None and r.ami.synced.is_set())
    token = await screen_token(store)
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{r.http_port}/api/wallboard/stream",
                                                   params={"token": token}) as resp:
        stream = BoardStream(resp)
        at = f"{MONDAY_10:.6f}"
        await ami.push(block(("Event", "QueueCallerLeave"), ("Queue", "support"), ("Uniqueid", "1.1"),
                             ("Timestamp", at))
                       + block(("Event", "AgentConnect"), ("Queue", "support"), ("Uniqueid", "1.1"),
                               ("Interface", "PJSIP/101"), ("HoldTime", "10"), ("Timestamp", at)))
        await stream.board_where(lambda b: board_queue(b, "support")["today"].get("answered") == 1)
        # while the router is away, Ivanov goes to lunch, Petrova logs in and two callers arrive
        ami.members = [{"Queue": "support", "Name": "Ivanov", "Location": "PJSIP/101", "Status": "1", "Paused": "1",
                        "PausedReason": "lunch"},
                       {"Queue": "support", "Name": "Petrova", "Location": "PJSIP/102", "Status": "1", "Paused": "0"}]
        ami.entries = [{"Queue": "support", "Position": "1", "Uniqueid": "2.1", "Wait": "40"},
                       {"Queue": "support", "Position": "2", "Uniqueid": "2.2", "Wait": "5"}]
        assert r.ami is not None
        r.ami.backoff = 0.05
        r.ami.synced.clear()
        ami.drop()
        board = await stream.board_where(lambda b: board_queue(b, "support")["waiting"] == 2)
        q = board_queue(board, "support")
        assert q["longest_wait"] == 40 and q["agents"]["paused"] == 1 and q["agents"]["available"] == 1
        assert [(m["name"], m["state"], m["reason"]) for m in q["members"]] == [("Ivanov", "paused", "lunch"),
                                                                               ("Petrova", "available", "")]
        assert q["today"]["answered"] == 1, "the day's counts survive the reconnect"
