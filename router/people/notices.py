"""Notices that reach people who do not keep the page open: a task assigned to them, escalated to them, overdue,
or a customer of theirs entering the at-risk list — by e-mail and/or Telegram, as each account says.

Each notice first waits in the person's list in Redis (router/state/notices.py); a digest takes
everything waiting and goes as one message per channel, at most one per `people.notices.every`
(the first notice after a quiet spell goes at once), never in the person's quiet hours (their own,
else the rule file's, in their zone, else the company's: it goes when they end). Messages go
through the durable outbox (router/outbox/): a mail server that is down loses nothing, and each
attempt is written on the task. A change is noticed by the router that made it (one notice
across routers); a task turning overdue, by whichever router's sweep claims it first.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.core.hours import HourWindow, parse_hour_window
from router.core.rules import HttpRequest
from router.core.rules import Notices as NoticeSettings
from router.outbox.email import EmailSender, email_message
from router.outbox.http import HttpSender, http_message
from router.people.accounts import User
from router.people.staff import Staff
from router.periodic import Periodic
from router.service import Router
from router.state.errors import STORE_ERRORS

log = logging.getLogger("router.notices")

SWEEP_SECONDS = 15.0
"""How often waiting digests and overdue tasks are looked at (real time)."""
SHOWN = 20
"""Notices listed in one digest; the rest are counted."""

KIND_OF_EVENT = {"created": "assigned", "assigned": "assigned", "escalated": "escalated", "at_risk": "at_risk"}


def notice_text(kind: str, task: dict, zone: ZoneInfo) -> str:
    who = " ".join(x for x in (task.get("number", ""), f"({task['name']})" if task.get("name") else "") if x)
    due = datetime.fromtimestamp(float(task.get("deadline") or 0), zone).strftime("%Y-%m-%d %H:%M")
    if kind == "escalated":
        return f"Task {task.get('id')} for {who} was escalated to you: {task.get('escalated_why', '')}; due {due}"
    if kind == "overdue":
        return f"Task {task.get('id')} for {who} is overdue (was due {due})"
    if kind == "at_risk":
        return f"Your customer {who} entered the at-risk list: {task.get('reason', '')}; task {task.get('id')}"
    action = "retain the customer" if task.get("kind") == "retention" else "call back"
    return f"Task {task.get('id')} for {who} is yours: {action} by {due}"


def quiet_until(window: HourWindow | None, zone: ZoneInfo, now: float) -> float:
    """When the quiet hours around `now` end (`now` itself outside them)."""
    if window is None:
        return now
    local = datetime.fromtimestamp(now, zone)
    minute = local.hour * 60 + local.minute
    if not window.contains(minute):
        return now
    return now + ((window.end - minute) % 1440) * 60 - local.second


class Notices:
    def __init__(self, router: Router, staff: Staff):
        self.router = router
        self.staff = staff
        self.queued = 0
        self.sent = 0
        self.sweeps = Periodic("notices", SWEEP_SECONDS, self.sweep, STORE_ERRORS, self._sweep_failed,
                               at_start=True)
        outbox = router.followups.outbox
        outbox.senders.setdefault("email", EmailSender())
        outbox.senders.setdefault("telegram", outbox.senders.get("webhook") or HttpSender())

    @property
    def settings(self) -> NoticeSettings:
        return self.router.rules.rs.people.notices

    def _zone(self, user: User) -> ZoneInfo:
        try:
            return ZoneInfo(user.zone) if user.zone else self.router.rules.company_zone
        except (ZoneInfoNotFoundError, ValueError):
            return self.router.rules.company_zone

    def _quiet(self, user: User) -> HourWindow | None:
        if user.quiet_hours:
            with contextlib.suppress(ValueError):
                return parse_hour_window(user.quiet_hours)
        return self.settings.quiet_hours

    def _reachable(self, user: User) -> bool:
        s = self.settings
        return (bool(user.email) and s.email is not None) or (bool(user.telegram) and s.telegram is not None)

    async def on_followup(self, event: dict) -> None:
        kind = KIND_OF_EVENT.get(event.get("event", ""))
        task = event.get("task") or {}
        if kind is None or (kind == "assigned" and event.get("event") == "created" and task.get("kind")):
            return  # a retention task announces itself as at_risk
        try:
            await self.tell(task.get("owner", ""), kind, task)
        except STORE_ERRORS as e:
            log.warning("notice of task %s (%s) not queued: store unreachable (%s)", task.get("id"), kind, e)

    async def tell(self, owner: str, kind: str, task: dict) -> int:
        """Queue a notice for everyone whose tasks `owner`'s are; how many people it waits for."""
        settings = self.settings
        if kind not in settings.events or not owner:
            return 0
        view = await self.staff.view()
        now = self.router.clock()
        told = 0
        for name in sorted(view.owners(owner)):
            user = view.users[name]
            if not self._reachable(user):
                continue
            item = {"at": now, "kind": kind, "task": task.get("id", ""),
                    "text": notice_text(kind, task, self._zone(user))}
            last = await self.router.store.last_notice(name)
            due = quiet_until(self._quiet(user), self._zone(user), max(now, last + settings.every))
            await self.router.store.queue_notice(name, item, due)
            self.queued += 1
            told += 1
            if due <= now:
                await self.send_digest(name)
        return told

    async def send_digest(self, name: str) -> bool:
        """Everything waiting for `name` as one message per channel, through the outbox."""
        store, now = self.router.store, self.router.clock()
        user = (await self.staff.view()).users.get(name)
        if user is None or user.disabled:
            await store.take_notices(name, now)  # nobody to tell any more: dropped
            return False
        due = quiet_until(self._quiet(user), self._zone(user), now)
        if due > now:
            await store.postpone_notices(name, due)
            return False
        items = await store.take_notices(name, now, self.settings.every)
        if not isinstance(items, list) or not items:
            return False  # another one went less than `every` ago (it waits), or nothing is left
        if len(items) == 1:
            subject, text = items[0]["text"][:120], items[0]["text"]
        else:
            subject = f"{len(items)} notices for {name}"
            lines = [f"- {i['text']}" for i in items[:SHOWN]]
            if len(items) > SHOWN:
                lines.append(f"… and {len(items) - SHOWN} more: see your page")
            text = "\n".join(lines)
        task = items[0]["task"] if len({i["task"] for i in items}) == 1 else ""
        self._post(user, subject, text, task, now)
        self.sent += 1
        return True

    def _post(self, user: User, subject: str, text: str, task: str, now: float) -> None:
        s = self.settings
        retry_for = self.router.rules.rs.notify.retry_for
        outbox = self.router.followups.outbox
        if user.email and s.email is not None:
            outbox.post(email_message(s.email, user.email, f"callrouter: {subject}", text,
                                      f"e-mail to {user.name}", task, now, retry_for, f"notice:{user.name}:email"))
        if user.telegram and s.telegram is not None:
            bot = HttpRequest(method="POST", url=f"{s.telegram.api.rstrip('/')}/bot{s.telegram.token}/sendMessage",
                              json_body={"chat_id": "{chat_id}", "text": "{text}"})
            outbox.post(http_message("telegram", f"notice:{user.name}:telegram", bot,
                                     {"chat_id": user.telegram, "text": text}, f"Telegram to {user.name}", task,
                                     now, retry_for))

    async def sweep(self) -> None:
        """Digests whose wait is over, and tasks that turned overdue since the last sweep."""
        store, now = self.router.store, self.router.clock()
        for name in await store.notices_due(now):
            await self.send_digest(name)
        if "overdue" not in self.settings.events:
            return
        for task in await store.overdue_tasks(now):
            if task.get("state") == "open" and await store.mark_once(f"overdue:{task['id']}:{task.get('deadline')}"):
                await self.tell(task.get("owner", ""), "overdue", dict(task))

    def start(self) -> None:
        self.sweeps.start()

    async def stop(self) -> None:
        await self.sweeps.stop()

    def _sweep_failed(self, error: Exception) -> None:
        log.warning("notices: store unreachable (%s); next look in %.0f s", error, SWEEP_SECONDS)
