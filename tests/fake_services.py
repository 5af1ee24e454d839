"""The outside world the router talks HTTP to, as real servers on free local ports: the SMS provider
and CRM webhook that follow-ups notify (`Gateway`), a target that can be down, slow or up and
honours `Idempotency-Key` (`Sink`), the CRM asked about a caller at ring time (`FakeCrm`, with
the rules that ask it and a contact it knows), the company's mail server (`MailServer`, aiosmtpd)
and Telegram's bot API (`TelegramApi`). The `gateway`, `crm` and `mail` fixtures are in conftest.
"""

from __future__ import annotations

import asyncio
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

from aiohttp import web
from aiosmtpd.controller import Controller

from tests.helpers import NEW_PROSPECTS_THEN_SUPPORT, compiled, free_port

BIG = 1_000_000


class Gateway:
    """A real HTTP server playing the SMS provider and the CRM; `fail` requests fail first."""

    def __init__(self) -> None:
        self.sms: list[dict] = []
        self.crm: list[dict] = []
        self.fail = 0
        self.port = 0

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/sms", self._sms)
        app.router.add_post("/crm", self._crm)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        return runner

    async def _sms(self, request: web.Request) -> web.Response:
        if self.fail:
            self.fail -= 1
            return web.Response(status=503, text="try later")
        self.sms.append(dict(request.query))
        return web.json_response({"status": "OK"})

    async def _crm(self, request: web.Request) -> web.Response:
        if self.fail:
            self.fail -= 1
            return web.Response(status=502)
        self.crm.append(await request.json())
        return web.json_response({"result": True})


class Sink:
    """An SMS gateway and webhook target on a fixed port that can be down (nothing listens), slow or up.

    It honours `Idempotency-Key` as a careful target does: the first request with a key is taken
    (`taken`, in arrival order: the path and the JSON body), a repeat is answered 200 and counted
    in `repeats`; `answered` lists every request answered 200, repeats included. A request is
    taken only once its answer is ready (after `delay`); with `status` other than 200 it is
    answered that status and not taken.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.taken: dict[str, tuple[str, dict]] = {}
        self.answered: list[tuple[str, str, dict]] = []
        self.repeats = 0
        self.received = 0
        self.delay = 0.0
        self.status = 200
        self.runner: web.AppRunner | None = None

    async def up(self) -> None:
        app = web.Application()
        app.router.add_post("/{path}", self._take)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def _take(self, request: web.Request) -> web.Response:
        self.received += 1
        body = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)  # the target's own slowness, not the test's clock
        if self.status != 200:
            return web.Response(status=self.status, text="no")
        key, path = request.headers["Idempotency-Key"], request.match_info["path"]
        self.answered.append((key, path, body))
        if key in self.taken:
            self.repeats += 1
        else:
            self.taken[key] = (path, body)
        return web.json_response({"ok": True})

    def bodies(self, path: str) -> list[dict]:
        """The bodies taken on one path (`sms`, `hook`), in the order they were taken."""
        return [body for p, body in self.taken.values() if p == path]


def notify_section(port: int, retry_for: str = "1h") -> str:
    """A rule file's `notify`: SMS and a webhook (tasks created and updated) as JSON POSTs to a Sink on `port`."""
    return f"""
notify:
  retry_for: {retry_for}
  sms:
    method: POST
    url: "http://127.0.0.1:{port}/sms"
    json: {{to: "{{number}}", task: "{{task_id}}", text: "{{text}}"}}
  webhooks:
    - url: "http://127.0.0.1:{port}/hook"
      events: [created, updated]
      json: {{event: "{{event}}", task: "{{id}}", number: "{{number}}", count: "{{count}}"}}
"""


class FakeCrm:
    """A CRM on a real socket: contacts by phone, with a delay and a failure mode to turn on."""

    def __init__(self) -> None:
        self.contacts: dict[str, dict] = {}
        self.delay = 0.0
        self.mode = "ok"  # ok | error | garbage | huge
        self.hits: list[str] = []
        self.sent = 0
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/contact", self.contact)
        app.router.add_get("/api/contract", self.contract)
        app.router.add_get("/rest/crm.duplicate.findbycomm.json", self.findbycomm)
        app.router.add_get("/rest/crm.contact.get.json", self.contact_get)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def _fault(self, request: web.Request) -> web.StreamResponse | None:
        self.hits.append(request.path_qs)
        if self.delay:
            await asyncio.sleep(self.delay)  # the CRM stalling (the server's side, not the test's clock)
        if self.mode == "error":
            return web.json_response({"error": "db down"}, status=503)
        if self.mode == "garbage":
            return web.Response(text="<html>Bad gateway</html>", content_type="text/html")
        if self.mode == "huge":
            resp = web.StreamResponse()
            await resp.prepare(request)
            chunk = b"[" + b"0," * 32767 + b"0]"
            try:
                while self.sent < 50 * BIG:
                    await resp.write(chunk)
                    self.sent += len(chunk)
            except (ConnectionResetError, RuntimeError):
                pass
            return resp
        return None

    async def contact(self, request: web.Request) -> web.StreamResponse:
        fault = await self._fault(request)
        if fault is not None:
            return fault
        found = self.contacts.get(request.query.get("phone", ""))
        return web.json_response({"data": found} if found else {"data": None})

    async def contract(self, request: web.Request) -> web.StreamResponse:
        """A contact by its contract number (`?id=`), with its phone."""
        fault = await self._fault(request)
        if fault is not None:
            return fault
        wanted = request.query.get("id", "")
        found = next(({**c, "phone": phone} for phone, c in self.contacts.items()
                      if str((c.get("contract") or {}).get("id")) == wanted), None)
        return web.json_response({"data": found} if found else {"data": None})

    async def findbycomm(self, request: web.Request) -> web.StreamResponse:
        fault = await self._fault(request)
        if fault is not None:
            return fault
        found = self.contacts.get(request.query.get("values[]", ""))
        return web.json_response({"result": {"CONTACT": [found["ID"]]} if found else [], "time": {}})

    async def contact_get(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path_qs)
        found = next((c for c in self.contacts.values() if c.get("ID") == request.query.get("id")), None)
        return web.json_response({"result": found} if found else {"error": "Not found"}, status=200 if found else 400)

    async def close(self) -> None:
        await self.runner.cleanup()


def crm_rules(port: int, budget_ms: int = 150, max_bytes: int = 65536):
    """Rules that ask the CRM on `port` about each caller: debtors to collections, its A customers to
    their manager."""
    return compiled(crm_rules_text(port, budget_ms, max_bytes))


def crm_rules_text(port: int, budget_ms: int = 150, max_bytes: int = 65536) -> str:
    """`crm_rules` as the text of a rule file."""
    return ("""
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
targets:
  support:        {queue: support, timeout: 120}
  new_connection: {queue: new-connection, priority: 10}
  collections:    {queue: collections}
managers:
  ivanov: {endpoint: PJSIP/101, timeout: 20}
rules:
  - name: debtors go to collections
    when: {crm: {status: debtor}}
    route: [collections]
  - name: A customers reach their manager
    when: {abc: A, has_manager: true}
    route: [manager, support]
""" + NEW_PROSPECTS_THEN_SUPPORT + f"""\
directory:
  crm:
    budget_ms: {budget_ms}
    cache_ttl: 10m
    negative_ttl: 2m
    max_bytes: {max_bytes}
    timeout: 3s
    requests:
      - url: http://127.0.0.1:{port}/api/contact
        query: {{phone: "{{number}}"}}
        map: {{name: data.name, abc: data.segment, manager: data.owner.login, status: data.status,
              tags: data.tags, contract: data.contract.id}}
        translate: {{abc: {{gold: A, silver: B}}}}
""")


OLGA = {"name": "Olga CRM", "segment": "gold", "owner": {"login": "ivanov"}, "status": "active",
        "tags": ["vip", "wholesale"], "contract": {"id": 4711}}
"""A contact of the CRM's own format: a gold (A) customer of ivanov's."""


class MailServer:
    """A real SMTP server (aiosmtpd) on a free local port, in its own thread; `stop` and `start` again on the same
    port play an outage of the company's mail server."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.port = free_port()
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's handler hook
        self.mails.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class TelegramApi:
    """A real HTTP server shaped like api.telegram.org's bot API: POST /bot<token>/sendMessage."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.sent: list[dict] = []
        self.port = 0

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self._send)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        return runner

    async def _send(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        body = await request.json()
        self.sent.append(body)
        return web.json_response({"ok": True, "result": {"message_id": len(self.sent), "chat": {"id": body["chat_id"]},
                                                         "text": body["text"]}})
