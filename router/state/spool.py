"""The local spool: what the store could not take by shutdown, kept on disk and replayed at the next start.

One JSON record a line: `{"decision": …}` (a decision log entry, with the call's history when it
was routed during an outage), `{"outcome": …}` (a call outcome from AMI), `{"followup": …}` (an
outcome already written whose follow-up work was not done), `{"message": …}` (an outgoing message
posted while the store was away). A shutdown writes the file whole
(fsync'd, then renamed over the old one, so it is never half-written); a start reads it and
removes it once everything in it has reached the store. A crash before that replays it again:
outcomes are written once whatever happens (their claim key), decisions at least once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import orjson

log = logging.getLogger("router.spool")

SPOOL_NAME = "spool.jsonl"


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """$ROUTER_SPOOL, else systemd's $STATE_DIRECTORY, else $XDG_STATE_HOME or ~/.local/state, under callrouter/."""
    env = os.environ if environ is None else environ
    if env.get("ROUTER_SPOOL"):
        return Path(env["ROUTER_SPOOL"])
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0]) / SPOOL_NAME
    base = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "callrouter" / SPOOL_NAME


class Spool:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def load(self) -> list[dict]:
        """Every record the last shutdown left; a line that does not parse is reported and skipped."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as e:
            log.error("spool %s: cannot read (%s); nothing replayed", self.path, e)
            return []
        records, bad = [], 0
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                bad += 1
                continue
            if isinstance(rec, dict) and len(rec) == 1:
                records.append(rec)
            else:
                bad += 1
        if bad:
            log.error("spool %s: %d unreadable lines skipped", self.path, bad)
        return records

    def save(self, records: list[dict]) -> None:
        """Replace the spool with `records` (none: remove it). Durable when this returns."""
        if not records:
            self.clear()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(b"".join(orjson.dumps(r) + b"\n" for r in records))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._sync_dir()

    def clear(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        self._sync_dir()

    def _sync_dir(self) -> None:
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
