"""Which rules can match a caller, found without evaluating them one by one. Pure.

Admins split traffic by called number, class, kind, tags, number prefix and call counts; a
rule file with a thousand rules is mostly rules for *other* callers. Each rule is reduced
once to what it requires of those attributes (`Needs`), the caller to a small key of the
same attributes, and the list of rules that key admits is cached. Conditions the index does
not understand (`not`, hours, …) are taken as "may hold": the index only ever skips rules
that cannot match, and `decide` still evaluates the rest in file order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from router.core.identify import Caller
from router.core.rules import When

CACHE_SIZE = 4096
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Needs:
    kinds: frozenset[str] | None = None
    classes: frozenset[str] | None = None
    dnids: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    prefixes: tuple[str, ...] | None = None
    min_calls: int = 0
    has_manager: bool | None = None
    alternatives: tuple[Needs, ...] | None = None
    also: tuple[Needs, ...] = ()

    @classmethod
    def of(cls, w: When | None) -> Needs:
        if w is None:
            return cls()
        return cls(
            kinds=frozenset(w.kind) if w.kind else None,
            classes=frozenset(w.abc) if w.abc else None,
            dnids=frozenset(w.dnid) if w.dnid else None,
            tags=frozenset(w.tags) if w.tags else None,
            prefixes=tuple(w.prefix) if w.prefix else None,
            min_calls=w.calls_within.at_least if w.calls_within else 0,
            has_manager=w.has_manager,
            alternatives=tuple(cls.of(x) for x in w.any) if w.any else None,
            also=tuple(cls.of(x) for x in w.all or ()),
        )

    def admits(self, k: Key) -> bool:
        if self.kinds is not None and k.kind not in self.kinds:
            return False
        if self.classes is not None and k.abc not in self.classes:
            return False
        if self.dnids is not None and k.dnid not in self.dnids:
            return False
        if self.tags is not None and self.tags.isdisjoint(k.tags):
            return False
        if self.prefixes is not None and not any(p in k.prefixes for p in self.prefixes):
            return False
        if self.min_calls > k.calls:
            return False
        if self.has_manager is not None and self.has_manager != k.has_manager:
            return False
        if self.alternatives is not None and not any(a.admits(k) for a in self.alternatives):
            return False
        return all(a.admits(k) for a in self.also)

    def walk(self) -> Iterator[Needs]:
        yield self
        for sub in (*(self.alternatives or ()), *self.also):
            yield from sub.walk()


@dataclass(frozen=True, slots=True)
class Key:
    """A caller reduced to what the index knows about."""

    kind: str
    abc: str
    dnid: str
    tags: frozenset[str]
    prefixes: frozenset[str]
    calls: int
    has_manager: bool


class RuleIndex(Generic[T]):
    def __init__(self, needs: list[Needs], items: Sequence[T]):
        self.needs = needs
        self.items = tuple(items)
        every = [n for top in needs for n in top.walk()]
        self.dnids = frozenset().union(*(n.dnids for n in every if n.dnids))
        self.tags = frozenset().union(*(n.tags for n in every if n.tags))
        self.prefixes = frozenset(p for n in every if n.prefixes for p in n.prefixes)
        self.prefix_lengths = tuple(sorted({len(p) for p in self.prefixes}))
        self.max_calls = max((n.min_calls for n in every), default=0)
        self._cache: dict[Key, tuple[T, ...]] = {}

    def key(self, c: Caller) -> Key:
        number = c.number
        prefixes = frozenset(p for p in (number[:n] for n in self.prefix_lengths) if p in self.prefixes) \
            if self.prefix_lengths else frozenset()
        return Key(c.kind, c.abc, c.dnid if c.dnid in self.dnids else "",
                   c.tags & self.tags if c.tags else frozenset(), prefixes,
                   min(len(c.inbound) + 1, self.max_calls), bool(c.manager))

    def candidates(self, c: Caller) -> tuple[T, ...]:
        """The items (rules) that may match, in file order."""
        k = self.key(c)
        found = self._cache.get(k)
        if found is None:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            found = self._cache[k] = tuple(item for n, item in zip(self.needs, self.items, strict=True)
                                           if n.admits(k))
        return found
