"""The Asterisk side of the wire, for tests: FastAGI as res_agi speaks it.

The simulator itself is `router.asterisk.callsim` (the demo and the benchmark place calls with it);
here it is checked against real Asterisk recordings and extended for hostile peers.
"""

from __future__ import annotations

import json
from pathlib import Path

from router.asterisk.callsim import Channel, call, headers, parse_args

AGI_RECORDINGS = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "agi"
AMI_RECORDINGS = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk" / "ami"

__all__ = ["AGI_RECORDINGS", "AMI_RECORDINGS", "Channel", "call", "exchanges", "headers", "parse_args"]


def exchanges(name: str) -> tuple[bytes, list[tuple[str, list[str]]]]:
    """A recorded FastAGI session: the raw header block, then each command with Asterisk's reply lines."""
    env = (AGI_RECORDINGS / f"{name}.env.raw").read_bytes()
    out: list[tuple[str, list[str]]] = []
    in_header = True
    for line in (AGI_RECORDINGS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        data = r["data"].rstrip("\n")
        if r["dir"] == "asterisk->agi" and in_header:
            in_header = data != ""
        elif r["dir"] == "agi->asterisk":
            out.append((data, []))
        elif r["dir"] == "asterisk->agi" and out:
            out[-1][1].append(data)
    return env, out
