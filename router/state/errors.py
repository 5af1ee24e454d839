"""The errors the store's client raises when Redis is down, slow or refuses: Redis's own (cluster
ones included) and the socket's (OSError; TimeoutError, which `asyncio.timeout` raises, is one).

A handler that degrades when the store cannot answer catches these and only these: anything
else is a bug in the router and answers 500, with its traceback in the log.
"""

from __future__ import annotations

from redis.exceptions import RedisClusterException, RedisError

STORE_ERRORS = (RedisError, RedisClusterException, OSError)
