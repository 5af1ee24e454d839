"""The day/night switch: a manual override like FreePBX's Call Flow Control, read by `when: {switch: night}`.

Someone flips it on the live page, with `POST /api/switch`, or from a phone with the shipped feature code
(`*28` in `[callrouter-features]`, dialplans/callrouter.conf), which asks the router over FastAGI on the
script path `switch` (`AGI(agi://ROUTER:4573/switch,toggle,WHO)`: `toggle`, `day` or `night`) and gets
`CALLROUTER_SWITCH` back in one `EXEC MSet`. The mode is kept in the store beside the strategy, so every
router sharing it reads the same mode in each call's one round trip; `day` until it is first flipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from router.asterisk import mset
from router.asterisk.agi import AGISession
from router.core.rules import SWITCH_MODES
from router.state.errors import STORE_ERRORS
from router.state.store import Store

log = logging.getLogger("router")

SWITCH_VARIABLE = "CALLROUTER_SWITCH"
"""What the feature code's AGI answer sets: `day`, `night`, or `error` when the store could not be written."""


def who(text: str) -> str:
    """A name for the log and the page: printable, at most 80 characters."""
    return "".join(ch for ch in str(text) if ch.isprintable())[:80].strip()


class DayNight:
    def __init__(self, store: Store, publish: Callable[[dict], None], clock: Callable[[], float]):
        self.store = store
        self.publish = publish
        self.clock = clock

    async def state(self) -> dict:
        found = await self.store.strategy()
        mode = found.get("switch")
        return {"switch": mode if mode in SWITCH_MODES else "day", "by": found.get("switch_by", ""),
                "at": float(found.get("switch_at") or 0), "source": "runtime" if mode else "default"}

    async def set(self, mode: str, by: str) -> dict:
        """Flip the switch for every router on this store: the very next call reads it. ValueError for a mode
        that is not `day`, `night` or `toggle`."""
        if mode == "toggle":
            mode = "day" if (await self.state())["switch"] == "night" else "night"
        if mode not in SWITCH_MODES:
            raise ValueError(f"switch must be one of {', '.join(SWITCH_MODES)} or toggle")
        now = self.clock()
        previous = await self.store.set_switch(mode, by, now) or "day"
        log.warning("day/night switch set to %s by %s (was %s)", mode, by or "someone unnamed", previous)
        event = {"switch": mode, "by": by, "at": now, "previous": previous}
        self.publish({"type": "switch", **event})
        return event

    async def answer(self, session: AGISession) -> None:
        """The `switch` script: `toggle`, `day` or `night` (first AGI argument) by whom (the second)."""
        env = session.env
        wanted = env.get("agi_arg_1", "") or "toggle"
        by = who(env.get("agi_arg_2", "") or env.get("agi_callerid", ""))
        try:
            mode = (await self.set(wanted, f"feature code from {by}" if by else "feature code"))["switch"]
        except ValueError as e:
            log.warning("AGI switch from %r: %s", by, e)
            mode = "error"
        except STORE_ERRORS as e:
            log.error("AGI switch from %r: not flipped, the store is unavailable (%s); try again", by, e)
            mode = "error"
        session.end_with(mset.commands([(SWITCH_VARIABLE, mode)])[0])
