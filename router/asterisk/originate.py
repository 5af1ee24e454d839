"""AMI Originate for callbacks, agent first: the agent's phone rings; when he answers, the outbound context dials
the customer.

Facts from manager.c (action_originate) and the recordings:
- `Originate` with `Async: true` answers at once `Response: Success` / `Message: Originate successfully queued`,
  then, when the first leg (here the agent's phone) has answered or given up, the event `OriginateResponse` with
  the same ActionID: `Response: Success` (the agent answered; the channel goes on to Context/Exten/Priority) or
  `Failure` with `Reason`, the last control frame seen (0 nothing: no such endpoint or it is unreachable,
  1 hangup, 3 ringing: nobody answered within `Timeout`, 5 busy, 8 congestion). A failure's `Uniqueid` is
  `<unknown>`: only the ActionID ties it to its attempt.
- `Timeout` is in milliseconds; `Channel` is a dial string (`PJSIP/101`); `Variable: NAME=value` may repeat and
  sets channel variables on the new channel before the dialplan runs: the customer's number reaches the dialplan
  as a variable, never as dialplan text. Values must not hold `,` (manager.c also splits a Variable on commas),
  so everything passed here is checked to be plain: E.164 digits, a task id, a device name.
- The AMI user needs the `originate` write class only for Context/Exten originates (applications like System
  need `system` too). callrouter originates through a user of its own with `write = originate` and
  `read = call` filtered to OriginateResponse (asterisk/manager.conf, `callrouter-dial`): the listener's
  credentials cannot place a call, and these cannot read or change anything else.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from panoramisk import Manager

from router.asterisk import variables as V
from router.asterisk.amiconnection import AMITarget, SafeProtocol
from router.core.callbacks import E164
from router.core.heldplaces import Member

log = logging.getLogger("router.callbacks")

DEVICE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9_.@+-]{1,80}$")
"""A dial string the router may ring an agent on: one technology, one resource (`PJSIP/101`); nothing that Dial
or Originate would read as a second channel (`&`), an option (`,`) or a variable."""
TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
REASONS = {"0": "the phone could not be reached (unregistered or unknown)", "1": "hung up",
           "3": "did not answer", "4": "answered", "5": "busy", "8": "congestion"}
"""OriginateResponse Reason (the last control frame, include/asterisk/frame.h) as an admin reads it."""
ANSWER_MARGIN = 10.0
"""Seconds the OriginateResponse is awaited beyond the agent's ring time before the attempt is given up."""


class OriginateError(ValueError):
    """Something that must never reach Asterisk (a number or device that is not plain), or a refused action."""


@dataclass(frozen=True, slots=True)
class OriginateResult:
    answered: bool
    """The agent answered (the customer is being dialled); the customer's answer comes as a call outcome."""
    reason: str
    """Asterisk's Reason code ("" when Asterisk refused the action itself)."""
    text: str
    """What happened, for the task's log."""


def originate_action(action_id: str, device: str, context: str, number: str, task_id: str, caller_id: str,
                     ring_seconds: int) -> dict[str, str | list[str]]:
    """The Originate action for one callback. OriginateError for anything not plain."""
    if not DEVICE.match(device):
        raise OriginateError(f"agent phone {device[:40]!r} is not a plain dial string like PJSIP/101")
    if not E164.match(number):
        raise OriginateError(f"number {number[:32]!r} is not E.164 digits")
    if not TASK_ID.match(task_id):
        raise OriginateError(f"task id {task_id[:40]!r} is not plain")
    variables = [f"{V.CALLBACK_NUMBER}={number}", f"{V.CALLBACK_TASK}={task_id}"]
    if caller_id:
        variables.append(f"{V.CALLBACK_CALLER_ID}={caller_id}")
    return {"Action": "Originate", "ActionID": action_id, "Channel": device, "Context": context, "Exten": "s",
            "Priority": "1", "CallerID": f'"Callback" <{number}>', "Timeout": str(ring_seconds * 1000),
            "Async": "true", "Variable": variables}


def read_result(reply: object, device: str) -> OriginateResult:
    """panoramisk's answer to an async Originate: the queued response and the OriginateResponse, or an error."""
    messages = reply if isinstance(reply, list) else [reply]
    last: Mapping[str, str] = messages[-1] if messages and isinstance(messages[-1], Mapping) else {}
    if last.get("Event") == "OriginateResponse":
        reason = str(last.get("Reason", ""))
        answered = last.get("Response") == "Success"
        what = "answered" if answered else REASONS.get(reason, f"failed (reason {reason})")
        return OriginateResult(answered, reason, f"agent's phone {device} {what}")
    message = str(last.get("Message", "no answer from Asterisk"))
    return OriginateResult(False, "", f"Asterisk refused the Originate: {message} (the callrouter-dial AMI user "
                                      "needs `write = originate`)")


def queue_state(reply: object, now: float) -> tuple[list[float], list[Member]]:
    """QueueStatus for one queue: when each live caller began waiting (QueueEntry `Wait`, seconds), and its members
    (QueueMember: free when `Status` 1, NOT_INUSE, and not `Paused`), ringing the member's StateInterface."""
    messages = reply if isinstance(reply, list) else []
    live = [now - float(m.get("Wait") or 0) for m in messages if m.get("Event") == "QueueEntry"]
    members = [Member(str(m.get("StateInterface") or m.get("Location") or ""),
                      m.get("Status") == "1" and m.get("Paused") != "1")
               for m in messages if m.get("Event") == "QueueMember"]
    return live, [m for m in members if DEVICE.match(m.interface)]


class Originator:
    """A login of the originating AMI user, kept open; `originate` sends one action and awaits its result."""

    def __init__(self, target: AMITarget):
        self.target = target
        self.where = f"AMI originate {target.host}:{target.port}"
        self.manager = Manager(host=target.host, port=target.port, username=target.username, secret=target.secret,
                               events="on", encoding="utf-8", ping_delay=10, ping_interval=10, reconnect_timeout=2,
                               protocol_factory=lambda: SafeProtocol(None, None, self.where),
                               forgetable_actions=("ping", "login", "originate"))

    def start(self) -> None:
        self.manager.loop = asyncio.get_running_loop()
        self.manager.connect()

    def close(self) -> None:
        self.manager.close()

    async def originate(self, action: dict[str, str | list[str]], ring_seconds: int) -> OriginateResult:
        device = str(action["Channel"])
        try:
            async with asyncio.timeout(ring_seconds + ANSWER_MARGIN):
                reply = await self.manager.send_action(action)
        except TimeoutError:
            return OriginateResult(False, "", f"no OriginateResponse from {self.where} within {ring_seconds} s "
                                              f"for {device}: is the AMI connection up?")
        return read_result(reply, device)

    async def queue_status(self, queue: str, now: float) -> tuple[list[float], list[Member]]:
        """Who waits in `queue` now and which members are free (QueueStatus needs no write class)."""
        async with asyncio.timeout(5):
            reply = await self.manager.send_action({"Action": "QueueStatus", "Queue": queue})
        return queue_state(reply, now)
