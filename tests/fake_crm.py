"""CRMs on real local sockets, answering the request and response shapes of their public documentation.

`FakeBitrix24`: an incoming webhook at `/rest/1/{key}/{method}.json` taking JSON bodies; answers
`{"result": …, "time": {…}}`, errors `{"error": "…", "error_description": "…"}` with the HTTP statuses
https://apidocs.bitrix24.com/ gives for the methods the router uses: user.get (paged by 50),
telephony.externalcall.register (same CALL_ID for a repeat with the same EXTERNAL_CALL_ID within
30 minutes; a lead when CRM_CREATE=1 and nobody has the number), show, hide, finish ("Call is not
found" once finished), crm.duplicate.findbycomm, tasks.task.add / list (TAG) / get / update /
complete ("Action on the task is not allowed" once completed), task.commentitem.add / getlist.

`FakeAmoCrm`: amoCRM's API v4 with a bearer token: GET /api/v4/users, POST /api/v4/calls, POST
/api/v4/tasks, PATCH /api/v4/tasks/{id}, POST /api/v4/{entity}/notes.

Both record the requests that took effect (`log`: method and body, in order) and can go down (the
port closed: nothing listens) and come back on the same port.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.helpers import free_port

KEY = "s3cr3tk3y"
TIME = {"start": 1.0, "finish": 1.1, "duration": 0.1, "processing": 0.1, "date_start": "2026-11-23T10:00:00+03:00",
        "date_finish": "2026-11-23T10:00:00+03:00", "operating_reset_at": 2, "operating": 0}
ASSIGNEE_GONE = 'User specified in the "Assignee" field not found<br>'


def iso_ok(value: Any) -> bool:
    """ISO 8601 with an offset, as CALL_START_DATE and DEADLINE must be."""
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).utcoffset() is not None
    except ValueError:
        return False


class Served:
    """A real HTTP server on a fixed free port that can be stopped (nothing listens) and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.runner: web.AppRunner | None = None
        self.log: list[tuple[str, dict]] = []
        """(method, body) of every request that took effect, in order."""
        self.refused: list[tuple[str, int, dict]] = []
        """(method, HTTP status, body) of every request answered with an error."""
        self.clock: Callable[[], float] | None = None
        self.arrivals: list[float] = []
        """When each request arrived, by `clock` (the test's), for the rate test."""

    def app(self) -> web.Application:
        raise NotImplementedError

    async def up(self) -> None:
        self.runner = web.AppRunner(self.app(), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def methods(self) -> list[str]:
        return [m for m, _ in self.log]


class FakeBitrix24(Served):
    def __init__(self) -> None:
        super().__init__()
        self.users: dict[int, dict] = {}
        self.contacts: dict[str, int] = {}
        """Phone (E.164) -> contact id."""
        self.calls: dict[str, dict] = {}
        self.tasks: dict[int, dict] = {}
        self.comments: dict[int, list[dict]] = {}
        self.leads = 0
        self.lose_answer: set[str] = set()
        """Methods whose next request takes effect but whose answer is lost (the connection dropped)."""

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.port}/rest/1/{KEY}/"

    def user(self, uid: int, inner: str = "", name: str = "", active: bool = True) -> None:
        self.users[uid] = {"ID": str(uid), "ACTIVE": active, "NAME": name or f"User{uid}", "LAST_NAME": "",
                           "UF_PHONE_INNER": inner}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/rest/1/{key}/{method}.json", self.handle)
        return app

    def requests(self, method: str) -> list[dict]:
        return [body for m, body in self.log if m == method]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.clock is not None:
            self.arrivals.append(self.clock())
        method = request.match_info["method"]
        body = await request.json() if request.can_read_body else {}
        if request.match_info["key"] != KEY:
            return self.error(method, body, 401, "INVALID_CREDENTIALS", "Invalid request credentials")
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return self.error(method, body, 404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        answer = handler(body)
        if isinstance(answer, web.Response):
            return answer
        self.log.append((method, body))
        if method in self.lose_answer:
            self.lose_answer.discard(method)
            assert request.transport is not None
            request.transport.close()  # done, but the router never hears it
            return web.Response()
        return web.json_response({"result": answer, "time": TIME})

    def error(self, method: str, body: dict, status: int, code: str, text: str) -> web.Response:
        self.refused.append((method, status, body))
        return web.json_response({"error": code, "error_description": text}, status=status)

    def active(self, uid: Any) -> bool:
        return str(uid).isdigit() and self.users.get(int(uid), {}).get("ACTIVE", False)

    # methods, as documented

    def m_user_get(self, body: dict) -> Any:
        wanted = [u for u in self.users.values() if u["ACTIVE"] or not (body.get("filter") or {}).get("ACTIVE")]
        start = int(body.get("start") or 0)
        page = wanted[start:start + 50]
        if start + 50 < len(wanted):
            return web.json_response({"result": page, "next": start + 50, "total": len(wanted), "time": TIME})
        return web.json_response({"result": page, "total": len(wanted), "time": TIME})

    def m_telephony_externalcall_register(self, b: dict) -> Any:
        method = "telephony.externalcall.register"
        if not self.active(b.get("USER_ID")):
            return self.error(method, b, 400, "ERROR_CORE", "User is not found or is not active")
        if b.get("TYPE") not in (1, 2, 3, 4, 5):
            return self.error(method, b, 400, "ERROR_CORE", "Unknown TYPE")
        if not iso_ok(b.get("CALL_START_DATE")):
            return self.error(method, b, 400, "ERROR_CORE", "CALL_START_DATE should be in the ISO-8601 format")
        for c in self.calls.values():
            same = all(c["params"].get(k) == b.get(k) for k in ("PHONE_NUMBER", "TYPE", "USER_ID", "EXTERNAL_CALL_ID"))
            if same and not c["finished"]:
                return c["result"]  # a repeat within 30 minutes: the same call
        phone = str(b.get("PHONE_NUMBER", ""))
        entity: tuple[str, int] | None = ("CONTACT", self.contacts[phone]) if phone in self.contacts else None
        created = None
        if entity is None and b.get("CRM_CREATE") == 1:
            self.leads += 1
            entity = created = ("LEAD", 100 + self.leads)
        call_id = f"externalCall.{len(self.calls) + 1:032x}.1773130779"
        result = {"CALL_ID": call_id, "CRM_CREATED_LEAD": created[1] if created else None,
                  "CRM_CREATED_ENTITIES": [{"ENTITY_TYPE": created[0], "ENTITY_ID": created[1]}] if created else [],
                  "CRM_ENTITY_TYPE": entity[0] if entity else "", "CRM_ENTITY_ID": entity[1] if entity else 0}
        self.calls[call_id] = {"params": b, "result": result, "finished": False, "shown": set()}
        return result

    def _open_call(self, b: dict) -> dict | None:
        c = self.calls.get(str(b.get("CALL_ID", "")))
        return c if c is not None and not c["finished"] else None

    def m_telephony_externalcall_show(self, b: dict) -> Any:
        c = self._open_call(b)
        if c is not None:
            c["shown"].add(b.get("USER_ID"))
        return c is not None

    def m_telephony_externalcall_hide(self, b: dict) -> Any:
        c = self._open_call(b)
        if c is not None:
            c["shown"].discard(b.get("USER_ID"))
        return c is not None

    def m_telephony_externalcall_finish(self, b: dict) -> Any:
        method = "telephony.externalcall.finish"
        c = self._open_call(b)
        if c is None:
            return self.error(method, b, 400, "ERROR_CORE",
                              "Call is not found (call should be registered prior to finishing)")
        if not self.active(b.get("USER_ID")):
            return self.error(method, b, 400, "ERROR_CORE", "User is not found or is not active")
        c["finished"] = True
        r = c["result"]
        return {"CALL_ID": b["CALL_ID"], "PORTAL_USER_ID": b["USER_ID"], "PHONE_NUMBER": c["params"]["PHONE_NUMBER"],
                "INCOMING": str(c["params"]["TYPE"]), "CALL_DURATION": b.get("DURATION", 0),
                "CALL_STATUS": 1 if str(b.get("STATUS_CODE")) == "200" else 0,
                "CALL_FAILED_CODE": str(b.get("STATUS_CODE")), "CRM_ACTIVITY_ID": 7000 + len(self.log),
                "CRM_ENTITY_TYPE": r["CRM_ENTITY_TYPE"], "CRM_ENTITY_ID": r["CRM_ENTITY_ID"], "ID": len(self.log)}

    def m_crm_duplicate_findbycomm(self, b: dict) -> Any:
        found = [self.contacts[v] for v in b.get("values") or [] if v in self.contacts]
        return {"CONTACT": found} if found else []

    def m_tasks_task_add(self, b: dict) -> Any:
        f = b.get("fields") or {}
        if not f.get("TITLE"):
            return self.error("tasks.task.add", b, 400, "ERROR_CORE", "Task title not specified<br>")
        if not self.active(f.get("RESPONSIBLE_ID")):
            return self.error("tasks.task.add", b, 400, "ERROR_CORE", ASSIGNEE_GONE)
        if "DEADLINE" in f and not iso_ok(f["DEADLINE"]):
            return self.error("tasks.task.add", b, 400, "ERROR_CORE", "Invalid deadline<br>")
        tid = 3700 + len(self.tasks) + 1
        self.tasks[tid] = {"id": str(tid), "title": f["TITLE"], "responsibleId": str(f["RESPONSIBLE_ID"]),
                           "deadline": f.get("DEADLINE"), "status": "2", "tags": list(f.get("TAGS") or []),
                           "ufCrmTask": list(f.get("UF_CRM_TASK") or [])}
        return {"task": self.tasks[tid]}

    def _task(self, method: str, b: dict, key: str = "taskId") -> dict | web.Response:
        t = self.tasks.get(int(b.get(key) or 0))
        if t is None:
            return self.error(method, b, 400, "0", "Action on the task is not allowed")
        return t

    def m_tasks_task_list(self, b: dict) -> Any:
        tag = (b.get("filter") or {}).get("TAG")
        return {"tasks": [{"id": t["id"]} for t in self.tasks.values() if tag is None or tag in t["tags"]]}

    def m_tasks_task_get(self, b: dict) -> Any:
        t = self._task("tasks.task.get", b)
        return t if isinstance(t, web.Response) else {"task": {"id": t["id"], "status": t["status"]}}

    def m_tasks_task_update(self, b: dict) -> Any:
        t = self._task("tasks.task.update", b)
        if isinstance(t, web.Response):
            return t
        f = b.get("fields") or {}
        if "RESPONSIBLE_ID" in f:
            if not self.active(f["RESPONSIBLE_ID"]):
                return self.error("tasks.task.update", b, 400, "ERROR_CORE", ASSIGNEE_GONE)
            t["responsibleId"] = str(f["RESPONSIBLE_ID"])
        return {"task": t}

    def m_tasks_task_complete(self, b: dict) -> Any:
        t = self._task("tasks.task.complete", b)
        if isinstance(t, web.Response):
            return t
        if t["status"] == "5":
            return self.error("tasks.task.complete", b, 400, "0", "Action on the task is not allowed")
        t["status"] = "5"
        return {"task": t}

    def m_task_commentitem_add(self, b: dict) -> Any:
        t = self._task("task.commentitem.add", b, "TASKID")
        if isinstance(t, web.Response):
            return t
        text = (b.get("FIELDS") or {}).get("POST_MESSAGE")
        if not text:
            return self.error("task.commentitem.add", b, 400, "ERROR_CORE", "Comment text not specified")
        comments = self.comments.setdefault(int(t["id"]), [])
        comments.append({"ID": str(3100 + len(comments)), "POST_MESSAGE": text, "AUTHOR_ID": "1"})
        return int(comments[-1]["ID"])

    def m_task_commentitem_getlist(self, b: dict) -> Any:
        t = self._task("task.commentitem.getlist", b, "TASKID")
        return t if isinstance(t, web.Response) else list(reversed(self.comments.get(int(t["id"]), [])))


class FakeAmoCrm(Served):
    TOKEN = "amo-long-lived-token"

    def __init__(self) -> None:
        super().__init__()
        self.users: list[dict] = []
        self.contacts: dict[str, int] = {}
        self.tasks: dict[int, dict] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v4/users", self.get_users)
        app.router.add_post("/api/v4/calls", self.post_calls)
        app.router.add_post("/api/v4/tasks", self.post_tasks)
        app.router.add_patch("/api/v4/tasks/{id}", self.patch_task)
        app.router.add_post("/api/v4/{entity}/notes", self.post_notes)
        return app

    def authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.TOKEN}"

    async def took(self, request: web.Request) -> tuple[dict | list | None, web.Response | None]:
        if not self.authorised(request):
            return None, web.json_response({"title": "Unauthorized", "status": 401}, status=401)
        body = await request.json() if request.can_read_body else None
        self.log.append((f"{request.method} {request.path}", body if isinstance(body, dict) else {"items": body}))
        return body, None

    async def get_users(self, request: web.Request) -> web.Response:
        _, refused = await self.took(request)
        return refused or web.json_response({"_page": 1, "_embedded": {"users": self.users}})

    async def post_calls(self, request: web.Request) -> web.Response:
        body, refused = await self.took(request)
        if refused:
            return refused
        calls, errors = [], []
        for c in body or []:
            if c.get("phone") in self.contacts:
                calls.append({"id": 900 + len(calls), "entity_id": self.contacts[c["phone"]], "entity_type": "contact",
                              "account_id": 1, "request_id": c.get("request_id")})
            else:
                errors.append({"request_id": c.get("request_id"), "status": 204, "title": "Entity not found"})
        return web.json_response({"_total_items": len(calls), "_embedded": {"calls": calls}, "errors": errors})

    async def post_tasks(self, request: web.Request) -> web.Response:
        body, refused = await self.took(request)
        if refused:
            return refused
        created = []
        for t in body or []:
            tid = 5000 + len(self.tasks) + 1
            self.tasks[tid] = {**t, "id": tid, "is_completed": False}
            created.append({"id": tid, "request_id": t.get("request_id")})
        return web.json_response({"_embedded": {"tasks": created}})

    async def patch_task(self, request: web.Request) -> web.Response:
        body, refused = await self.took(request)
        if refused:
            return refused
        t = self.tasks.get(int(request.match_info["id"]))
        if t is None:
            return web.json_response({"title": "Not found", "status": 404}, status=404)
        t.update(body or {})
        return web.json_response({"id": t["id"], "updated_at": 1})

    async def post_notes(self, request: web.Request) -> web.Response:
        body, refused = await self.took(request)
        return refused or web.json_response({"_embedded": {"notes": [{"id": 1, "entity_id": n.get("entity_id")}
                                                                     for n in body or []]}})
