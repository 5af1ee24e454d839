"""Floods of the same event as one log line a second: an attack must not turn into a log flood.

The first event of a quiet period is logged at once (the admin sees it start); the ones that
follow within the interval are counted and written as one summary line when it ends. Totals
since start are kept for /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable


class FloodLog:
    """Counts events by kind and logs at most one line per `interval` seconds."""

    def __init__(self, logger: logging.Logger, subject: str, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, level: int = logging.WARNING):
        self.logger = logger
        self.subject = subject
        self.interval = interval
        self.clock = clock
        self.level = level
        self.totals: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()
        self._last_detail: dict[str, str] = {}
        self._last_line = float("-inf")
        self._timer: asyncio.TimerHandle | None = None

    def note(self, kind: str, detail: str = "") -> None:
        """One more `kind` event; `detail` (the latest of its kind) goes into the summary line."""
        self.totals[kind] += 1
        self._counts[kind] += 1
        if detail:
            self._last_detail[kind] = detail
        wait = self._last_line + self.interval - self.clock()
        if wait <= 0:
            self.flush()
        elif self._timer is None:
            with contextlib.suppress(RuntimeError):  # no loop: the next event after the interval writes it
                self._timer = asyncio.get_running_loop().call_later(wait, self.flush)

    def flush(self) -> None:
        """Write what was counted since the last line (shutdown calls it too)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._counts:
            return
        now = self.clock()
        parts = []
        for kind, n in self._counts.items():
            detail = self._last_detail.get(kind)
            parts.append(f"{n} {kind}" + (f" (last: {detail})" if detail else ""))
        since = now - self._last_line
        window = f" in the last {since:.1f} s" if since < 10 * self.interval else ""
        self.logger.log(self.level, "%s: %s%s", self.subject, "; ".join(parts), window)
        self._counts.clear()
        self._last_detail.clear()
        self._last_line = now
