"""Running a command's work against the store: opened at the address, closed after, its errors
turned into the admin's message (`router.cli.storeerrors`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from router.cli.storeerrors import failure
from router.state.address import AddressError
from router.state.errors import STORE_ERRORS
from router.state.factory import open_store
from router.state.store import Store

T = TypeVar("T")


def on_store(command: str, url: str, prefix: str, work: Callable[[Store], Awaitable[T]],
             timeout: float = 10.0) -> T:
    """`work(store)`'s result; StoreFailure when the store cannot be reached or refuses.

    `command` names the command in the message (`customers show`); `timeout` is the store
    client's, in seconds, for each command sent.
    """

    async def run() -> T:
        store = open_store(url, prefix, timeout)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (AddressError, *STORE_ERRORS) as e:
        raise failure(command, url, e) from None
