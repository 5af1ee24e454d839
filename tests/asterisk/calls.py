"""Recorded calls replayed as new calls: another caller, another time, the router's decision id.

Each recording's `.jsonl` keeps the moment every event arrived, so a replay carries the
`Timestamp:` header Asterisk adds with `timestampevents = yes` (manager.conf), moved to the
hour the test wants: ring and talk times come out as the real Asterisk measured them.
"""

from __future__ import annotations

import json
import re
from functools import cache

from tests.asterisk import AMI_RECORDINGS

RECORDED_NUMBER = {
    "ami_a_inbound_answered": "+79201234567",
    "ami_b_inbound_missed_caller_hangup": "+79161112233",
    "ami_k_chain_busy_queue_timeout_then_answered": "+79031234455",
    "ami_l_all_steps_failed": "+79165554433",
    "ami_f_outbound_callback_answered": "+79209876543",
    "ami_m_outbound_callback_no_answer": "+79990001122",
}
ANSWERED = ("ami_a_inbound_answered", "ami_k_chain_busy_queue_timeout_then_answered")
MISSED = ("ami_b_inbound_missed_caller_hangup", "ami_l_all_steps_failed")
_UNIQUEID = re.compile(rb"\b(179533\d{4})\.(\d+)\b")


@cache
def _messages(name: str) -> tuple[tuple[float, bytes], ...]:
    """(arrival time, raw block) of every event Asterisk sent in the recording."""
    out = []
    for line in (AMI_RECORDINGS / f"{name}.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["dir"] != "recv" or rec["kind"] != "message":
            continue
        raw = bytes.fromhex(rec["hex"]) if "hex" in rec else rec["raw"].encode()
        if raw.startswith(b"Event: "):
            out.append((rec["recv_ts"], raw))
    return tuple(out)


def replay(name: str, number: str, at: float, seq: int, decision: str = "") -> bytes:
    """The recorded call `name` as call number `seq`: from `number`, its first event at `at`, and (when given)
    the router's `decision` set on the caller's leg as the dialplan sets it (VarSet ROUTE_DECISION)."""
    messages = _messages(name)
    t0 = messages[0][0]
    original = RECORDED_NUMBER[name].encode()
    out = []
    decided = not decision
    for ts, raw in messages:
        block = _UNIQUEID.sub(lambda m: m.group(1) + f"{seq:04d}".encode() + b"." + m.group(2), raw)
        block = block.replace(original, number.encode())
        head, sep, rest = block.partition(b"\r\n")
        stamp = f"Timestamp: {at + ts - t0:.6f}\r\n".encode()
        if rest.startswith(b"Privilege: "):
            priv, _, rest = rest.partition(b"\r\n")
            block = head + sep + priv + b"\r\n" + stamp + rest
        else:
            block = head + sep + stamp + rest
        out.append(block)
        if not decided and b"Event: VarSet\r\n" in block and b"\r\nVariable: ROUTE_" in block:
            out.append(re.sub(rb"Variable: ROUTE_\w+\r\nValue: [^\r]*", b"Variable: ROUTE_DECISION\r\nValue: "
                              + decision.encode(), block))
            decided = True
    return b"".join(out)
