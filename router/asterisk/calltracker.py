"""How each call ended, from AMI events: one table from event name to handler. Pure.

Calls are followed by `Linkedid` from the first channel to the last Hangup. The caller's leg
is the one the router routed (Asterisk's `AGIExecEnd` for the router's answer, `EXEC MSet
"ROUTE_DECISION=…`; from dialplans of earlier versions the UserEvent `callrouter`, or VarSet
ROUTE_* where the AMI user reads the `dialplan` class), else the one that joined a queue, else
the first channel when it dialed someone. Facts that bite, from real recordings:
- answered = `DialEnd ANSWER` from the caller's leg, or `AgentConnect` for it;
- a queue *timeout* also emits QueueCallerAbandon: `QUEUESTATUS=TIMEOUT`, the caller's next
  step, or the dialplan's `Result: failed` tells it from a caller who gave up; neither ends
  the call, the last Hangup does;
- a self-service IVR answers the caller's channel itself (`Newstate Up` with no dial or queue
  before it): the call was served, by `ivr:CONTEXT`, not missed; the menus `router ivr dialplan`
  writes say which menu the caller enters and which key left it (UserEvent `Menu`, `Key`);
- Hangup `Cause` is unreliable (0 on cancel, 16 when the dialplan hangs up a ringing caller);
- our outbound call reached the customer only when a dial towards their number is answered
  (in click-to-call the agent answers first).

This module is long because it is one state machine: the event-name → handler table, the
handlers and what a finished call becomes read best side by side.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from router.asterisk import variables as V
from router.asterisk.mset import ANSWER_START
from router.core.freepbx import is_freepbx_local
from router.core.outcome import CALLBACK_REQUESTED, CALLER_HUNG_UP, Outcome
from router.core.phones import normalise
from router.core.ring import Ring, RingState

_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]{8}(;\d)?$")
ROUTE_PREFIX = "ROUTE_"
MIN_OUTSIDE_DIGITS = 8
"""Fewer digits than this is an extension or a short code, never an outside number."""


EXTENSION_STATES = {"Idle": "NOT_INUSE", "InUse": "INUSE", "Busy": "BUSY", "Unavailable": "UNAVAILABLE",
                    "Ringing": "RINGING", "InUse&Ringing": "RINGINUSE", "Hold": "ONHOLD", "InUse&Hold": "ONHOLD"}
"""ExtensionStatus' StatusText (main/pbx.c, extension_states[]) as the device state it stands for."""


def hint_state(e: dict) -> tuple[str, str]:
    """(`hint:EXTEN@CONTEXT`, device state) of an ExtensionStatus event; a hint Asterisk no longer has, or
    whose state it does not know, is INVALID or UNKNOWN."""
    exten, context = e.get("Exten"), e.get("Context")
    if not exten or not context:
        return "", ""
    status = e.get("Status", "")
    state = EXTENSION_STATES.get(e.get("StatusText", ""), "INVALID" if status in ("-1", "-2") else "UNKNOWN")
    return f"hint:{exten}@{context}", state


def _local(channel: str) -> bool:
    """The first half of a Local channel: its other half runs the dialplan it names."""
    return channel.startswith("Local/") and channel.endswith(";1")


def device_of(channel: str) -> str:
    """`PJSIP/101-0000000a` -> `PJSIP/101`; `Local/agent1@agents-00000001;1` -> `Local/agent1@agents`."""
    return _CHANNEL_SUFFIX.sub("", channel)


@dataclass(slots=True)
class _Leg:
    """Our calls to one number within a call, folded into one outbound outcome."""

    started: float
    answered_at: float | None = None
    by: str = ""


@dataclass(slots=True)
class _Dial:
    number: str
    caller_channel: str
    started: float
    answered_at: float | None = None


@dataclass(slots=True)
class _Call:
    linkedid: str
    started: float
    alive: set[str] = field(default_factory=set)
    channels: dict[str, str] = field(default_factory=dict)  # uniqueid -> channel name
    numbers: dict[str, str] = field(default_factory=dict)  # uniqueid -> CallerIDNum
    originated: set[str] = field(default_factory=set)  # uniqueids that an Originate dialed
    caller: str | None = None  # uniqueid of the caller's leg
    caller_rank: int = 9
    decision: str = ""
    answered_by: str = ""
    queue: str = ""
    answered_at: float | None = None
    queue_timeouts: int = 0
    last_dial_status: str = ""
    abandoned: bool = False
    queued: bool = False  # the caller's leg joined a queue
    dialed: bool = False  # the caller's leg dialed someone
    ivr: str = ""  # context whose dialplan answered the caller's leg before any dial or queue
    ivr_at: float = 0.0
    failed: str = ""  # the dialplan's word that every step failed, with the last statuses
    kept_in: str = ""  # the queue where the caller pressed 1 and keeps his place (a requested callback)
    queue_ringing: str = ""  # the queue whose members ring now (AgentCalled)
    menus: list = field(default_factory=list)  # [menu, key] the caller left, from the menus' UserEvents
    menu: str = ""  # the menu the caller is in now
    outbound: dict[str, _Dial] = field(default_factory=dict)  # dest uniqueid -> dial
    ringing: dict[str, Ring] = field(default_factory=dict)  # dest uniqueid -> the ring it started
    members: dict[str, str] = field(default_factory=dict)  # dest uniqueid -> queue member interface (AgentCalled)
    delegates: list[str] = field(default_factory=list)  # uniqueids of the ;2 halves of Local channels the caller
    # (or one of them) dialed: the dialplan there (FreePBX's) carries the caller's call on
    handed_to: str = ""  # the Local channel that answered the caller; a person answered only if a delegate's did
    handed_up: str = ""  # the context where a delegate answered by itself (voicemail, an announcement, a queue)
    hold_from: dict[str, float] = field(default_factory=dict)  # uniqueid -> when it was put on hold
    held: float = 0.0  # seconds on hold, holds that ended
    handed_on_at: float | None = None  # the answering queue member transferred the caller (AgentComplete transfer)


def call_record(call: _Call) -> dict:
    """A call being followed, as the journal keeps it (JSON: sets become lists)."""
    return {**{f: getattr(call, f) for f in _CALL_FIELDS}, "alive": sorted(call.alive),
            "originated": sorted(call.originated),
            "outbound": {uid: [d.number, d.caller_channel, d.started, d.answered_at]
                         for uid, d in call.outbound.items()}}


def call_from_record(r: dict) -> _Call:
    call = _Call(**{f: r[f] for f in _CALL_FIELDS if f in r})
    call.alive, call.originated = set(r.get("alive", ())), set(r.get("originated", ()))
    call.outbound = {uid: _Dial(*d) for uid, d in (r.get("outbound") or {}).items()}
    return call


_CALL_FIELDS = ("linkedid", "started", "channels", "numbers", "caller", "caller_rank", "decision", "answered_by",
                "queue", "answered_at", "queue_timeouts", "last_dial_status", "abandoned", "queued", "dialed", "ivr",
                "ivr_at", "failed", "kept_in", "menus", "menu", "delegates", "handed_to", "handed_up", "hold_from",
                "held", "handed_on_at")
MAX_MENU_STEPS = 20  # menus a call's outcome keeps: a caller going round in menus adds no more

Handler = Callable[["CallTracker", dict, float], None]


class CallTracker:
    """Feed AMI events (dicts) with the time they happened; collect outcomes and device states."""

    def __init__(self, region: str = "RU"):
        self.region = region
        self.calls: dict[str, _Call] = {}
        self.outcomes: list[Outcome] = []
        self.device_states: list[tuple[str, str]] = []
        self.members: dict[str, str] = {}
        """Queue member interface -> its state interface (from QueueStatus): `Local/agent1@agents` -> `PJSIP/101`."""
        self.rings: list[Ring] = []
        """Phones that started or stopped ringing for a routed caller since `take_rings`."""
        self.changed: set[str] = set()
        """Linkedids of calls whose state changed (or that ended) since the journal last took them."""
        self.pauses: list[tuple[str, str, bool]] = []
        """(device, queue, paused) of queue members paused or unpaused since `take_pauses` (the worklist rings
        only an agent paused in no queue)."""

    def feed(self, event: dict, at: float) -> None:
        handler = HANDLERS.get(event.get("Event", ""))
        if handler is not None:
            handler(self, event, at)
            linkedid = event.get("Linkedid") or event.get("DestLinkedid")
            if linkedid:
                self.changed.add(linkedid)

    def take_rings(self) -> list[Ring]:
        out, self.rings = self.rings, []
        return out

    def _ring(self, call: _Call, dest_uid: str, state: RingState, at: float, dest_channel: str = "") -> None:
        """A phone of `call` starts ringing for the caller (with `dest_channel`), or stops."""
        if state == "ringing":
            device = device_of(dest_channel)
            member = call.members.get(dest_uid, "")
            raw = call.numbers.get(call.caller or "", "")
            ring = Ring(call.linkedid, call.decision, normalise(raw, self.region).key or raw, device, member,
                        self.members.get(member, "") if member else "", call.queue_ringing, state, at)
        else:
            started = call.ringing.pop(dest_uid, None)
            if started is None:
                return
            ring = dataclasses.replace(started, state=state, at=at)
        if state == "ringing":
            call.ringing[dest_uid] = ring
        self.rings.append(ring)

    def journal_changes(self) -> tuple[dict[str, dict], list[str]]:
        """(calls to keep in the journal now, linkedids to drop from it): what changed since the last time."""
        keep = {lid: call_record(self.calls[lid]) for lid in self.changed if lid in self.calls}
        drop = [lid for lid in self.changed if lid not in self.calls]
        self.changed = set()
        return keep, drop

    def restore(self, records: list[dict]) -> None:
        """Calls a previous run of this router was following when it stopped (the journal)."""
        for r in records:
            call = call_from_record(r)
            self.calls.setdefault(call.linkedid, call)

    def take(self) -> tuple[list[Outcome], list[tuple[str, str]]]:
        out, states = self.outcomes, self.device_states
        self.outcomes, self.device_states = [], []
        return out, states

    # helpers

    def _call(self, e: dict, at: float) -> _Call | None:
        linkedid = e.get("Linkedid")
        if not linkedid:
            return None
        call = self.calls.get(linkedid)
        if call is None:
            call = self.calls[linkedid] = _Call(linkedid, at)
        uid = e.get("Uniqueid")
        if uid and uid not in call.channels and e.get("Event") != "Hangup":
            call.alive.add(uid)
            call.channels[uid] = e.get("Channel", "")
        num = e.get("CallerIDNum")
        if uid and num and num != "<unknown>":
            call.numbers[uid] = num
        return call

    def _claim_caller(self, call: _Call, uid: str, rank: int) -> None:
        if rank < call.caller_rank and uid not in call.originated:
            call.caller, call.caller_rank = uid, rank

    def external(self, text: str) -> str | None:
        """The E.164 number a dial string or extension stands for, when it is an outside number."""
        if not text:
            return None
        part = text.split("/", 1)[-1] if "/" in text and "@" not in text.split("/", 1)[0] else text
        part = part.removeprefix("sip:").split("@", 1)[0]
        if sum(ch.isdigit() for ch in part) < MIN_OUTSIDE_DIGITS:
            return None  # an extension (PJSIP/101, Local/2001@…): not worth parsing as a phone number
        n = normalise(part, self.region)
        return n.key if n.e164 and len(n.key) >= 11 else None

    # handlers

    def on_newchannel(self, e: dict, at: float) -> None:
        self._call(e, at)

    def on_varset(self, e: dict, at: float) -> None:
        call = self._call(e, at)
        uid = e.get("Uniqueid")
        if call is None or not uid:
            return
        var = e.get("Variable", "")
        if var.startswith(ROUTE_PREFIX):
            self._claim_caller(call, uid, 0)
            if var == "ROUTE_DECISION" and uid == call.caller:
                call.decision = e.get("Value", "")
        elif var == "QUEUESTATUS" and e.get("Value") == "TIMEOUT" and uid == call.caller:
            call.queue_timeouts += 1
            call.abandoned = False  # the QueueCallerAbandon before it was the timeout, not the caller

    def _routed(self, e: dict, at: float) -> _Call | None:
        """The event's channel is the one the router routed: it becomes the caller's leg. Its call, if so."""
        call = self._call(e, at)
        uid = e.get("Uniqueid")
        if call is None or not uid:
            return None
        self._claim_caller(call, uid, 0)
        return call if uid == call.caller else None

    def on_agiexecend(self, e: dict, at: float) -> None:
        """Asterisk ran an AGI command; the router's answer names the caller's leg and its decision."""
        command = e.get("Command", "")
        if command.startswith(ANSWER_START) and (call := self._routed(e, at)) is not None:
            call.decision = command[len(ANSWER_START):].split(",", 1)[0].rstrip('"')

    def on_userevent(self, e: dict, at: float) -> None:
        if e.get("UserEvent") != V.USER_EVENT or (call := self._routed(e, at)) is None:
            return
        if e.get(V.MENU_EVENT):  # the generated menus: entering one (no Key), leaving it (Key: …)
            call.menu = "" if e.get(V.KEY_EVENT) else e[V.MENU_EVENT]
            if e.get(V.KEY_EVENT) and len(call.menus) < MAX_MENU_STEPS:
                call.menus.append([e[V.MENU_EVENT], e[V.KEY_EVENT]])
        if e.get("Decision"):
            call.decision = e["Decision"]
        if e.get("Result") == "failed":
            last = [f"{k} {e[h]}" for k, h in (("dial", "DialStatus"), ("queue", "QueueStatus")) if e.get(h)]
            call.failed = ", ".join(last) or "?"
            call.abandoned = False
        elif e.get("Result") == V.HOLD_KEPT:  # dialplans/callrouter-hold.conf: he pressed 1, his place is kept
            call.kept_in = e.get("Queue") or "?"

    def on_queuecallerjoin(self, e: dict, at: float) -> None:
        call = self._call(e, at)
        if call is not None and e.get("Uniqueid"):
            self._claim_caller(call, e["Uniqueid"], 1)
            call.queued = call.queued or e["Uniqueid"] in call.delegates or e["Uniqueid"] == call.caller
            if e["Uniqueid"] == call.caller:
                call.abandoned = False  # a queue it left before timed out: the caller is still here

    def on_newstate(self, e: dict, at: float) -> None:
        call = self.calls.get(e.get("Linkedid", ""))
        if call is not None and e.get("ChannelStateDesc") == "Up" and e.get("Uniqueid") in call.delegates \
                and not call.handed_up:
            call.handed_up = e.get("Context", "")
        if (call is not None and e.get("ChannelStateDesc") == "Up" and e.get("Uniqueid") == call.caller
                and call.answered_at is None and not call.queued and not call.dialed):
            call.ivr, call.ivr_at = e.get("Context", "") or "ivr", at

    def on_dialbegin(self, e: dict, at: float) -> None:
        call = self._call(e, at)
        dest_uid = e.get("DestUniqueid", "")
        if call is None:
            linkedid = e.get("DestLinkedid")
            call = self.calls.get(linkedid) if linkedid else None
            if call is None and linkedid:
                call = self.calls[linkedid] = _Call(linkedid, at)
        if call is None:
            return
        uid = e.get("Uniqueid")
        if not uid:
            call.originated.add(dest_uid)  # an Originate: no calling channel
            if call.caller == dest_uid:
                call.caller, call.caller_rank = None, 9
        elif uid == e.get("Linkedid"):
            self._claim_caller(call, uid, 2)
        if uid and uid == call.caller:
            call.dialed = True
            call.abandoned = False  # a queue it left before timed out: the caller is still here
        dest_channel = e.get("DestChannel", "")
        carried = bool(uid) and (uid == call.caller or uid in call.delegates)
        number = self.external(e.get("DestExten", "")) or self.external(e.get("DialString", ""))
        if number and dest_uid:
            call.outbound[dest_uid] = _Dial(number, e.get("Channel", ""), at)
        elif carried and self._handing(call, uid or "", dest_channel, dest_uid):
            other = dest_channel[:-1] + "2"  # its other half runs the dialplan it names (FreePBX's) for the caller
            call.delegates += [u for u, name in call.channels.items() if name == other and u not in call.delegates]
        elif carried and dest_uid:
            self._ring(call, dest_uid, "ringing", at, dest_channel)

    def on_dialend(self, e: dict, at: float) -> None:
        linkedid = e.get("Linkedid") or e.get("DestLinkedid")
        call = self.calls.get(linkedid or "")
        if call is None:
            return
        if e.get("Uniqueid") and e["Uniqueid"] == call.caller:
            call.last_dial_status = e.get("DialStatus", "")
        answered = e.get("DialStatus") == "ANSWER"
        self._ring(call, e.get("DestUniqueid", ""), "answered" if answered else "ended", at)
        if not answered:
            return
        dial = call.outbound.get(e.get("DestUniqueid", ""))
        if dial is not None and dial.answered_at is None:
            dial.answered_at = at
        uid, dest = e.get("Uniqueid"), e.get("DestChannel", "")
        carried = bool(uid) and (uid == call.caller or uid in call.delegates)
        if carried and self._handing(call, uid or "", dest, e.get("DestUniqueid", "")):
            call.handed_to = call.handed_to or device_of(dest)  # a person answered only if a delegate's dial did
        elif carried and call.answered_at is None:
            call.answered_at = at
            call.answered_by = device_of(dest)

    @staticmethod
    def _handing(call: _Call, uid: str, dest: str, dest_uid: str) -> bool:
        """The caller's leg dials a Local channel into FreePBX's dialplan (a `freepbx:` target), or one carrying
        the call there dials another (follow-me): its other half carries the call on. A queue's members and
        other Local channels stand for the person they ring, as before."""
        if not _local(dest) or dest_uid in call.members:
            return False
        return uid in call.delegates or is_freepbx_local(device_of(dest))

    def on_agentcalled(self, e: dict, at: float) -> None:
        """app_queue rings a member: its interface, for the DialBegin that follows."""
        call = self.calls.get(e.get("Linkedid", ""))
        if call is not None and e.get("DestUniqueid") and (e.get("Uniqueid") == call.caller
                                                           or e.get("Uniqueid") in call.delegates):
            call.members[e["DestUniqueid"]] = e.get("Interface", "")
            call.queue_ringing = e.get("Queue", "")

    def on_agentconnect(self, e: dict, at: float) -> None:
        call = self.calls.get(e.get("Linkedid", ""))
        if call is None or (e.get("Uniqueid") != call.caller and e.get("Uniqueid") not in call.delegates):
            return
        call.queue = e.get("Queue", "")
        call.answered_by = e.get("Interface") or device_of(e.get("DestChannel", ""))
        if call.answered_at is None:
            call.answered_at = at

    def on_agentcomplete(self, e: dict, at: float) -> None:
        """The answering member's conversation ended; `Reason: transfer`: the call goes on without them, and their
        handling time ends here, not with the call."""
        call = self.calls.get(e.get("Linkedid", ""))
        if call is not None and e.get("Reason") == "transfer" and e.get("Uniqueid") == call.caller \
                and call.handed_on_at is None:
            call.handed_on_at = at

    def on_queuecallerabandon(self, e: dict, at: float) -> None:
        call = self.calls.get(e.get("Linkedid", ""))
        if call is not None and e.get("Uniqueid") == call.caller:
            call.abandoned = True

    def on_hold(self, e: dict, at: float) -> None:
        """A party of the conversation was put on hold (the phone's hold key: `Hold`, then `Unhold`)."""
        call = self.calls.get(e.get("Linkedid", ""))
        if call is not None and e.get("Uniqueid"):
            call.hold_from.setdefault(e["Uniqueid"], at)

    def on_unhold(self, e: dict, at: float) -> None:
        call = self.calls.get(e.get("Linkedid", ""))
        if call is not None and (started := call.hold_from.pop(e.get("Uniqueid", ""), None)) is not None:
            call.held += at - started

    def on_hangup(self, e: dict, at: float) -> None:
        call = self.calls.get(e.get("Linkedid", ""))
        if call is None:
            return
        call.alive.discard(e.get("Uniqueid", ""))
        if not call.alive:
            self._finish(call, at)

    def on_devicestatechange(self, e: dict, at: float) -> None:
        device, state = e.get("Device"), e.get("State")
        if device and state:
            self.device_states.append((device, state))

    def on_queuememberpause(self, e: dict, at: float) -> None:
        """A queue member paused or unpaused in one queue (app_queue: Paused 1/0, the member's StateInterface)."""
        device = e.get("StateInterface") or e.get("Interface") or ""
        if device and e.get("Queue"):
            self.pauses.append((device, e["Queue"], e.get("Paused") == "1"))

    def take_pauses(self) -> list[tuple[str, str, bool]]:
        out, self.pauses = self.pauses, []
        return out

    def on_extensionstatus(self, e: dict, at: float) -> None:
        """A hint changed state (FreePBX's `hint:101@ext-local` joins the phone, DND and presence): kept like a
        device's state under the name a queue member's state interface gives it."""
        device, state = hint_state(e)
        if device and state:
            self.device_states.append((device, state))

    def _finish(self, call: _Call, at: float, reason: str = "") -> None:
        del self.calls[call.linkedid]
        for dest_uid in list(call.ringing):
            self._ring(call, dest_uid, "ended", at)
        if call.caller is not None:
            self.outcomes.append(self._inbound(call, at, reason))
        by_number: dict[str, _Leg] = {}
        for dial in call.outbound.values():
            by = device_of(dial.caller_channel)
            if by.startswith("Local/") and dial.number in by:
                by = ""
            leg = by_number.setdefault(dial.number, _Leg(dial.started))
            leg.started = min(leg.started, dial.started)
            if dial.answered_at is not None and leg.answered_at is None:
                leg.answered_at = dial.answered_at
            if by and not leg.by:
                leg.by = by
        for number, leg in by_number.items():
            answered = leg.answered_at is not None
            self.outcomes.append(Outcome.timed(call.linkedid, "outbound", number, answered, leg.started,
                                               leg.answered_at, at, by=leg.by,
                                               reason=reason or ("" if answered else "not answered")))

    def _inbound(self, call: _Call, at: float, reason: str) -> Outcome:
        raw = call.numbers.get(call.caller or "", "")
        number = normalise(raw, self.region).key or raw
        if call.answered_at is None and call.ivr and not call.queued and not call.dialed:
            return Outcome.timed(call.linkedid, "inbound", number, True, call.started, call.ivr_at, at,
                                 by=f"ivr:{call.ivr}", decision=call.decision, reason=reason, ivr=call.ivr,
                                 menus=call.menus, menu_left=call.menu)
        answered = call.answered_at is not None
        if reason or answered:
            why = reason
        elif call.kept_in:
            why = f"{CALLBACK_REQUESTED} in queue {call.kept_in}: place kept"
        elif call.handed_to:
            why = (f"{call.handed_to} took the call and no person answered it" +
                   (f" (answered by the dialplan in {call.handed_up}: voicemail, an announcement or a queue)"
                    if call.handed_up else ""))
        elif call.failed:
            why = f"every step failed (last: {call.failed})"
        elif call.abandoned or call.last_dial_status in ("CANCEL", ""):
            why = CALLER_HUNG_UP
        else:
            why = f"every step failed (last: {call.last_dial_status})"
        held = call.held + sum(at - started for started in call.hold_from.values())
        return Outcome.timed(call.linkedid, "inbound", number, answered, call.started, call.answered_at, at,
                             by=call.answered_by, queue=call.queue, decision=call.decision, reason=why,
                             hold_seconds=round(held, 1) if answered else 0.0,
                             agent_talk_seconds=round(call.handed_on_at - call.answered_at, 1)
                             if answered and call.handed_on_at is not None and call.answered_at is not None else 0.0,
                             by_state=self.members.get(call.answered_by, "") if answered else "",
                             menus=call.menus, menu_left=call.menu)

    def forget_missing(self, alive: set[str], at: float) -> None:
        """After a reconnect: calls none of whose channels still exist ended while we were away."""
        for call in list(self.calls.values()):
            call.alive &= alive
            if not call.alive:
                self._finish(call, at, reason="ended while the AMI connection was down")


HANDLERS: dict[str, Handler] = {
    "Newchannel": CallTracker.on_newchannel,
    "VarSet": CallTracker.on_varset,
    "AGIExecEnd": CallTracker.on_agiexecend,
    "UserEvent": CallTracker.on_userevent,
    "QueueCallerJoin": CallTracker.on_queuecallerjoin,
    "DialBegin": CallTracker.on_dialbegin,
    "DialEnd": CallTracker.on_dialend,
    "AgentCalled": CallTracker.on_agentcalled,
    "AgentConnect": CallTracker.on_agentconnect,
    "AgentComplete": CallTracker.on_agentcomplete,
    "QueueCallerAbandon": CallTracker.on_queuecallerabandon,
    "Newstate": CallTracker.on_newstate,
    "Hold": CallTracker.on_hold,
    "Unhold": CallTracker.on_unhold,
    "Hangup": CallTracker.on_hangup,
    "DeviceStateChange": CallTracker.on_devicestatechange,
    "ExtensionStatus": CallTracker.on_extensionstatus,
    "QueueMemberPause": CallTracker.on_queuememberpause,
}
