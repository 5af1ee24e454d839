"""A staged rollout: a share of callers on new rules, the same on every router, promoted or rolled back in one
call. Real routers (FastAGI, HTTP, live events) on one real Redis."""

from __future__ import annotations

import asyncio

import pytest

from router.asterisk.callsim import call
from router.core.rollout import in_share
from router.server import start
from router.service import Router
from router.state.factory import open_store
from tests.helpers import (
    MONDAY,
    MONDAY_10,
    NEW_PROSPECTS_THEN_SUPPORT,
    ROUTER_CMD,
    Clock,
    RoundTrips,
    http_get,
    http_post,
    missed,
    router_env,
    wait_for,
)

V1 = """
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
targets:
  new_connection: {queue: new-connection, priority: 10}
  support:        {queue: support, timeout: 120}
  operators:      {queue: operators, timeout: 60}
rules:
""" + NEW_PROSPECTS_THEN_SUPPORT
V2 = V1.replace("route: [support]", "route: [operators]")
"""The candidate: everyone else (known callers) to operators instead of support."""
NUMBERS = [f"+7916{n:07d}" for n in range(1000)]


@pytest.fixture
async def routers(redis_url, prefix, tmp_path):
    """Routers started as `router serve` starts them (from a rule path), each on a store connection of its own."""
    started = []

    async def _start(path, clock=None):
        store = open_store(redis_url, prefix)
        router = Router.from_path(path, store, clock=clock or Clock(MONDAY_10))
        running = await start(router, ("127.0.0.1", 0), ("127.0.0.1", 0))
        started.append(running)
        await wait_for(running.router.feed.ready.is_set)
        return running

    yield _start
    for r in started:
        await r.stop()
        await r.router.store.close()


async def known(store, numbers) -> None:
    await store.put_customers([(n, {"name": "a customer"}) for n in numbers])


async def first_steps(router: Router) -> dict[str, tuple[str, str]]:
    """Every number's group and first queue on this router (decided, not recorded)."""
    out = {}
    for n in NUMBERS:
        d = await router.route({"agi_callerid": n}, record=False)
        out[n] = (d.extra.get("rollout", ""), d.steps[0].dest)
    return out


async def test_a_ten_percent_rollout_routes_the_same_callers_the_same_way_on_every_router_and_rolls_back(
        routers, tmp_path, redis_url, prefix):
    path = tmp_path / "rules"
    path.mkdir()
    (path / "rules.yaml").write_text(V1)
    a, b = await routers(path), await routers(path)
    await known(a.router.store, NUMBERS)
    v1 = a.router.rules
    assert {q for _, q in (await first_steps(a.router)).values()} == {"support"}

    (path / "rules.yaml").write_text(V2)
    status, body = await http_post(a.http_port, "/api/rules/reload?share=10", json={"by": "anna"})
    assert status == 200 and body["staged"] and body["share"] == 10 and body["current"] == v1.version
    await wait_for(lambda: b.router.rollouts.staged is not None)
    candidate = body["candidate"]

    on_a, on_b = await first_steps(a.router), await first_steps(b.router)
    assert on_a == on_b, "every router puts every caller in the same group, on the same rules"
    chosen = {n for n, (group, _) in on_a.items() if group == "candidate"}
    assert chosen == {n for n in NUMBERS if in_share(n, 10, candidate)}
    assert 60 <= len(chosen) <= 140, "about a tenth of the callers"
    assert all(q == ("operators" if n in chosen else "support") for n, (_, q) in on_a.items())
    assert await first_steps(a.router) == on_a, "a caller stays in their group call after call"

    status, body = await http_post(b.http_port, "/api/rules/reload")
    assert status == 422 and "a rollout is staged" in body["problems"][0], "no plain reload under a rollout"

    status, body = await http_post(b.http_port, "/api/rules/rollback", json={"by": "anna"})
    assert status == 200 and body["state"] == "rolled back" and body["in_force"] == v1.version
    await wait_for(lambda: a.router.rollouts.staged is None)
    assert a.router.rules is v1, "the rules that were in force, exactly"
    assert b.router.rules.version == v1.version
    assert {x for x in (await first_steps(a.router)).values()} == {("", "support")}
    assert {x for x in (await first_steps(b.router)).values()} == {("", "support")}
    status, body = await http_post(b.http_port, "/api/rules/rollback")
    assert status == 409 and "no rollout is staged" in body["error"]


async def test_a_router_started_during_a_rollout_follows_the_stored_versions_not_its_own_file(routers, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(V1)
    a = await routers(path)
    await known(a.router.store, NUMBERS)
    v1 = a.router.rules.version
    path.write_text(V2)
    assert (await http_post(a.http_port, "/api/rules/reload?share=30"))[0] == 200
    late = await routers(path)  # its own file already holds the candidate
    await wait_for(lambda: late.router.rollouts.staged is not None)
    assert late.router.rules.version == v1, "the rules in force are the stored ones, not its file's"
    assert await first_steps(late.router) == await first_steps(a.router)

    status, body = await http_post(late.http_port, "/api/rules/promote")
    assert status == 200 and body["state"] == "promoted"
    await wait_for(lambda: a.router.rollouts.staged is None)
    assert a.router.rules.version == late.router.rules.version != v1
    assert {x for x in (await first_steps(a.router)).values()} == {("", "operators")}
    assert a.router.source.status()["stale"] is False, "the rule path holds the promoted version"


async def test_decisions_are_marked_and_both_groups_compared_side_by_side(routers, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(V1)
    clock = Clock(MONDAY_10)
    a = await routers(path, clock)
    await known(a.router.store, NUMBERS[:40])
    path.write_text(V2)
    _, staged = await http_post(a.http_port, "/api/rules/reload?share=50")
    for uid, n in enumerate(NUMBERS[:40], 1):
        await call(a.agi.port, n, uid=uid)
        clock.advance(30)
    await a.router.log.flush()
    logged = []
    async for chunk in a.router.store.decisions_of(MONDAY):
        logged += chunk
    assert {(e["rollout"], e["rules_version"]) for e in logged} == {("current", staged["current"]),
                                                                      ("candidate", staged["candidate"])}
    mine = [e for e in logged if e["rollout"] == "candidate"][:3]
    for n, e in enumerate(mine):
        await a.router.store.record_outcome(missed(e["caller"]["number"], linkedid=f"m{n}", decision=e["id"],
                                                   ended_at=e["at"] + 20))
    status, body = await http_get(a.http_port, "/api/rules/rollout")
    groups = body["groups"]
    assert status == 200 and body["state"] == "staged" and body["share"] == 50
    assert groups["candidate"]["decisions"] + groups["current"]["decisions"] == 40
    assert (groups["candidate"]["missed"], groups["candidate"]["missed_share"]) == (3, 1.0)
    assert groups["current"]["missed_share"] is None, "nothing ended in that group yet"
    _, health = await http_get(a.http_port, "/healthz")
    assert health["rollout"]["candidate"] == staged["candidate"]


async def test_what_cannot_be_staged_is_refused_and_nothing_changes(routers, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(V1)
    a = await routers(path)
    status, body = await http_post(a.http_port, "/api/rules/reload?share=10")
    assert status == 409 and "holds the rules in force" in body["error"]
    path.write_text(V2.replace("route: [operators]", "route: [operatorz]"))
    status, body = await http_post(a.http_port, "/api/rules/reload?share=10")
    assert status == 422 and "operatorz" in body["problems"][0]
    status, body = await http_post(a.http_port, "/api/rules/reload?share=0")
    assert status == 400
    assert a.router.rollouts.staged is None and not await a.router.store.rollout()


@pytest.mark.slow
async def test_the_command_stages_shows_and_rolls_back(routers, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(V1)
    a = await routers(path)
    path.write_text(V2)
    url = f"http://127.0.0.1:{a.http_port}"

    async def rules(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(*ROUTER_CMD, "rules", *args, "--url", url, env=router_env(),
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode, out.decode(), err.decode()

    code, out, err = await rules("reload", "--share", "10", "--by", "anna")
    assert code == 0, err
    assert f"by anna: 10% of callers on version {a.router.rollouts.staged.candidate.version}" in out
    code, out, _ = await rules("rollout")
    assert code == 0 and "missed share" in out and "candidate" in out
    code, out, err = await rules("reload")
    assert code == 1 and "a rollout is staged" in err
    code, out, _ = await rules("rollback")
    assert code == 0 and "rolled back" in out
    assert a.router.rollouts.staged is None
    code, _, err = await rules("promote")
    assert code == 1 and "no rollout is staged" in err


async def test_a_call_under_a_rollout_is_still_one_store_round_trip(routers, tmp_path, monkeypatch):
    path = tmp_path / "rules.yaml"
    path.write_text(V1)
    a = await routers(path)
    path.write_text(V2)
    assert (await http_post(a.http_port, "/api/rules/reload?share=50"))[0] == 200
    await a.router.store.ping()
    groups = set()
    for uid, n in enumerate(NUMBERS[:20]):
        trips = RoundTrips(monkeypatch)
        d = await a.router.route({"agi_callerid": n, "agi_uniqueid": f"1.{uid}"})
        assert trips.n == 1, "the group is a hash of the number, the rollout read from memory"
        groups.add(d.extra["rollout"])
    assert groups == {"current", "candidate"}
