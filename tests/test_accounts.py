"""Accounts, sign-in and roles through the real HTTP server: every /api route refuses the role below the one it
needs, an agent reaches only his own tasks, actions are recorded under the signed-in name, sign-ins are
slowed after failures (and counted), sessions end."""

from __future__ import annotations

import subprocess

import aiohttp
import pytest

from router.core.outcome import Outcome
from router.people.accounts import RANK, User
from router.web.access import ACCESS
from tests.helpers import (
    MONDAY_10,
    PASSWORD,
    ROUTER_CMD,
    RULES,
    RULES_DIR,
    Clock,
    SignedIn,
    add_user,
    http_get,
    http_post,
    router_env,
    user_token,
)

ROLE_OF = {"agent": "petrova", "head": "head", "admin": "root"}


async def people(store):
    await add_user(store, "ivanov", "agent")
    await add_user(store, "petrova", "agent", holds=("duty",))
    await add_user(store, "head", "head")
    await add_user(store, "root", "admin")
    return {role: await user_token(store, name) for role, name in ROLE_OF.items()}


async def missed_task(router, number: str, linkedid: str = "1.1") -> dict:
    await router.followups.on_outcome(Outcome(linkedid, "inbound", number, "missed", ring_seconds=20.0,
                                              ended_at=MONDAY_10, reason="no answer"))
    return next(t for t in await router.followups.worklist("open") if t["number"] == number)


async def test_every_api_route_refuses_a_role_below_its_own(serve, store):
    tokens = await people(store)
    r = await serve(RULES, Clock(MONDAY_10), token="shared-admin")
    app = r.http.app
    routes = {(route.method, route.resource.canonical) for route in app.router.routes()
              if route.resource is not None and route.resource.canonical.startswith("/api/") and route.method != "HEAD"}
    assert routes == set(ACCESS), "a route without a decided role, or a decided role without a route"
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        for (method, path), needed in sorted(ACCESS.items()):
            url = f"http://127.0.0.1:{r.http_port}{path.replace('{id}', 'nope')}"
            async with s.request(method, url, json={}) as resp:
                assert resp.status == 401, (method, path, "no credentials")
            for role, token in tokens.items():
                async with s.request(method, url, json={}, headers={"Authorization": f"Bearer {token}"}) as resp:
                    allowed = RANK[role] >= RANK[needed]
                    assert (resp.status == 403) is not allowed, (method, path, role, resp.status)
                    assert resp.status != 401, (method, path, role)
            async with s.request(method, url, json={}, headers={"Authorization": "Bearer shared-admin"}) as resp:
                assert resp.status not in (401, 403), (method, path, "the shared token is an admin")


async def test_signing_in_gives_a_session_whose_posts_need_its_csrf_token(serve, store):
    await people(store)
    r = await serve(RULES, Clock(MONDAY_10))
    task = await missed_task(r.router, "+79161234500")
    await r.router.store.reassign_task(task["id"], "petrova", "test", MONDAY_10)
    me = await SignedIn.login(r.http_port, "petrova")
    try:
        status, who = await me.get("/api/me")
        assert (status, who["name"], who["role"], who["via"]) == (200, "petrova", "agent", "session")
        assert (await me.post(f"/api/followups/{task['id']}/comment", {"text": "calling now"}, csrf=False))[0] == 403
        status, _ = await me.post(f"/api/followups/{task['id']}/comment", {"by": "ivanov", "text": "calling now"})
        assert status == 200
        assert (await me.post(f"/api/followups/{task['id']}/close", {"by": "someone else"}))[0] == 200
        log = [c["text"] for c in (await r.router.store.task(task["id"]))["log"]]
        assert "petrova: calling now" in log and "closed by hand by petrova" in log, log
        async with me.session.post(f"http://127.0.0.1:{r.http_port}/logout",
                                   headers={"X-CSRF-Token": me.csrf}, allow_redirects=False) as resp:
            assert resp.status == 303
        assert (await me.get("/api/me"))[0] == 401
    finally:
        await me.close()


async def test_the_form_sign_in_redirects_home_and_a_wrong_password_gets_the_page_again(serve, store):
    await people(store)
    r = await serve(RULES, Clock(MONDAY_10))
    base = f"http://127.0.0.1:{r.http_port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.post(f"{base}/login", data={"name": "ivanov", "password": "wrong one!", "next": "/me"}) as resp:
            assert resp.status == 401 and "wrong name or password" in await resp.text()
        async with s.post(f"{base}/login", data={"name": "ivanov", "password": PASSWORD, "next": "//evil.example"},
                          allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/me", "never sent off-site"
            cookie = resp.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with s.post(f"{base}/login", data={"name": "ivanov", "password": PASSWORD},
                          headers={"Origin": "http://evil.example"}) as resp:
            assert resp.status == 403, "a sign-in posted from another site's page"


async def test_an_agent_reaches_only_his_own_tasks_and_a_head_reassigns(serve, store):
    tokens = await people(store)
    r = await serve(RULES, Clock(MONDAY_10))
    mine = await missed_task(r.router, "+79161234500", "1.1")
    theirs = await missed_task(r.router, "+79161234501", "1.2")
    await r.router.store.reassign_task(mine["id"], "duty", "test", MONDAY_10)  # petrova holds `duty`
    agent = {"Authorization": f"Bearer {tokens['agent']}"}
    status, listed = await http_get(r.http_port, "/api/followups", headers=agent)
    assert status == 200 and [t["id"] for t in listed["items"]] == [mine["id"]]
    status, closed = await http_get(r.http_port, "/api/followups?state=closed&manager=ivanov", headers=agent)
    assert status == 200 and closed["items"] == [], "another's name in ?manager= shows an agent nothing of theirs"
    assert (await http_get(r.http_port, f"/api/followups/{theirs['id']}", headers=agent))[0] == 403
    assert (await http_post(r.http_port, f"/api/followups/{theirs['id']}/close", headers=agent))[0] == 403
    status, done = await http_post(r.http_port, f"/api/followups/{mine['id']}/take", json={"by": "ivanov"},
                                   headers=agent)
    assert (status, done["owner"]) == (200, "petrova"), "taken by the token's person, not the typed name"
    head = {"Authorization": f"Bearer {tokens['head']}"}
    status, moved = await http_post(r.http_port, f"/api/followups/{theirs['id']}/assign", json={"to": "petrova"},
                                    headers=head)
    assert (status, moved["by"]) == (200, "head")
    task = await r.router.store.task(theirs["id"])
    assert task["owner"] == "petrova" and any("reassigned to petrova by head" in c["text"] for c in task["log"])
    assert (await http_post(r.http_port, f"/api/followups/{theirs['id']}/assign", json={"to": "x"},
                            headers=agent))[0] == 403


async def test_failed_sign_ins_slow_the_address_and_the_name_down_and_are_counted(serve, store):
    await people(store)
    clock = Clock(MONDAY_10)
    r = await serve(RULES, clock)
    url = f"http://127.0.0.1:{r.http_port}/login"

    async def attempt(name: str, password: str, source: str = "127.0.0.1") -> aiohttp.ClientResponse:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0))) as s, \
                s.post(url, json={"name": name, "password": password}) as resp:
            await resp.read()
            return resp

    for _ in range(5):
        assert (await attempt("ivanov", "guess guess guess")).status == 401
    refused = await attempt("ivanov", PASSWORD)
    assert (refused.status, refused.headers["Retry-After"]) == (429, "2"), "even the right password waits"
    assert (await attempt("ivanov", PASSWORD, "127.0.0.2")).status == 429, "the name is slowed from any address"
    assert (await attempt("petrova", PASSWORD, "127.0.0.3")).status == 200, "others, elsewhere, are not"
    clock.advance(2)
    assert (await attempt("ivanov", "guess guess guess")).status == 401
    clock.advance(3)
    assert (await attempt("ivanov", PASSWORD)).status == 429, "the sixth failure doubled the wait to 4 s"
    clock.advance(1)
    assert (await attempt("ivanov", PASSWORD, "127.0.0.4")).status == 200
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{r.http_port}/metrics") as resp:
        text = await resp.text()
    for line in ('callrouter_logins_total{result="ok"} 2.0', 'callrouter_logins_total{result="failed"} 6.0',
                 'callrouter_logins_total{result="throttled"} 3.0'):
        assert line in text, line


async def test_a_session_ends_after_its_hours_when_disabled_and_when_the_password_changes(serve, store):
    await people(store)
    clock = Clock(MONDAY_10)
    r = await serve(RULES, clock)
    first = await SignedIn.login(r.http_port, "ivanov")
    second = await SignedIn.login(r.http_port, "petrova")
    try:
        assert (await first.get("/api/me"))[0] == 200
        clock.advance(12 * 3600 + 1)
        assert (await first.get("/api/me"))[0] == 401, "12 hours after signing in"
        found = await store.user("petrova")
        await store.put_user(User(**{**found[0].record(), "devices": (), "holds": (), "disabled": True,
                                     "epoch": found[0].epoch + 1}))
        assert (await second.get("/api/me"))[0] == 401, "disabled: signed out at the next request"
    finally:
        await first.close()
        await second.close()


@pytest.mark.slow
def test_router_users_makes_an_account_and_a_token_that_works(redis_url, prefix):
    env = router_env(ROUTER_STORE=redis_url)
    run = lambda *a, stdin="": subprocess.run([*ROUTER_CMD, "users", *a, "--prefix", prefix], input=stdin,  # noqa: E731
                                              capture_output=True, text=True, env=env, timeout=60)
    added = run("add", "ivanov", "--role", "head", "--email", "ivanov@example.com", "--holds", "duty",
                "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert run("add", "ivanov", "--role", "head", "--password-stdin", stdin=PASSWORD + "\n").returncode == 2
    short = run("add", "petrova", "--role", "agent", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    token = run("token", "ivanov")
    assert token.returncode == 0 and token.stdout.startswith("crt_")
    listed = run("list")
    assert "ivanov" in listed.stdout and "head" in listed.stdout and "duty" in listed.stdout
    assert token.stdout.strip() not in listed.stdout
    assert run("disable", "ivanov").returncode == 0
    assert "disabled" in run("list").stdout


@pytest.mark.slow
def test_a_session_key_that_is_no_key_stops_router_serve_saying_how_to_make_one():
    started = subprocess.run([*ROUTER_CMD, "serve", "--rules", str(RULES_DIR)], capture_output=True, text=True,
                             timeout=60, env=router_env(ROUTER_SESSION_KEY="not-a-key"))
    assert started.returncode == 2
    assert "ROUTER_SESSION_KEY is not a session key" in started.stderr and "router users key" in started.stderr
