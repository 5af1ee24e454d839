"""What every call reads but no caller owns — busy devices, the strategy, the day/night switch, the numbering plan,
company number ranges — held in a cluster router's memory.

On Redis Cluster these keys live on other nodes than the caller's; reading them in the call's
round trip would send it to several nodes. The router keeps a copy instead: loaded when its
live-event reader connects, kept current by the events every change sends (`router.state.feed`).
"""

from __future__ import annotations

from bisect import bisect_right


class RangeTable:
    """Ranges sorted by their start: the ranges that begin at or below a number, nearest first."""

    def __init__(self, members: list[tuple[int, str]] | None = None):
        members = sorted(members or [])
        self.starts = [m[0] for m in members]
        self.members = [m[1] for m in members]

    def __len__(self) -> int:
        return len(self.starts)

    def below(self, value: int, limit: int) -> list[str]:
        """What ZREVRANGEBYSCORE key value -inf LIMIT 0 limit returns."""
        i = bisect_right(self.starts, value)
        return self.members[max(0, i - limit):i][::-1]


class LocalView:
    def __init__(self) -> None:
        self.busy: frozenset[str] = frozenset()
        self.strategy: str | None = None
        self.switch: str | None = None
        self.numbering = RangeTable()
        self.companies = RangeTable()
        self.loaded = False

    def device(self, device: str, busy: bool) -> None:
        self.busy = self.busy | {device} if busy else self.busy - {device}

    def apply(self, event: dict) -> bool:
        """A shared event; True when a table must be read again (it changed as a whole)."""
        kind = event.get("type")
        if kind == "device":
            self.device(event["device"], event["busy"])
        elif kind == "strategy":
            self.strategy = event["strategy"]
        elif kind == "switch":
            self.switch = event["switch"]
        return kind in ("numbering", "companies")


def table(rows: list[tuple[str, float]]) -> RangeTable:
    """ZRANGE … WITHSCORES rows (member, score) as a table."""
    return RangeTable([(int(score), member) for member, score in rows])
