"""The store's base: its connections, the call's one-round-trip snapshot, live events every router sees.

Every concern of the store (`calls`, `directory`, `decisions`, `tasks`, `risk`, `report`,
`strategy`) is a mixin over this base, composed into `Store` the way redis-py composes its
client from command mixins. The base owns how commands travel:

- a call's commands go on the shared, pipelined connections (`router.state.shared`) within the
  call's budget — `round_trip`;
- batches off the call path (the decision log, outcomes) go on a connection of their own, never
  in front of a call — `pooled`;
- everything else goes through redis-py's client `r`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.exceptions import ResponseError

from router.core.phones import padded
from router.core.snapshot import Snapshot
from router.reports.tally import Calendar
from router.state.address import StoreAddress
from router.state.keys import COMPANY_NESTING, EVENTS_MAXLEN, TRIM_EVERY, Keys, Retention
from router.state.replies import caller_replies, company_of, range_zone
from router.state.shared import SharedConnections

Command = tuple[Any, ...]
"""One Redis command as its arguments: ("HGETALL", key)."""
Client = Any
"""redis-py's client: a plain, Sentinel or Cluster Redis. redis-py types every reply as `bytes | str`
whatever its `decode_responses` says; every client the router makes decodes replies to `str`
(router/state/address.py), so the store reads them as such."""


class StoreBase:
    """`shared` carries the calls' round trips (see router/state/shared.py); everything else goes
    through redis-py's client `r`. Without `shared` (an in-process fake) calls use `r` too."""

    def __init__(self, client: Client, keys: Keys | None = None, shared: SharedConnections | None = None):
        self.r: Client = client
        self.k = keys or Keys()
        self.shared = shared
        self.background: SharedConnections | None = None
        """A connection of its own for batches off the call path (decision log, outcomes): read with
        hiredis like the calls', and never in front of a call's round trip."""
        self.calendar = Calendar()
        """The company zone and retention the report's writes use; the router sets it from the rules."""
        self.retention = Retention()
        """How long a number's history and a closed task live; the router sets it from the rules."""
        self.address: StoreAddress | None = None
        self.closer: Callable[[], Awaitable[None]] | None = None
        """How to close the client when it is not a plain redis-py client (Sentinel, Cluster)."""
        self.instance = ""
        """This router's name, written with what it shares so that the others can tell theirs apart."""
        self.unreleased: set[str] = set()
        """Outcome claims taken by an attempt whose writes failed and that could not be given back."""
        self.sort_gets = True
        """Whether Redis runs `SORT … GET pattern` (a Cluster refuses it): how lists read many tasks at once."""

    async def close(self) -> None:
        for connections in (self.shared, self.background):
            if connections is not None:
                await connections.close()
        if self.closer is not None:
            await self.closer()
        else:
            await self.r.aclose()

    async def ping(self) -> bool:
        """Over the connections calls use, so `up` means calls are served."""
        if self.shared is not None:
            return (await self.shared.execute([("PING",)]))[0] == "PONG"
        return bool(await self.r.ping())

    async def persistence_warning(self) -> str | None:
        """Why a restart of Redis would lose everything the router keeps, or None when Redis writes to disk
        (AOF or RDB snapshots) — or when it will not say (CONFIG renamed or refused: not our call to judge)."""
        try:
            aof = await self.r.config_get("appendonly")
            rdb = await self.r.config_get("save")
        except ResponseError:
            return None
        if aof.get("appendonly") == "yes" or (rdb.get("save") or "").strip():
            return None
        where = self.address or "the store"
        return (f"Redis at {where} keeps nothing on disk (appendonly no, save \"\"): a restart of Redis loses "
                "every open follow-up, queued message and the report. Add `appendonly yes` to its redis.conf "
                "(or run CONFIG SET appendonly yes, then CONFIG REWRITE)")

    # the call's round trip

    async def snapshot(self, number: str, score: int | None, now: float, window: float,
                       record_inbound: str | None = None, budget: float | None = None,
                       crm: bool = False, same_call: str | None = None) -> Snapshot:
        """One pipelined round trip: profile, history, follow-up, numbering range, busy set, company,
        strategy, the day/night switch and (with `crm`) the cached CRM answer.

        With `record_inbound` (a call id) the same round trip writes this inbound call to the
        number's history; reads run first, so the snapshot shows the history before this call.
        With `same_call` (the call id of a call asking again after a menu) the history is shown as
        it was before that call's first ask: the call is not its own previous call.
        Past `budget` seconds without an answer from Redis, TimeoutError.
        """
        k = self.k
        switches: Command = ("HMGET", k.strategy, "strategy", "switch")  # the strategy and the day/night switch
        if not number:
            busy, (strategy, switch) = await self.round_trip([("SMEMBERS", k.busy), switches], budget)
            return Snapshot({}, {}, [], None, frozenset(busy), strategy=strategy, switch=switch)
        shared: list[Command] = [("SMEMBERS", k.busy), switches]
        if score is not None:
            shared.append(("ZREVRANGEBYSCORE", k.numbering, score, "-inf", "LIMIT", 0, 1))
        span = padded(number)
        if span is not None:
            shared.append(("ZREVRANGEBYSCORE", k.company_ranges, span, "-inf", "LIMIT", 0, COMPANY_NESTING))
        res = await self.round_trip(shared + self.caller_commands(number, now, window, crm, record_inbound,
                                                                  same_call), budget)
        busy, (strategy, switch) = res[0], res[1]
        i = 2
        numbering = None
        if score is not None:
            found = res[i]
            numbering = range_zone(found[0], score) if found else None
            i += 1
        company = company_of(res[i], span) if span is not None else None
        i += span is not None
        customer, state, risk, inbound, cached = caller_replies(res[i:], window, crm, same_call)
        return Snapshot(customer, state, inbound, numbering, frozenset(busy), company, strategy, switch, risk=risk,
                        crm=cached)

    def caller_commands(self, number: str, now: float, window: float, crm: bool,
                        record_inbound: str | None, same_call: str | None = None) -> list[Command]:
        """The caller's own keys in the call's round trip, all in its hash slot: profile, state, risk,
        newest contacts, recent inbound calls, the cached CRM answer, (with `same_call`) the two newest
        inbound calls by id; then this call's history writes, after the reads. `replies.caller_replies`
        reads the answers."""
        k = self.k
        commands: list[Command] = [("HGETALL", k.customer(number)), ("HGETALL", k.state(number)),
                                   ("HGETALL", k.risk(number)), ("ZRANGE", k.newest(number), 0, -1, "WITHSCORES")]
        if window > 0:
            commands.append(("ZRANGEBYSCORE", k.inbound(number), now - window, "+inf", "WITHSCORES"))
        if crm:
            commands.append(("GET", k.crm(number)))
        if same_call is not None:
            commands.append(("ZREVRANGE", k.inbound(number), 0, 1, "WITHSCORES"))
        if record_inbound is not None:
            commands += self.inbound_writes(number, record_inbound, now)
        return commands

    def newest_write(self, number: str, kind: str, at: float) -> Command:
        """The newest contact of a kind moves forward only: a late write of an older call changes nothing."""
        return ("ZADD", self.k.newest(number), "GT", at, kind)

    def kept(self, key: str) -> Command:
        """A number's key lives `retention.numbers` past its last write: a number that stops calling is
        forgotten by itself."""
        return ("EXPIRE", key, self.retention.numbers)

    def inbound_writes(self, number: str, call_id: str, at: float) -> list[Command]:
        """An inbound call in the number's history: the last-contact time and the call-count set."""
        inbound_key, newest_key = self.k.inbound(number), self.k.newest(number)
        writes: list[Command] = [self.newest_write(number, "in", at), ("ZADD", inbound_key, at, call_id),
                                 self.kept(newest_key), self.kept(inbound_key)]
        if int(at) % TRIM_EVERY == 0:
            writes.append(("ZREMRANGEBYSCORE", inbound_key, "-inf", at - self.retention.numbers))
        return writes

    async def contract_number(self, contract: str, budget: float | None = None) -> str | None:
        """The number of the customer whose directory record holds this contract (one round trip)."""
        [number] = await self.round_trip([("GET", self.k.contract(contract))], budget)
        return number or None

    # how commands travel

    async def round_trip(self, commands: list[Command], budget: float | None = None) -> list:
        """Commands written at once, replies read in order: pipelined with other calls' on the shared
        connections. Retried once on a dead connection, so only idempotent commands belong here.

        What redis-py's Pipeline does, without its per-command bookkeeping: on the hot path
        that bookkeeping cost more than the round trip itself (bench/README.md).
        """
        if self.shared is not None:
            replies = await self.shared.execute(commands, budget)
        else:
            async with asyncio.timeout(budget):
                replies = await self.pooled_raw(commands)
        _raise_first_error(replies)
        return replies

    async def pooled_raw(self, commands: list[Command]) -> list:
        """Commands on the connection kept for batches, replies as they come (errors among them)."""
        if self.background is not None:
            return await self.background.execute(commands, retry=False)
        pool = self.r.connection_pool
        conn = await pool.get_connection()
        try:
            await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
            replies = [await conn.read_response() for _ in commands]
        except BaseException:
            await conn.disconnect(nowait=True)  # replies may be left unread: never reuse it
            raise
        finally:
            await pool.release(conn)
        return replies

    async def pooled(self, commands: list[Command]) -> list:
        """Batches off the call path go on a pooled connection: calls never queue behind them.
        A command Redis refused raises its ResponseError."""
        replies = await self.pooled_raw(commands)
        _raise_first_error(replies)
        return replies

    # live events every instance sees

    def share_in(self, p, event: dict) -> None:
        """Add a live event for the other instances to the pipeline `p`."""
        p.xadd(self.k.live, {"e": orjson.dumps(event), "i": self.instance}, maxlen=EVENTS_MAXLEN,
               approximate=True)

    async def share(self, events: list[dict]) -> None:
        """Events for the other instances' live pages, in one round trip."""
        p = self.r.pipeline(transaction=False)
        for e in events:
            self.share_in(p, e)
        await p.execute()


def _raise_first_error(replies: list) -> None:
    for r in replies:
        if isinstance(r, ResponseError):
            raise r
