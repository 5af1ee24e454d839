"""The AMI listener's journal: what a router killed mid-call takes up again.

Every JOURNAL_EVERY seconds the listener writes down, in one hash per router (`Keys.journal`), the calls it
follows (`c:LINKEDID`) and the outcomes it has not yet written (`o:KEY`); a restarted router of the same name
reads them back before it connects. Only what outlives a round reaches the store: a call that came and went
between two rounds, and an outcome written before the next round, are never written nor deleted there. A field
done with while the round carrying it is on its way is dropped by the next round.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import orjson

from router.core.outcome import Outcome
from router.state.errors import STORE_ERRORS
from router.state.store import Store

log = logging.getLogger("router.ami")

JOURNAL_EVERY = 0.1
"""Seconds between two journal writes: what a router killed mid-call can lose of its AMI events."""


class Journal:
    def __init__(self) -> None:
        self.changes: dict[str, Outcome | bytes | None] = {}
        """For the next round: a field set (an outcome is serialised then) or dropped (None)."""
        self.stored: set[str] = set()
        """Fields the store's journal holds (written by a round, or found at restore): only these need dropping."""
        self.in_flight: dict[str, bytes | None] = {}
        """The round being written."""

    def restored(self, fields: Iterable[str]) -> None:
        self.stored = set(fields)

    def outcome(self, o: Outcome) -> None:
        self.changes[f"o:{o.key}"] = o

    def outcome_written(self, o: Outcome) -> None:
        self._drop(f"o:{o.key}")

    def calls(self, followed: dict[str, dict], ended: list[str]) -> None:
        for linkedid, record in followed.items():
            self.changes[f"c:{linkedid}"] = orjson.dumps(record)
        for linkedid in ended:
            self._drop(f"c:{linkedid}")

    async def write(self, store: Store, name: str, where: str) -> None:
        """One round: the changes in one round trip; kept for the next round when the store refuses them."""
        if not self.changes:
            return
        changes, self.changes = self.changes, {}
        self.in_flight = {f: v if v is None or isinstance(v, bytes) else orjson.dumps(v.record())
                          for f, v in changes.items()}
        try:
            await store.journal_write(name, self.in_flight)
        except STORE_ERRORS as e:
            self.changes = changes | self.changes  # newer changes win
            log.debug("%s: journal not written (%s)", where, e)
        else:
            for field, value in self.in_flight.items():
                if value is None:
                    self.stored.discard(field)
                else:
                    self.stored.add(field)
        finally:
            self.in_flight = {}

    def _drop(self, field: str) -> None:
        """`field` is done with: dropped from the store's journal if it is there or on its way."""
        if field in self.stored or self.in_flight.get(field) is not None:
            self.changes[field] = None
        else:
            self.changes.pop(field, None)
