#!/usr/bin/env python3
"""Record a real Asterisk for the simulators' fixtures (run by hand).

    python tests/live/record.py        # -> tests/fixtures/asterisk/ami/ami_q_… ami_s_…, agi/agi_010_…

AMI: what the router's AMI user is sent for calls through the shipped dialplan. FastAGI: one
`EXEC MSet` carrying hostile values (the router's escaping) and `GET VARIABLE` reading each back.

Starts the live suite's stack (a private Asterisk with dialplans/ and asterisk/ as shipped, a real
`router serve`, a private redis-server), logs in as the `callrouter` user with its read classes
and event filters, places each scenario, and writes the bytes received in the recordings' format
(tests/fixtures/asterisk/README.md): `.txt` verbatim, `.jsonl` one record per message.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.helpers import free_port  # noqa: E402
from tests.live.stack import AMI_SECRET, HOSTILE, AMIClient, live_stack  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "asterisk" / "ami"
SCENARIOS = {
    # name: (DID, caller, variables, until this many caller-leg hangups)
    "ami_q_shipped_dialplan_busy_queue_timeout_answered": ("2099", "+79031234456", {}),
    "ami_r_shipped_dialplan_every_step_failed": ("2008", "+79165554434", {}),
    "ami_s_shipped_dialplan_router_down_fallback_queue": ("2001", "+79035556678",
                                                          {"CALLROUTER_AGI": "agi://127.0.0.1:1/route"}),
}


async def record(port: int, name: str, did: str, number: str, variables: dict[str, str], tester: AMIClient) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received: list[tuple[float, bytes]] = []
    buffer = b""

    async def pump() -> None:
        nonlocal buffer
        while data := await reader.read(65536):
            buffer += data
            while True:
                end = buffer.find(b"\r\n\r\n") if received else buffer.find(b"\r\n")
                if end < 0:
                    break
                cut = end + (4 if received else 2)
                received.append((time.time(), buffer[:cut]))
                buffer = buffer[cut:]

    task = asyncio.create_task(pump())
    writer.write(f"Action: Login\r\nActionID: {name[4]}-01\r\nUsername: callrouter\r\nSecret: {AMI_SECRET}\r\n"
                 "Events: on\r\n\r\n".encode())
    await asyncio.sleep(0.5)
    await tester.call(did, number, **variables)
    await tester.wait_for(lambda e: e.get("Event") == "Hangup" and e.get("CallerIDNum") == number and
                          e.get("Channel", "").startswith(f"Local/{did}@") and e["Channel"].endswith(";2"), 60)
    await asyncio.sleep(1.0)
    writer.write(f"Action: Logoff\r\nActionID: {name[4]}-02\r\n\r\n".encode())
    await asyncio.sleep(0.3)
    writer.close()
    task.cancel()
    (OUT / f"{name}.txt").write_bytes(b"".join(raw for _, raw in received))
    with open(OUT / f"{name}.jsonl", "w", encoding="utf-8") as f:
        for seq, (ts, raw) in enumerate(received, 1):
            text = raw.decode("utf-8", "replace")
            rec = {"seq": seq, "dir": "recv", "kind": "banner" if seq == 1 else "message", "recv_ts": ts,
                   "recv_iso": datetime.fromtimestamp(ts, UTC).isoformat(), "raw": text,
                   "fields": [list(line.split(": ", 1)) for line in text.split("\r\n") if ": " in line]}
            if "\ufffd" in text:
                rec["hex"] = raw.hex()
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"{name}: {len(received) - 1} messages")


AGI_OUT = ROOT / "tests" / "fixtures" / "asterisk" / "agi"


async def record_agi(tester: AMIClient, name: str) -> None:
    """A FastAGI session of a real call: the MSet the router would send, then every value read back."""
    from router.asterisk import mset

    commands = [*mset.commands(HOSTILE.items()), *(f"GET VARIABLE {n}" for n in HOSTILE), "GET VARIABLE NEVER_SET"]
    log: list[tuple[float, str, bytes]] = []
    header = bytearray()
    done = asyncio.get_running_loop().create_future()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            line = await reader.readline()
            log.append((time.time(), "asterisk->agi", line))
            header.extend(line)
            if line in (b"\n", b""):
                break
        for command in commands:
            writer.write(command.encode() + b"\n")
            log.append((time.time(), "agi->asterisk", command.encode() + b"\n"))
            log.append((time.time(), "asterisk->agi", await reader.readline()))
        writer.close()
        done.set_result(True)

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    await tester.call("100", "+79990000010", context="live-agi", PROBE_AGI=f"agi://127.0.0.1:{port}/probe")
    async with asyncio.timeout(15):
        await done
    server.close()
    (AGI_OUT / f"{name}.env.raw").write_bytes(bytes(header))
    with open(AGI_OUT / f"{name}.jsonl", "w", encoding="utf-8") as j, open(AGI_OUT / f"{name}.txt", "w",
                                                                          encoding="utf-8") as t:
        for seq, (ts, direction, raw) in enumerate(log, 1):
            data = raw.decode("utf-8", "replace")
            j.write(json.dumps({"seq": seq, "ts": ts, "iso": datetime.fromtimestamp(ts, UTC).isoformat(),
                                "dir": direction, "data": data}, ensure_ascii=False) + "\n")
            t.write(("<< " if direction == "asterisk->agi" else ">> ") + data.rstrip("\n") + "\n")
    print(f"{name}: {len(commands)} commands")


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="callrouter-record-"))
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        with live_stack(f"redis://127.0.0.1:{port}/0") as live:
            tester = AMIClient()
            await tester.connect(live.asterisk.ami_port)
            for name, (did, number, variables) in SCENARIOS.items():
                if "--agi-only" not in sys.argv:
                    await record(live.asterisk.ami_port, name, did, number, variables, tester)
            await record_agi(tester, "agi_010_mset_hostile_values")
            await tester.close()
    finally:
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
