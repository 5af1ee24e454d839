"""Bitrix24 over its REST API, through an incoming webhook (ROUTER_BITRIX24_WEBHOOK).

A request is `POST {webhook}{method}.json` with a JSON body; the answer is `{"result": …, "time": {…}}`,
an error `{"error": "CODE", "error_description": "…"}` with HTTP 400, 401, 403, 404, 429, 500 or 503
(https://apidocs.bitrix24.com/, the methods below, and its list of system errors). Judged as:

| answer | verdict |
|---|---|
| 200 with `result` | done |
| no answer, 5xx, 503 QUERY_LIMIT_EXCEEDED, 429 OPERATION_TIME_LIMIT, 200 that is not JSON | retry |
| 401 (INVALID_CREDENTIALS, insufficient_scope, ACCESS_DENIED…), 403, 404 method not found | blocked: the webhook |
| "User is not found or is not active", the assignee not found | blocked: that user (mapped again from the rule file) |
| any other 400 | rejected |

Idempotency, per method (the outbox gives one sender at a time per customer and retries after a
lost answer, so each request must be harmless twice or looked for first):

- telephony.externalcall.register carries EXTERNAL_CALL_ID = the call's key: Bitrix24 answers a repeat
  with the same parameters within 30 minutes with the same CALL_ID. A register retried after a lost
  answer more than 30 minutes later registers the call a second time (a card never finished).
- telephony.externalcall.finish is marked as tried first; "Call is not found" on a call finished by an
  earlier attempt is taken as done. Finishing a call never registered registers it first.
- show and hide are harmless twice.
- tasks.task.add carries the router's task id as a tag; a retry after a lost answer looks for it
  (tasks.task.list filter TAG) before adding.
- task.commentitem.add: a retry after a lost answer lists the task's comments and adds none with the
  same text.
- tasks.task.update RESPONSIBLE_ID is the same change twice; tasks.task.complete on a task completed
  already ("Action on the task is not allowed") is done when tasks.task.get says status 5.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from router.crm.connector import Context, Refused
from router.crm.jsonhttp import Answer
from router.crm.ops import CrmOp, fill, iso
from router.crm.people import CrmUserRecord, People
from router.outbox.message import Delivery, Message

WEBHOOK_ENV = "ROUTER_BITRIX24_WEBHOOK"
SCOPES = "crm, telephony, task, user"
ENTITY_PREFIX = {"CONTACT": "C", "COMPANY": "CO", "LEAD": "L", "DEAL": "D"}
"""UF_CRM_TASK binds a task to an entity as `C_12` (contact), `CO_` (company), `L_` (lead), `D_` (deal)."""
FOUND_FIRST = ("CONTACT", "COMPANY", "LEAD")
RETRY_CODES = frozenset({"QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT", "INTERNAL_SERVER_ERROR",
                         "ERROR_UNEXPECTED_ANSWER"})
COMPLETED = "5"
USER_GONE = ("user is not found or is not active", '"assignee" field not found')
"""What register/finish and tasks.task.add say of a RESPONSIBLE_ID or USER_ID that is deleted or dismissed."""
NEW_WEBHOOK = (f"create an incoming webhook in Bitrix24 (Developer resources > Other > Inbound webhook) with the "
               f"scopes {SCOPES}, put its URL in {WEBHOOK_ENV} and restart the router")
ADVICE = {
    "INVALID_CREDENTIALS": f"the webhook in {WEBHOOK_ENV} is wrong or was deleted: {NEW_WEBHOOK}",
    "NO_AUTH_FOUND": f"{WEBHOOK_ENV} carries no webhook key: {NEW_WEBHOOK}",
    "invalid_token": f"the webhook in {WEBHOOK_ENV} is wrong or was deleted: {NEW_WEBHOOK}",
    "expired_token": f"the webhook in {WEBHOOK_ENV} has expired: {NEW_WEBHOOK}",
    "insufficient_scope": f"the webhook lacks a scope this needs: edit it in Bitrix24 and tick {SCOPES}",
    "ACCESS_DENIED": "REST is not available on this portal's plan: change the plan or turn the CRM off (crm: section)",
    "OVERLOAD_LIMIT": "Bitrix24 has blocked REST for this portal: ask Bitrix24's support to lift it",
    "WRONG_AUTH_TYPE": "this portal takes telephony methods from applications only: install a local application "
                       f"with the scopes {SCOPES} and put its webhook-style URL in {WEBHOOK_ENV}",
    "PORTAL_DELETED": "the portal is closed or deleted: check its address in " + WEBHOOK_ENV,
    "ERROR_METHOD_NOT_FOUND": f"the webhook does not allow this method: give it the scopes {SCOPES} (or "
                              f"{WEBHOOK_ENV} is not the webhook's URL)",
}



def error_of(a: Answer) -> tuple[str, str]:
    body = a.body if isinstance(a.body, dict) else {}
    return str(body.get("error", "")), str(body.get("error_description", ""))


def judge(method: str, a: Answer) -> Delivery | None:
    """None when the method answered a result; else what the outbox should do."""
    body = a.body if isinstance(a.body, dict) else {}
    if a.status == 200 and "result" in body and "error" not in body:
        return None
    code, desc = error_of(a)
    said = f"{code}: {desc}" if code else repr(a.text)
    detail = f"Bitrix24 {method}: " + (f"HTTP {a.status} {said}" if a.status else a.text)
    if a.status == 0 or a.status >= 500 or a.status in (200, 408, 429) or code in RETRY_CODES:
        return Delivery("retry", detail)
    if a.status in (401, 403, 404) or code in ADVICE:
        return Delivery("blocked", detail, ADVICE.get(code, f"check {WEBHOOK_ENV}: {NEW_WEBHOOK}"))
    return Delivery("rejected", detail, "Bitrix24 refused this request as it is; it is not sent again")


def user_gone(a: Answer) -> bool:
    return any(p in error_of(a)[1].lower() for p in USER_GONE)


class Bitrix24:
    label = "Bitrix24"
    env: tuple[str, ...] = (WEBHOOK_ENV,)

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def _url(self, method: str) -> str:
        base = os.environ.get(WEBHOOK_ENV, "").strip()
        if not base:
            raise Refused(Delivery("blocked", f"{WEBHOOK_ENV} is not set", NEW_WEBHOOK))
        return f"{base.rstrip('/')}/{method}.json"

    async def raw(self, method: str, params: dict[str, Any]) -> Answer:
        return await self.ctx.http.request("POST", self._url(method), params)

    async def call(self, method: str, params: dict[str, Any], who: tuple[str, int | None] = ("", None)) -> Any:
        """The method's `result`; raises Refused with the verdict for anything else. `who`: the person and
        user the request names, for the advice when Bitrix24 says that user is gone."""
        return await self.checked(method, await self.raw(method, params), who)

    async def checked(self, method: str, a: Answer, who: tuple[str, int | None] = ("", None)) -> Any:
        verdict = judge(method, a)
        if verdict is None:
            return a.body["result"]
        if user_gone(a) and verdict.verdict == "rejected":
            name, uid = who
            advice = (f"Bitrix24 user {uid} ({name or 'the default user'}) is deleted or inactive: map "
                      f"{name or 'crm.default_user'} to an active user under crm.users and reload the rules")
            await self.ctx.problem(f"user:{name or '-'}", f"{name or 'default user'}: {verdict.detail}", advice)
            raise Refused(Delivery("blocked", verdict.detail, advice))
        raise Refused(verdict)

    # the people

    async def users(self) -> list[CrmUserRecord]:
        """Every active user with an ID (user.get, 50 a page), with their internal number."""
        out: list[CrmUserRecord] = []
        start: int | None = 0
        while start is not None:
            a = await self.raw("user.get", {"filter": {"ACTIVE": True}, "start": start})
            verdict = judge("user.get", a)
            if verdict is not None:
                raise Refused(verdict)
            for u in a.body["result"] or []:
                if str(u.get("ID", "")).isdigit():
                    out.append(CrmUserRecord(int(u["ID"]), str(u.get("UF_PHONE_INNER") or ""),
                                             f"{u.get('NAME', '')} {u.get('LAST_NAME', '')}".strip()))
            nxt = a.body.get("next")
            start = int(nxt) if isinstance(nxt, int) and nxt > start else None
        return out

    # operations

    async def deliver(self, op: CrmOp, people: People, message: Message) -> Delivery:
        handler = {"call_start": self.call_start, "ring": self.ring, "call_end": self.call_end,
                   "task_open": self.task_open, "task_comment": self.task_comment,
                   "task_assign": self.task_assign, "task_close": self.task_close}[op["op"]]
        try:
            return await handler(op, people, message)
        except Refused as r:
            return r.delivery

    async def register(self, op: CrmOp, uid: int, name: str) -> dict[str, str]:
        """The call registered; its fields as kept (call id, user, entity)."""
        s = self.ctx.settings()
        params: dict[str, Any] = {
            "USER_ID": uid, "PHONE_NUMBER": op["number"], "TYPE": 2 if op.get("direction") == "inbound" else 1,
            "CALL_START_DATE": iso(op["started"], self.ctx.zone()), "CRM_CREATE": int(s.create == "lead"),
            "SHOW": 0, "EXTERNAL_CALL_ID": op["call"]}
        if s.line:
            params["LINE_NUMBER"] = s.line
        result = await self.call("telephony.externalcall.register", params, (name, uid))
        fields = {"call_id": str(result["CALL_ID"]), "user_id": str(uid), "user": name}
        if result.get("CRM_ENTITY_TYPE") and result.get("CRM_ENTITY_ID"):
            fields["entity"] = f"{result['CRM_ENTITY_TYPE']}:{result['CRM_ENTITY_ID']}"
            await self.ctx.store.set_crm_entity(op["number"], fields["entity"])
        await self.ctx.store.set_crm_call(op["call"], fields)
        return fields

    @staticmethod
    def user_for(people: People, name: str, what: str) -> int:
        """The person's Bitrix24 user (the default user's for "" or an unmapped name); blocked when neither."""
        uid = people.user(name)
        if uid is None:
            raise Refused(Delivery("blocked", f"nobody in Bitrix24 to {what} ({name or 'no one named'})",
                                   "map the person under crm.users or set crm.default_user, then reload the rules"))
        return uid

    async def call_start(self, op: CrmOp, people: People, m: Message) -> Delivery:
        if not self.ctx.settings().calls:
            return Delivery("sent", "calls are not kept in Bitrix24 (crm.calls: false)")
        stored = await self.ctx.store.crm_call(op["call"])
        if stored.get("call_id"):
            return Delivery("sent", f"registered already as {stored['call_id']}")
        uid = self.user_for(people, op.get("user", ""), "register the call for")
        fields = await self.register(op, uid, op.get("user", ""))
        return Delivery("sent", f"Bitrix24 call {fields['call_id']} {fields.get('entity', '(no entity)')}",
                        reply=fields)

    async def ring(self, op: CrmOp, people: People, m: Message) -> Delivery:
        stored = await self.ctx.store.crm_call(op["call"])
        if not stored.get("call_id") or stored.get("finished"):
            return Delivery("sent", "no open Bitrix24 call: no card to show or hide")
        uid = people.device_user(op["devices"])
        if uid is None:
            return Delivery("sent", f"{op['devices'][0]} is nobody's in Bitrix24: no card")
        method = "telephony.externalcall.show" if op["state"] == "ringing" else "telephony.externalcall.hide"
        await self.call(method, {"CALL_ID": stored["call_id"], "USER_ID": uid})
        return Delivery("sent", f"{method} to user {uid}")

    async def call_end(self, op: CrmOp, people: People, m: Message) -> Delivery:
        s = self.ctx.settings()
        if not s.calls:
            return Delivery("sent", "calls are not kept in Bitrix24 (crm.calls: false)")
        stored = await self.ctx.store.crm_call(op["call"])
        if stored.get("finished"):
            return Delivery("sent", f"finished already ({stored.get('call_id')})")
        by = people.device_user(op.get("devices", []))
        if not stored.get("call_id"):
            uid = by if by is not None else self.user_for(people, op.get("user", ""), "register the call for")
            stored = await self.register(op, uid, op.get("user", ""))
        uid, name = (by, op["devices"][0]) if by is not None else (int(stored["user_id"]), stored.get("user", ""))
        params: dict[str, Any] = {"CALL_ID": stored["call_id"], "USER_ID": uid, "DURATION": op["duration"],
                                  "STATUS_CODE": op["status"]}
        if op["status"] == "200" and s.recording_url:
            day = datetime.fromtimestamp(op["started"], ZoneInfo(self.ctx.zone())).strftime("%Y/%m/%d")
            params["RECORD_URL"] = fill(s.recording_url, {"linkedid": op["linkedid"], "date": day,
                                                          "number": op["number"].lstrip("+")})
        tried = await self.ctx.store.mark_tried(m.id, int(m.expires - m.created) + 60)
        a = await self.raw("telephony.externalcall.finish", params)
        if a.status and "call is not found" in error_of(a)[1].lower():
            if tried:
                await self.ctx.store.set_crm_call(op["call"], {"finished": 1})
                return Delivery("sent", f"finished by an earlier attempt ({stored['call_id']})")
            await self.ctx.store.forget_crm_call_id(op["call"])
            return Delivery("retry", f"Bitrix24 no longer knows call {stored['call_id']}: registered again next time")
        result = await self.checked("telephony.externalcall.finish", a, (name, uid))
        fields: dict[str, str | int] = {"finished": 1}
        if isinstance(result, dict) and result.get("CRM_ENTITY_TYPE") and result.get("CRM_ENTITY_ID"):
            fields["entity"] = f"{result['CRM_ENTITY_TYPE']}:{result['CRM_ENTITY_ID']}"
            await self.ctx.store.set_crm_entity(op["number"], str(fields["entity"]))
        await self.ctx.store.set_crm_call(op["call"], fields)
        return Delivery("sent", f"Bitrix24 call {stored['call_id']} finished ({op['status']}, user {uid})")

    async def entity(self, op: CrmOp) -> str:
        """What the task is bound to: its call's entity, else the number's last, else whom the number belongs to."""
        if op.get("first_call"):
            found = (await self.ctx.store.crm_call(op["first_call"])).get("entity")
            if found:
                return found
        known = await self.ctx.store.crm_entity(op["number"])
        if known:
            return known
        result = await self.call("crm.duplicate.findbycomm", {"type": "PHONE", "values": [op["number"]]})
        if isinstance(result, dict):
            for kind in FOUND_FIRST:
                if result.get(kind):
                    entity = f"{kind}:{result[kind][0]}"
                    await self.ctx.store.set_crm_entity(op["number"], entity)
                    return entity
        return ""

    async def task_open(self, op: CrmOp, people: People, m: Message) -> Delivery:
        if not self.ctx.settings().tasks:
            return Delivery("sent", "tasks are not kept in Bitrix24 (crm.tasks: false)")
        stored = await self.ctx.store.crm_task(op["task"])
        if stored.get("id"):
            return Delivery("sent", f"in Bitrix24 already as task {stored['id']}")
        uid = self.user_for(people, op.get("user", ""), "give the task to")
        entity = await self.entity(op)
        fields: dict[str, Any] = {"TITLE": op["title"], "DESCRIPTION": op["text"], "RESPONSIBLE_ID": uid,
                                  "DEADLINE": iso(op["deadline"], self.ctx.zone()), "TAGS": [op["task"]]}
        kind, _, eid = entity.partition(":")
        if kind in ENTITY_PREFIX:
            fields["UF_CRM_TASK"] = [f"{ENTITY_PREFIX[kind]}_{eid}"]
        if await self.ctx.store.mark_tried(m.id, int(m.expires - m.created) + 60):
            found = await self.call("tasks.task.list", {"filter": {"TAG": op["task"]}, "select": ["ID"]})
            tasks = found.get("tasks") if isinstance(found, dict) else None
            if tasks:
                crm_id = str(tasks[0]["id"])
                await self.ctx.store.set_crm_task(op["task"], {"id": crm_id, "entity": entity})
                return Delivery("sent", f"found as Bitrix24 task {crm_id} (an earlier attempt's answer was lost)",
                                reply={"id": crm_id})
        result = await self.call("tasks.task.add", {"fields": fields}, (op.get("user", ""), uid))
        crm_id = str(result["task"]["id"])
        await self.ctx.store.set_crm_task(op["task"], {"id": crm_id, "entity": entity})
        return Delivery("sent", f"Bitrix24 task {crm_id} for user {uid}" + (f", bound to {entity}" if entity else ""),
                        reply={"id": crm_id})

    async def crm_task(self, op: CrmOp) -> str:
        found = (await self.ctx.store.crm_task(op["task"])).get("id", "")
        return found

    async def task_comment(self, op: CrmOp, people: People, m: Message) -> Delivery:
        crm_id = await self.crm_task(op)
        if not crm_id:
            return Delivery("sent", "no Bitrix24 task to comment (it was never added)")
        if await self.ctx.store.mark_tried(m.id, int(m.expires - m.created) + 60):
            comments = await self.call("task.commentitem.getlist", {"TASKID": int(crm_id), "ORDER": {"ID": "desc"}})
            if any(c.get("POST_MESSAGE") == op["text"] for c in comments or []):
                return Delivery("sent", f"the comment is on task {crm_id} already (an earlier attempt's answer was "
                                        f"lost)")
        await self.call("task.commentitem.add", {"TASKID": int(crm_id), "FIELDS": {"POST_MESSAGE": op["text"]}})
        return Delivery("sent", f"comment on Bitrix24 task {crm_id}")

    async def task_assign(self, op: CrmOp, people: People, m: Message) -> Delivery:
        crm_id = await self.crm_task(op)
        if not crm_id:
            return Delivery("sent", "no Bitrix24 task to re-assign (it was never added)")
        uid = self.user_for(people, op.get("user", ""), "give the task to")
        await self.call("tasks.task.update", {"taskId": int(crm_id), "fields": {"RESPONSIBLE_ID": uid}},
                        (op.get("user", ""), uid))
        return Delivery("sent", f"Bitrix24 task {crm_id} re-assigned to user {uid} ({op.get('user')})")

    async def task_close(self, op: CrmOp, people: People, m: Message) -> Delivery:
        crm_id = await self.crm_task(op)
        if not crm_id:
            return Delivery("sent", "no Bitrix24 task to complete (it was never added)")
        a = await self.raw("tasks.task.complete", {"taskId": int(crm_id)})
        verdict = judge("tasks.task.complete", a)
        if verdict is None:
            return Delivery("sent", f"Bitrix24 task {crm_id} completed")
        if verdict.verdict != "rejected":
            return verdict
        task = await self.call("tasks.task.get", {"taskId": int(crm_id), "select": ["ID", "STATUS"]})
        if isinstance(task, dict) and str((task.get("task") or {}).get("status")) == COMPLETED:
            return Delivery("sent", f"Bitrix24 task {crm_id} was completed already")
        return verdict
