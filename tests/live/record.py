#!/usr/bin/env python3
"""Record what the router's AMI user is sent for calls through the shipped dialplan (run by hand).

    python tests/live/record.py        # -> tests/fixtures/asterisk/ami/ami_q_… ami_s_…

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

from tests.conftest import free_port  # noqa: E402
from tests.live.conftest import AMI_SECRET, AMIClient, live_stack  # noqa: E402

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
                await record(live.asterisk.ami_port, name, did, number, variables, tester)
            await tester.close()
    finally:
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
