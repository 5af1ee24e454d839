"""The live suite's fixtures: one Asterisk and one router for the session (tests/live/stack.py builds
them), the tests' own AMI connection, and a wait for the outcomes the router records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from router.state.factory import open_store
from tests.live.stack import AMI_SECRET as AMI_SECRET  # bench/ imports these from here
from tests.live.stack import PREFIX, AMIClient, Live, live_stack
from tests.live.stack import start_asterisk as start_asterisk


@pytest.fixture(scope="session")
def live(redis_url) -> Iterator[Live]:
    """One Asterisk and one router for the whole live suite."""
    if PREFIX is None:
        pytest.skip("asterisk is not on PATH")
    with live_stack(redis_url) as stack:
        yield stack


@pytest.fixture
async def ami(live):
    client = AMIClient()
    await client.connect(live.asterisk.ami_port)
    yield client
    await client.close()


@pytest.fixture
async def outcomes(live):
    """Waits for the router's recorded outcomes (its `outcomes` stream in Redis) of a number."""
    r = aioredis.from_url(live.redis_url)
    store = open_store(live.redis_url, live.prefix)

    async def wait(number: str, direction: str = "inbound", timeout: float = 25.0) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                for _, fields in await r.xrange(live.keys.outcomes):
                    o = json.loads(fields[b"o"])
                    if o["number"] == number and o["direction"] == direction:
                        return o
                await asyncio.sleep(0.1)

    wait.store = store  # type: ignore[attr-defined]
    yield wait
    await r.aclose()
    await store.close()
