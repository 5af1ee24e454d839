"""amoCRM over its API v4, with a private integration's long-lived token (ROUTER_AMOCRM_URL, ROUTER_AMOCRM_TOKEN).

The same operations as Bitrix24 (router/crm/ops.py), as amoCRM has them
(https://www.amocrm.ru/developers/content/crm_platform/calls-api, …/tasks-api, …/events-and-notes):

- a call is kept when it ends (whom it is for is noted when it is answered to Asterisk): `POST
  /api/v4/calls` `[{direction, uniq, duration, source, phone, call_status, responsible_user_id,
  created_at, request_id, link}]`; amoCRM files it on the contact or
  company with that number (and answers which) and keeps nothing for a number it does not know. It
  has no card to show while a phone rings: `call_start` and `ring` are done without a request;
- a task: `POST /api/v4/tasks` `[{text, complete_till, responsible_user_id, entity_id, entity_type,
  task_type_id: 1 (a call), request_id}]`; re-assigned and completed with `PATCH /api/v4/tasks/{id}`
  (`responsible_user_id`; `is_completed`, `result.text`). amoCRM's tasks take no comments: a further
  missed call is a note on the task's contact (`POST /api/v4/{entity_type}/notes`, `note_type: common`).

Answers: 2xx done; no answer, 429 (more than 7 requests a second) and 5xx retry; 401, 402 (the account
is not paid), 403 and 404 block the channel; other 4xx reject the message. amoCRM has no way to look
up a call or task by our id: a `calls` or `tasks` request retried after a lost answer may be kept
twice (documented in docs/crm.md).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from router.crm.connector import Context, Refused
from router.crm.jsonhttp import Answer
from router.crm.ops import CrmOp, fill
from router.crm.people import CrmUserRecord, People
from router.outbox.message import Delivery, Message

URL_ENV = "ROUTER_AMOCRM_URL"
TOKEN_ENV = "ROUTER_AMOCRM_TOKEN"
CALL_STATUS = {"200": 4, "486": 7, "304": 6}
"""call_status: 4 the conversation took place, 7 busy, 6 not reached."""
ENTITY_TYPES = {"contact": "contacts", "company": "companies", "lead": "leads", "customer": "customers"}
SOURCE = "callrouter"
NEW_TOKEN = (f"create a long-lived token in amoCRM (Settings > Integrations > your private integration > Keys and "
             f"scopes), put it in {TOKEN_ENV} and restart the router")



def judge(what: str, a: Answer) -> Delivery | None:
    if 200 <= a.status < 300:
        return None
    detail = f"amoCRM {what}: " + (f"HTTP {a.status} {a.text!r}" if a.status else a.text)
    if a.status == 0 or a.status >= 500 or a.status in (408, 429):
        return Delivery("retry", detail)
    if a.status in (401, 403):
        return Delivery("blocked", detail, f"the token in {TOKEN_ENV} is wrong, expired or revoked: {NEW_TOKEN}")
    if a.status == 402:
        return Delivery("blocked", detail, "the amoCRM account is not paid: its API is closed until it is")
    if a.status == 404:
        return Delivery("blocked", detail, f"check {URL_ENV}: it should be https://SUBDOMAIN.amocrm.ru")
    return Delivery("rejected", detail, "amoCRM refused this request as it is; it is not sent again")


def embedded(a: Answer, kind: str) -> list[dict]:
    body = a.body if isinstance(a.body, dict) else {}
    found = (body.get("_embedded") or {}).get(kind)
    return found if isinstance(found, list) else []


class AmoCrm:
    label = "amoCRM"
    env: tuple[str, ...] = (URL_ENV, TOKEN_ENV)

    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def request(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Answer:
        base, token = os.environ.get(URL_ENV, "").strip(), os.environ.get(TOKEN_ENV, "").strip()
        if not base or not token:
            missing = " and ".join(n for n, v in ((URL_ENV, base), (TOKEN_ENV, token)) if not v)
            raise Refused(Delivery("blocked", f"{missing} not set", f"set {missing}: {NEW_TOKEN}"))
        return await self.ctx.http.request(method, f"{base.rstrip('/')}{path}", body,
                                           {"Authorization": f"Bearer {token}"}, params)

    async def send(self, method: str, path: str, body: Any = None) -> Answer:
        a = await self.request(method, path, body)
        verdict = judge(f"{method} {path}", a)
        if verdict is not None:
            raise Refused(verdict)
        return a

    async def users(self) -> list[CrmUserRecord]:
        out: list[CrmUserRecord] = []
        page = 1
        while page:
            a = await self.request("GET", "/api/v4/users", params={"limit": "250", "page": str(page)})
            verdict = judge("GET /api/v4/users", a)
            if verdict is not None:
                raise Refused(verdict)
            for u in embedded(a, "users"):
                if (u.get("rights") or {}).get("is_active", True) and isinstance(u.get("id"), int):
                    out.append(CrmUserRecord(u["id"], "", str(u.get("name", ""))))
            more = ((a.body or {}).get("_links") or {}).get("next") if isinstance(a.body, dict) else None
            page = page + 1 if more else 0
        return out

    async def deliver(self, op: CrmOp, people: People, message: Message) -> Delivery:
        handler = {"call_start": self.call_start, "call_end": self.call_end, "task_open": self.task_open,
                   "task_comment": self.task_comment, "task_assign": self.task_assign,
                   "task_close": self.task_close}.get(op["op"])
        if handler is None:
            return Delivery("sent", "amoCRM keeps a call when it ends: nothing to send now")
        try:
            return await handler(op, people)
        except Refused as r:
            return r.delivery

    async def call_start(self, op: CrmOp, people: People) -> Delivery:
        """No request (amoCRM keeps a call when it ends): whom the call is for is kept for then."""
        uid = people.user(op.get("user", ""))
        if uid is not None:
            await self.ctx.store.set_crm_call(op["call"], {"user_id": uid, "user": op.get("user", "")})
        return Delivery("sent", "amoCRM keeps a call when it ends: nothing to send now")

    async def call_end(self, op: CrmOp, people: People) -> Delivery:
        s = self.ctx.settings()
        if not s.calls:
            return Delivery("sent", "calls are not kept in amoCRM (crm.calls: false)")
        uid = people.device_user(op.get("devices", []))
        known = (await self.ctx.store.crm_call(op["call"])).get("user_id")
        uid = uid if uid is not None else int(known) if known else people.user(op.get("user", ""))
        call: dict[str, Any] = {"direction": op.get("direction", "inbound"), "uniq": op["call"],
                                "duration": op["duration"], "source": SOURCE, "phone": op["number"],
                                "call_status": CALL_STATUS[op["status"]], "created_at": int(op["started"]),
                                "request_id": op["call"]}
        if uid is not None:
            call["responsible_user_id"] = uid
        if op["status"] == "200" and s.recording_url:
            day = datetime.fromtimestamp(op["started"], ZoneInfo(self.ctx.zone())).strftime("%Y/%m/%d")
            call["link"] = fill(s.recording_url, {"linkedid": op["linkedid"], "date": day,
                                                  "number": op["number"].lstrip("+")})
        a = await self.send("POST", "/api/v4/calls", [call])
        kept = embedded(a, "calls")
        if not kept or not kept[0].get("entity_id"):
            return Delivery("sent", f"amoCRM knows no contact or company with {op['number']}: the call is not kept")
        entity = f"{ENTITY_TYPES.get(str(kept[0].get('entity_type')), str(kept[0].get('entity_type')))}:" \
                 f"{kept[0]['entity_id']}"
        await self.ctx.store.set_crm_call(op["call"], {"call_id": str(kept[0].get("id", "")), "entity": entity,
                                                       "finished": 1})
        await self.ctx.store.set_crm_entity(op["number"], entity)
        return Delivery("sent", f"amoCRM call on {entity}")

    async def task_open(self, op: CrmOp, people: People) -> Delivery:
        if not self.ctx.settings().tasks:
            return Delivery("sent", "tasks are not kept in amoCRM (crm.tasks: false)")
        if (await self.ctx.store.crm_task(op["task"])).get("id"):
            return Delivery("sent", "in amoCRM already")
        uid = people.user(op.get("user", ""))
        if uid is None:
            return Delivery("blocked", "nobody in amoCRM to give the task to",
                            "map the person under crm.users or set crm.default_user, then reload the rules")
        entity = ""
        if op.get("first_call"):
            entity = (await self.ctx.store.crm_call(op["first_call"])).get("entity", "")
        entity = entity or await self.ctx.store.crm_entity(op["number"]) or ""
        task: dict[str, Any] = {"text": f"{op['title']}\n{op['text']}", "complete_till": int(op["deadline"]),
                                "responsible_user_id": uid, "task_type_id": 1, "request_id": op["task"]}
        kind, _, eid = entity.partition(":")
        if eid.isdigit():
            task.update(entity_type=kind, entity_id=int(eid))
        created = embedded(await self.send("POST", "/api/v4/tasks", [task]), "tasks")
        if not created:
            return Delivery("retry", "amoCRM answered no task id")
        crm_id = str(created[0]["id"])
        await self.ctx.store.set_crm_task(op["task"], {"id": crm_id, "entity": entity})
        return Delivery("sent", f"amoCRM task {crm_id} for user {uid}", reply={"id": crm_id})

    async def task_comment(self, op: CrmOp, people: People) -> Delivery:
        stored = await self.ctx.store.crm_task(op["task"])
        kind, _, eid = stored.get("entity", "").partition(":")
        if not stored.get("id") or not eid.isdigit():
            return Delivery("sent", "no amoCRM contact to note it on")
        await self.send("POST", f"/api/v4/{kind}/notes",
                        [{"entity_id": int(eid), "note_type": "common", "params": {"text": op["text"]}}])
        return Delivery("sent", f"note on {kind} {eid} for amoCRM task {stored['id']}")

    async def task_assign(self, op: CrmOp, people: People) -> Delivery:
        crm_id = (await self.ctx.store.crm_task(op["task"])).get("id")
        uid = people.user(op.get("user", ""))
        if not crm_id or uid is None:
            return Delivery("sent", "no amoCRM task or user to re-assign it to")
        await self.send("PATCH", f"/api/v4/tasks/{crm_id}", {"responsible_user_id": uid})
        return Delivery("sent", f"amoCRM task {crm_id} re-assigned to user {uid}")

    async def task_close(self, op: CrmOp, people: People) -> Delivery:
        crm_id = (await self.ctx.store.crm_task(op["task"])).get("id")
        if not crm_id:
            return Delivery("sent", "no amoCRM task to complete")
        await self.send("PATCH", f"/api/v4/tasks/{crm_id}", {"is_completed": True, "result": {"text": op["text"]}})
        return Delivery("sent", f"amoCRM task {crm_id} completed")
