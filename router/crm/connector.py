"""What a CRM module implements, and what it is given to do it.

A connector turns one queued operation (router/crm/ops.py) into the CRM's requests when the
outbox sends it, and says how it went as the outbox's `Delivery`: sent, retry (the CRM is away or
busy), blocked (a wrong key, a deleted user: the admin must act; every message waits) or rejected
(this request is wrong). It keeps what the CRM answered (its call and task ids) in the store as
soon as it has it, so that the next operation of the customer — which the outbox sends only after
this one — renders from it. It lists the CRM's active users for the people mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from router.core.crmrules import CrmSettings
from router.crm.jsonhttp import JsonHttp
from router.crm.ops import CrmOp
from router.crm.people import CrmUserRecord, People
from router.outbox.message import Delivery, Message
from router.state.store import Store


class Refused(Exception):
    """An answer that ends a delivery, or a users list the CRM did not give: the delivery says why and what now."""

    def __init__(self, delivery: Delivery):
        super().__init__(delivery.detail)
        self.delivery = delivery


class Context(Protocol):
    """What a connector works with (router/crm/sync.py provides it)."""

    store: Store
    http: JsonHttp
    clock: Callable[[], float]

    def settings(self) -> CrmSettings: ...

    def zone(self) -> str: ...

    async def problem(self, key: str, what: str, advice: str) -> None: ...


class Connector(Protocol):
    label: str
    """How admins call the CRM: `Bitrix24`, `amoCRM`."""
    env: tuple[str, ...]
    """The environment variables it needs (its address and secret)."""

    async def users(self) -> list[CrmUserRecord]:
        """The CRM's active users; raises Refused."""
        ...

    async def deliver(self, op: CrmOp, people: People, message: Message) -> Delivery: ...
