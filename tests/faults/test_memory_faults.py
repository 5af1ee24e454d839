"""Memory is bounded by design: caller IDs longer than any real one cost nothing to keep."""

from __future__ import annotations

import asyncio
import random

CALLS = 600
LONG = 7000


async def _calls(r, numbers: list[str], names: list[str], first_uid: int) -> list:
    sem = asyncio.Semaphore(50)

    async def one(i: int):
        async with sem:
            return await r.acall(numbers[i], names[i], uid=first_uid + i, timeout=30)

    return await asyncio.gather(*(one(i) for i in range(len(numbers))))


def _growth(r, redis_server, numbers: list[str], names: list[str], first_uid: int) -> tuple[float, float]:
    """(router RSS KB, Redis used memory KB) per call, once the decision log has written them all."""
    client = redis_server.client()
    rss, used = r.rss_kb(), client.info("memory")["used_memory"]
    results = asyncio.run(_calls(r, numbers, names, first_uid))
    assert all(res.variables.get("ROUTE_COUNT") for res in results)
    while r.http("/healthz")[1]["log_pending"]:
        pass
    return (r.rss_kb() - rss) / len(numbers), (client.info("memory")["used_memory"] - used) / 1024 / len(numbers)


def test_distinct_7kb_caller_ids_cost_no_more_than_real_ones(redis_server, router_process):
    r = router_process(store=redis_server.url)
    rnd = random.Random(7)
    real = [f"+7916{rnd.randrange(10**7):07d}" for _ in range(CALLS)]
    _growth(r, redis_server, real, ["Ivan Petrov"] * CALLS, 1)  # warm up: caches, buffers, the log's memory
    normal = _growth(r, redis_server, [f"+7917{rnd.randrange(10**7):07d}" for _ in range(CALLS)],
                     ["Ivan Petrov"] * CALLS, 10_000)
    junk = ["+7" + "".join(rnd.choices("0123456789", k=LONG)) for _ in range(CALLS)]
    long_names = ["N" * LONG] * CALLS
    huge = _growth(r, redis_server, junk, long_names, 20_000)
    print(f"\nper call: real caller IDs router {normal[0]:.1f} KB, Redis {normal[1]:.1f} KB; "
          f"7 KB caller IDs and names router {huge[0]:.1f} KB, Redis {huge[1]:.1f} KB")
    assert huge[0] < normal[0] + 2, f"the router keeps {huge[0]:.1f} KB per 7 KB caller ID"
    assert huge[1] < normal[1] + 1, f"Redis keeps {huge[1]:.1f} KB per 7 KB caller ID"
    newest = r.http("/api/decisions?limit=1")[1][0]
    assert len(newest["call"]["callerid"]) <= 100 and len(newest["call"]["name"]) <= 100
    assert max(len(line) for line in r.log().splitlines()) < 1000
