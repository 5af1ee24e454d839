"""The follow-up worklist read a page at a time: GET /api/followups, /api/followups/escalated and the
per-owner counts (/api/followups/counts and /metrics).

The worklist's order is the strategy's (`Followups.order()`: its segments — new callers, A, B, C
customers — first to last, the rest after them), then the deadline. It depends on the strategy in
force, switched at runtime, so no index in Redis holds it: a page is chosen from the open tasks'
ids, deadlines and the few fields the order and the filters need (1,000 a round trip, one
`SORT … GET` each: `TasksMixin.open_task_fields`; the loop free between them), and only the
page's tasks are then read whole. 10,000 open tasks cost 10 round trips and about 35 ms, not a
10,000-task answer built at once. Closed tasks are kept newest first in a sorted set: a page of
them is one range read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import TypedDict

from router.service import Router
from router.web.paging import Key, PageRequest, take_page

SEGMENT_OF_PRIORITY = {"0": "new", "1": "A", "2": "B", "3": "C"}
"""The segment of a task written before tasks carried theirs (retention tasks still carry only a priority)."""
ORDER_FIELDS = ("segment", "priority", "owner", "level")

OPEN_SHAPE = (int, float, str)
"""(segment's place in the strategy's order, deadline, id)."""
ESCALATED_SHAPE = (int, int, float, str)
"""(level, then the worklist's order)."""
CLOSED_SHAPE = (float, str)
"""(closed at, id): newest first."""
Owners = Collection[str] | None
"""The owners whose tasks a list holds (`?manager=`, an agent's own names); None: everyone's."""


class OwnerCounts(TypedDict):
    open: int
    overdue: int


async def _open_keys(router: Router, until: float = float("inf"),
                     owners: Owners = None) -> list[tuple[Key, str, str]]:
    """(worklist key, owner, level) of every open task due by `until` (of `owners`, if given), in order."""
    order = await router.followups.order()
    rank = {seg: i for i, seg in enumerate(order)}
    found: dict[str, tuple[Key, str, str]] = {}
    async for batch in router.store.open_task_fields(ORDER_FIELDS, until):
        for task_id, deadline, (segment, priority, owner, level) in batch:
            if owners is not None and owner not in owners:
                continue
            seg = segment if segment is not None else SEGMENT_OF_PRIORITY.get(priority or "", "")
            found[task_id] = ((rank.get(seg, len(order)), deadline, task_id), owner or "", level or "0")
    return sorted(found.values())


async def _whole(router: Router, ids: list[str]) -> list[dict]:
    now = router.clock()
    tasks = await router.store.tasks_by_id(ids)
    for t in tasks:
        t["overdue"] = t.get("state") == "open" and float(t["deadline"]) < now
    return tasks


async def open_page(router: Router, overdue: bool, owners: Owners,
                    page: PageRequest) -> tuple[list[dict], Key | None]:
    """Open (or only overdue) follow-ups in the worklist's order."""
    keyed = [(key, key[-1]) for key, _, _ in
             await _open_keys(router, router.clock() if overdue else float("inf"), owners)]
    ids, next_key = take_page(keyed, page)
    return await _whole(router, ids), next_key


async def escalated_page(router: Router, page: PageRequest) -> tuple[list[dict], Key | None, dict[str, int]]:
    """Open follow-ups that went up, by level (1 first), each level in the worklist's order; and how many
    there are on each level."""
    keyed = sorted(((int(level), *key), key[-1]) for key, _, level in await _open_keys(router) if int(level) > 0)
    levels = Counter(str(key[0]) for key, _ in keyed)
    ids, next_key = take_page(keyed, page)
    return await _whole(router, ids), next_key, dict(sorted(levels.items(), key=lambda kv: int(kv[0])))


async def closed_page(router: Router, owners: Owners, page: PageRequest) -> tuple[list[dict], Key | None]:
    """Closed follow-ups, the newest first."""
    out: list[dict] = []
    place = page.after
    while True:
        want = page.limit - len(out)
        batch = await router.store.closed_before(place, want + 1)
        taken = batch[:want]
        if taken:
            place = taken[-1]
        out += [t for t in await _whole(router, [i for _, i in taken]) if owners is None or t.get("owner") in owners]
        if len(batch) <= want:
            return out, None
        if len(out) >= page.limit:
            return out, place


async def owner_counts(router: Router) -> dict[str, OwnerCounts]:
    """Open and overdue follow-ups per owner, however many there are."""
    now = router.clock()
    per: dict[str, OwnerCounts] = {}
    for (_, deadline, _), owner, _ in await _open_keys(router):
        c = per.setdefault(owner, {"open": 0, "overdue": 0})
        c["open"] += 1
        c["overdue"] += int(deadline < now)
    return per
