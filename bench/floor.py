"""The floor: the least a Python FastAGI service on this stack can cost per call.

A bare panoramisk FastAGI handler: one pipelined Redis round trip (a hash read, a sorted-set
read, one write, one stream append), then the same number of SET VARIABLE commands as the
router sends, then close. No identification, no rules, no logging.

    python bench/floor.py PORT REDIS_URL VARIABLES PREFIX
"""

from __future__ import annotations

import asyncio
import sys
import time

import redis.asyncio as aioredis
from panoramisk.fast_agi import Application


async def round_trip(r: aioredis.Redis, prefix: str, number: str) -> None:
    """The floor's one pipelined Redis round trip for a call from `number`."""
    now = time.time()
    p = r.pipeline(transaction=False)
    p.hgetall(f"{prefix}:{{{number}}}:customer")
    p.zrangebyscore(f"{prefix}:{{{number}}}:in", now - 604800, "+inf")
    p.hset(f"{prefix}:{{{number}}}:last", "in", now)
    p.xadd("floor:decisions", {"d": number}, maxlen=100000, approximate=True)
    await p.execute()


async def main(port: int, url: str, variables: int, prefix: str) -> None:
    r = aioredis.Redis.from_url(url, decode_responses=True)

    async def route(request) -> None:
        await round_trip(r, prefix, request.headers.get("agi_callerid", ""))
        for i in range(variables):
            await request.send_command(f'SET VARIABLE FLOOR_{i} "value {i}"')

    app = Application()
    app.add_route("route", route)
    server = await asyncio.start_server(app.handler, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)  # no connect-probe: panoramisk's header loop spins forever on an early close
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]))
