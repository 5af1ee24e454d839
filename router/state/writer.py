"""Writing to the store in the background: woken by new work, retried with back-off, never lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def write_forever(wake: asyncio.Event, flush: Callable[[], Awaitable[None]], waiting: Callable[[], int],
                        log: logging.Logger, what: str, gather: float = 0.0, first_delay: float = 0.1) -> None:
    """Flush whenever `wake` is set; on a store error keep the work, wait, double the wait (10 s at most)."""
    delay = first_delay
    while True:
        await wake.wait()
        if gather:
            await asyncio.sleep(gather)  # let a few gather: one round trip for many beats one each
        wake.clear()
        try:
            await flush()
            delay = first_delay
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("%s: store refused %d pending (%s); retrying in %.1f s", what, waiting(), e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            wake.set()
