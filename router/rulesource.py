"""The rule path behind the rules in force: loaded off the event loop, and whether it is stale.

Reading and compiling fifty thousand rules takes seconds of CPU. A thread does it while calls go
on; the result is swapped in by the caller at once, or not at all. The garbage collector is held
for the load and its result frozen afterwards: otherwise every full collection would walk the new
rules on the loop's time, and pauses are what a call must not see.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from router.core.decide import CompiledRules
from router.core.rulefile import (
    DEFAULT_LIMITS,
    Limits,
    RuleFileError,
    RuleTexts,
    files_of,
    load_rule_texts,
    read_rule_files,
    version_of,
)

SWITCH_SECONDS = 0.0005
"""While a load runs, the loop gets the interpreter back within this (the default is 5 ms)."""

_quiet = threading.Lock()


@contextlib.contextmanager
def loop_first() -> Iterator[None]:
    """For work a thread does while the event loop answers calls: the loop gets the interpreter back
    within SWITCH_SECONDS, and no garbage collection runs meanwhile (one at a time)."""
    with _quiet:
        interval = sys.getswitchinterval()
        collecting = gc.isenabled()
        sys.setswitchinterval(min(interval, SWITCH_SECONDS))
        gc.disable()
        try:
            yield
        finally:
            if collecting:
                gc.enable()
            sys.setswitchinterval(interval)


def compile_texts(root: str, texts: RuleTexts, limits: Limits, kept: bool = True) -> CompiledRules:
    """Rules of files already read (a path's, or a version the store kept); raises RuleFileError.
    Safe to run in a thread. `kept`: they will route calls until the next reload, so they are frozen
    out of the garbage collector's walks; rules read for a replay are not (they are dropped after)."""
    with loop_first():
        compiled = CompiledRules(load_rule_texts(root, texts, limits), root, texts)
        if kept:
            gc.freeze()
        return compiled


def compile_rules(path: Path, limits: Limits, kept: bool = True) -> CompiledRules:
    """Load and compile; raises RuleFileError. Safe to run in a thread."""
    return compile_texts(str(path), read_rule_files(path, limits), limits, kept)


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds") if t else None


class RuleSource:
    """The path, when its rules were loaded, and the last reload's failure if it failed."""

    def __init__(self, path: str | Path, limits: Limits = DEFAULT_LIMITS, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.limits = limits
        self.clock = clock
        self.loaded_at: float | None = None
        self.loaded_mtime = 0.0
        self.failed_at: float | None = None
        self.problems: list[str] = []
        self.reloads_ok = 0
        self.reloads_failed = 0
        self._lock = asyncio.Lock()

    def newest_mtime(self) -> float:
        try:
            return max(f.stat().st_mtime for f in files_of(self.path))
        except (OSError, RuleFileError, ValueError):
            return 0.0

    def load_now(self) -> CompiledRules:
        """At start, before the loop runs: raises RuleFileError."""
        mtime = self.newest_mtime()
        compiled = compile_rules(self.path, self.limits)
        self._loaded(mtime)
        return compiled

    async def reload(self) -> CompiledRules | list[str]:
        """Fresh rules, or the problems (the caller keeps the rules in force). One load at a time."""
        async with self._lock:
            mtime = self.newest_mtime()
            try:
                compiled = await asyncio.to_thread(compile_rules, self.path, self.limits)
            except RuleFileError as e:
                self.reloads_failed += 1
                self.failed_at = self.clock()
                self.problems = [str(p) for p in e.problems]
                return self.problems
            self.reloads_ok += 1
            self._loaded(mtime)
            return compiled

    def adopt(self, version: str) -> bool:
        """After a rollout put `version` in force (router/rollout.py): when the rule path holds that very version,
        the rules in force are the path's, not stale. Reads the files: run it in a thread."""
        mtime = self.newest_mtime()
        try:
            texts = read_rule_files(self.path, self.limits)
        except RuleFileError:
            return False
        if version_of(texts) != version:
            return False
        self._loaded(mtime)
        return True

    def _loaded(self, mtime: float) -> None:
        self.loaded_at = self.clock()
        self.loaded_mtime = mtime
        self.failed_at = None
        self.problems = []

    def status(self) -> dict:
        """For /healthz: are the rules in force older than the file, and why."""
        changed = self.newest_mtime()
        out: dict = {"loaded_at": _iso(self.loaded_at), "file_changed_at": _iso(changed),
                     "stale": bool(self.problems) or changed > self.loaded_mtime}
        if self.problems:
            out["why"] = (f"the reload at {_iso(self.failed_at)} failed: {self.problems[0]}"
                          + (f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""))
        elif out["stale"]:
            out["why"] = "the file changed after the rules were loaded: reload (SIGHUP or POST /api/rules/reload)"
        return out
