#!/usr/bin/env python3
"""A classic process-per-call AGI script doing the router's lookup, for comparison only.

Asterisk's `AGI(script)` forks this for every call: the interpreter starts, imports, connects
to Redis, reads the headers on stdin, sets the variables on stdout.
"""

from __future__ import annotations

import sys
import time

import redis


def main() -> None:
    url, variables, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    env = {}
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            break
        key, _, value = line.partition(": ")
        env[key] = value
    number = env.get("agi_callerid", "")
    r = redis.Redis.from_url(url, decode_responses=True)
    now = time.time()
    p = r.pipeline(transaction=False)
    p.hgetall(f"{prefix}:{{{number}}}:customer")
    p.zrangebyscore(f"{prefix}:{{{number}}}:in", now - 604800, "+inf")
    p.hset(f"{prefix}:{{{number}}}:last", "in", now)
    p.xadd("classic:decisions", {"d": number}, maxlen=100000, approximate=True)
    p.execute()
    for i in range(variables):
        sys.stdout.write(f'SET VARIABLE CLASSIC_{i} "value {i}"\n')
        sys.stdout.flush()
        sys.stdin.readline()


if __name__ == "__main__":
    main()
