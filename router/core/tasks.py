"""A task — a missed call's follow-up or a retention task — as it is opened and as it is read. Pure data.

A task is a Redis hash: written with numbers, read back as text (`Task`). Its log is a list of
comments, each with the time it was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict

TaskState = Literal["open", "closed"]
TaskChange = Literal["opened", "missed_again", "callback_missed", "commented", "taken", "escalated", "closed",
                     "retention_opened"]
"""What happened to a task, as a CRM mirrors it: a new task, a comment, a new owner, completion."""


class Comment(TypedDict):
    at: float
    text: str


class NewTask(TypedDict, total=False):
    """A task as it is opened (`Store.open_task`, `Store.open_retention_task`)."""

    id: str
    kind: Literal["retention"]
    """Only retention tasks carry a kind; a follow-up has none."""
    number: str
    name: str
    owner: str
    state: TaskState
    created: float
    deadline: float
    priority: int
    segment: str
    count: int
    decision: str
    call: str
    rule: str
    reason: str


class Task(TypedDict, total=False):
    """A task as it is read back: every field of the hash is text; `log` and `overdue` are added."""

    id: str
    kind: str
    number: str
    name: str
    owner: str
    state: str
    created: str
    deadline: str
    priority: str
    segment: str
    count: str
    decision: str
    call: str
    rule: str
    reason: str
    level: str
    previous_owner: str
    escalated_at: str
    escalated_why: str
    taken_at: str
    assigned_at: str
    assigned_by: str
    last_staff_action: str
    """When a person last acted on it: taken, commented, a callback attempted (escalation's `no_reaction`)."""
    replies: str
    """Replies on it: the staff's comments and the customer's calls and events after the first (`replies_over`)."""
    closed_at: str
    closed_reason: str
    callback_attempts: str
    """Callbacks the router dialled for it (router/state/callbacks.py)."""
    callback_last: str
    """When the last of them was started."""
    callback_result: str
    """What the last of them came to, as the task's log says it."""
    log: list[Comment]
    overdue: bool


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """A task changed (told once, by the router that changed it): the task as it is now, and what changed."""

    change: TaskChange
    task: Task
    text: str
    """The comment that goes with it: the missed call, the person's comment, why it escalated or closed."""
    at: float
