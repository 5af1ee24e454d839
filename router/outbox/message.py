"""A message on its way out, and what one attempt to deliver it came to. Pure data.

A message belongs to a group (a task's messages to one target): a group's messages go out in
the order they were queued, one at a time; different groups go out side by side, so a dead SMS
gateway never holds up the CRM. `payload` is whatever the channel's sender needs — for HTTP the
request template and the values for its `{placeholders}`, never a rendered secret: `${ENV}`
names are filled in only when the request is sent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

Verdict = Literal["sent", "retry", "rejected", "blocked"]
"""`sent`: delivered. `retry`: the target is away or busy (5xx, 429, a timeout): try again later.
`rejected`: the target refused this message (400, 422): retrying cannot help, it is given up.
`blocked`: the target refuses everything (401, 403, 404: a wrong key or URL): every message of
the channel waits, retried slowly, until the admin fixes it."""


@dataclass(frozen=True, slots=True)
class Delivery:
    verdict: Verdict
    detail: str
    """What the target answered, as an admin reads it: `HTTP 503 'try later'`, `ConnectionRefusedError`."""
    advice: str = ""
    """For `blocked` and `rejected`: what to do about it."""
    reply: dict[str, Any] = field(default_factory=dict)
    """What a sender learnt that later messages need (the CRM's id of a task it created)."""


@dataclass(slots=True)
class Message:
    id: str
    channel: str
    """The sender that delivers it: `sms`, `webhook`, `email`, `telegram`, `crm`."""
    group: str
    """Messages of a group go out in order: `TASK:CHANNEL` (a task's messages to one target)."""
    payload: dict[str, Any]
    label: str
    """How the message reads on its task: `SMS to +79161234500`, `webhook created → https://crm…`."""
    task: str = ""
    """The task whose log records each attempt and the result ("" for none)."""
    created: float = 0.0
    expires: float = 0.0
    """Given up on when an attempt fails after this (created + the rule file's `notify.retry_for`)."""
    once: str = ""
    """Not sent when a message with the same `once` was sent (or is queued) less than `once_for` s ago."""
    once_for: int = 0
    attempts: int = 0
    last_error: str = ""

    def fields(self) -> dict[str, str | int | float]:
        """As the message's Redis hash."""
        return {"id": self.id, "channel": self.channel, "group": self.group,
                "payload": orjson.dumps(self.payload).decode(), "label": self.label, "task": self.task,
                "created": self.created, "expires": self.expires, "once": self.once, "once_for": self.once_for,
                "attempts": self.attempts, "last_error": self.last_error}

    @classmethod
    def from_fields(cls, f: dict[str, str]) -> Message:
        return cls(id=f["id"], channel=f["channel"], group=f["group"], payload=orjson.loads(f["payload"]),
                   label=f.get("label", ""), task=f.get("task", ""), created=float(f.get("created") or 0),
                   expires=float(f.get("expires") or 0), once=f.get("once", ""),
                   once_for=int(f.get("once_for") or 0), attempts=int(f.get("attempts") or 0),
                   last_error=f.get("last_error", ""))

    def record(self) -> dict[str, Any]:
        """As JSON for the spool and the dead-letter list."""
        return {**self.fields(), "payload": self.payload}

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Message:
        return cls.from_fields({**d, "payload": orjson.dumps(d.get("payload") or {}).decode()})


def new_id(now: float) -> str:
    """Unique across routers, and sorts by time."""
    return f"m-{int(now * 1000):x}-{os.urandom(4).hex()}"


class Sender(Protocol):
    """Delivers messages of one channel. Never raises for the target's failures: it says what happened."""

    async def deliver(self, message: Message) -> Delivery: ...

    async def close(self) -> None: ...
