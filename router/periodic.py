"""A round run every few seconds off the calls' path until its router stops: escalation and the risk sweep, the
callbacks' rounds, the notices' sweep, the wallboard's ticker.

Stopping sets an event the loop checks between rounds and then cancels the round under way. Cancelling alone
is not enough: a round cancelled inside a store call may come back with the store's TimeoutError instead of
CancelledError (a redis read cancelled under its own socket timeout), which a loop that catches store errors
takes for an outage and goes round again, outliving the router that started it. `stop` returns once the loop
has ended, so nothing of a stopped router is still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

STOP_SECONDS = 5.0
"""How long `stop` waits for a round that ignores its cancellation (it cannot: it ends at the next check)."""


class Periodic:
    def __init__(self, name: str, every: float, round_: Callable[[], Awaitable[object]],
                 errors: tuple[type[Exception], ...], on_error: Callable[[Exception], None],
                 at_start: bool = False):
        """Every `every` seconds (counted from the start of a round), `round_()`; an error of `errors` goes to
        `on_error` and the next round comes as usual. The first round runs at once when `at_start`."""
        self.name = name
        self.every = every
        self.round = round_
        self.errors = errors
        self.on_error = on_error
        self.at_start = at_start
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_SECONDS)

    async def _run(self) -> None:
        if not self.at_start and await self._stopped_within(self.every):
            return
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await self.round()
            except self.errors as e:
                if self._stopping.is_set():
                    return
                self.on_error(e)
            if await self._stopped_within(max(0.0, self.every - (time.monotonic() - started))):
                return

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        return self._stopping.is_set()
