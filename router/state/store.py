"""Every Redis key and every read or write the router makes, in one place.

Keys that belong to a number carry a hash tag (`cr:{+79201234567}:…`) so that Redis Cluster
keeps one caller's keys in one slot: the call's round trip goes to one node. The global keys are
grouped under four tags, each one slot, so that no command or transaction crosses slots:
`{devices}` (device states), `{numbering}` (the range table and its loading copy), `{log}` (the
decision, outcome and live-event streams, read together by every instance's feed) and `{tasks}`
(the follow-up worklist and its tasks, closed in one transaction).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ResponseError, WatchError

from router.core.phones import padded
from router.core.snapshot import Snapshot
from router.reports.tally import Calendar, Tally, day_of, retype, tally_call
from router.state.address import StoreAddress, connect
from router.state.address import parse as parse_address
from router.state.shared import SharedConnections

HISTORY_KEEP_SECONDS = 400 * 86400
OUTCOME_KEEP_SECONDS = 30 * 86400
DECISION_META_SECONDS = 2 * 86400
DECISION_LOG_MAXLEN = 100_000
BUSY_STATES = frozenset({"INUSE", "BUSY", "RINGINUSE", "ONHOLD", "UNAVAILABLE", "INVALID"})
"""Device states in which a new call cannot be put through (AMI DeviceStateChange `State`)."""


class Keys:
    """Key names. `prefix` lets several deployments (or tests) share one Redis."""

    __slots__ = ("busy", "companies", "company_ranges", "decisions", "devstate", "live", "numbering",
                 "numbering_loading", "outcomes", "prefix", "risk_due", "risk_list", "strategy", "tasks_closed",
                 "tasks_open")

    def __init__(self, prefix: str = "cr"):
        self.prefix = prefix
        self.busy = f"{prefix}:{{devices}}:busy"
        self.devstate = f"{prefix}:{{devices}}:state"
        self.numbering = f"{prefix}:{{numbering}}"
        self.numbering_loading = f"{prefix}:{{numbering}}:loading"
        self.decisions = f"{prefix}:{{log}}:decisions"
        self.outcomes = f"{prefix}:{{log}}:outcomes"
        self.live = f"{prefix}:{{log}}:live"
        """Live events every instance shares: follow-up changes, device states, a reloaded numbering plan."""
        self.tasks_open = f"{prefix}:{{tasks}}:open"
        self.tasks_closed = f"{prefix}:{{tasks}}:closed"
        self.strategy = f"{prefix}:strategy"
        """Hash: `strategy` switched at runtime, `by` whom, `at` when (read by every call's round trip)."""
        self.risk_list = f"{prefix}:{{risk}}:list"
        """Sorted set: numbers at risk now, scored by when they entered the list."""
        self.risk_due = f"{prefix}:{{risk}}:due"
        """Sorted set: numbers whose stored risk changes by itself (a signal's events age out), by when."""
        self.companies = f"{prefix}:{{companies}}"
        self.company_ranges = f"{prefix}:{{companies}}:ranges"
        """Sorted set: `low|high|id|{fields}` scored by `low` (numbers padded, see phones.padded)."""

    def company(self, company_id: str) -> str:
        return f"{self.prefix}:{{companies}}:company:{company_id}"

    def task(self, task_id: str) -> str:
        return f"{self.prefix}:{{tasks}}:task:{task_id}"

    def task_log(self, task_id: str) -> str:
        return f"{self.prefix}:{{tasks}}:task:{task_id}:log"

    def sms_sent(self, number: str) -> str:
        return f"{self.prefix}:{{{number}}}:sms"

    def decision(self, decision_id: str) -> str:
        """What follow-ups need of a decision (rule, first step, kind, class), kept for two days."""
        return f"{self.prefix}:decision:{decision_id}"

    def outcome(self, decision_id: str) -> str:
        return f"{self.prefix}:outcome:{decision_id}"

    def outcome_claim(self, linkedid: str, direction: str, number: str) -> str:
        return f"{self.prefix}:seen:{linkedid}:{direction}:{number}"

    def report_day(self, day: str) -> str:
        """Hash of counters for one company day (router/reports/tally.py lists the fields); kept `keep_days`."""
        return f"{self.prefix}:report:{day}"

    def calls_day(self, day: str) -> str:
        """Hash: call key (decision id, else linkedid:direction:number) -> the call's raw record; kept `keep_calls`."""
        return f"{self.prefix}:calls:{day}"

    def customer(self, number: str) -> str:
        return f"{self.prefix}:{{{number}}}:customer"

    def state(self, number: str) -> str:
        """Hash: `in`/`out` (last inbound/outbound call), `in_ok`/`out_ok` (answered), `followup` (open task)
        and `task_owner` (its owner), `agent`/`agent_at` (who answered the last answered call, and when),
        `agent_state` (that queue member's state interface), `prospect` (1 until a conversation was
        answered), `miss`/`miss_cb` (unanswered miss; first callback made)."""
        return f"{self.prefix}:{{{number}}}:state"

    def crm(self, number: str) -> str:
        """The CRM's cached answer for the number: `{"found": …, "fields": {…}}`, with a TTL."""
        return f"{self.prefix}:{{{number}}}:crm"

    def inbound(self, number: str) -> str:
        return f"{self.prefix}:{{{number}}}:in"

    def newest(self, number: str) -> str:
        """Sorted set: the time of the newest contact of each kind — `in` (inbound call), `in:1`/`in:0`
        (inbound answered/not), `out:1`/`out:0` (outbound answered/not) — written with ZADD GT, so a late
        write (the backlog of an outage) never moves one back."""
        return f"{self.prefix}:{{{number}}}:newest"

    def events(self, number: str) -> str:
        """Sorted set: the number's dated customer events (calls included), packed, scored by time."""
        return f"{self.prefix}:{{{number}}}:events"

    def event_ids(self, number: str) -> str:
        """Sorted set: ids of the events already taken, so that a batch sent twice counts once."""
        return f"{self.prefix}:{{{number}}}:evids"

    def risk(self, number: str) -> str:
        """Hash: the number's precomputed risk (`level`, `score`, `hits` as JSON, `since`, `task` and
        `task_owner`, the open retention task and its owner)."""
        return f"{self.prefix}:{{{number}}}:risk"


COMPANY_NESTING = 8
"""Company ranges read per lookup: enough for a branch range nested in its company's wider ones."""

TRIM_EVERY = 16
"""History older than HISTORY_KEEP_SECONDS is trimmed on one call in this many."""


EVENTS_MAXLEN = 10_000


class Store:
    """`shared` carries the calls' round trips (see router/state/shared.py); everything else goes
    through redis-py's client `r`. Without `shared` (an in-process fake) calls use `r` too."""

    def __init__(self, client: aioredis.Redis, keys: Keys | None = None, shared: SharedConnections | None = None):
        self.r = client
        self.k = keys or Keys()
        self.shared = shared
        self.background: SharedConnections | None = None
        """A connection of its own for batches off the call path (decision log, outcomes): read with
        hiredis like the calls', and never in front of a call's round trip."""
        self.calendar = Calendar()
        """The company zone and retention the report's writes use; the router sets it from the rules."""
        self.address: StoreAddress | None = None
        self.instance = ""
        """This router's name, written with what it shares so that the others can tell theirs apart."""
        self._unreleased: set[str] = set()
        """Outcome claims taken by an attempt whose writes failed and that could not be given back."""

    @classmethod
    def from_url(cls, url: str, prefix: str = "cr", timeout: float = 1.0) -> Store:
        """Any address `router.state.address` reads: one Redis, Sentinel (calls follow the master),
        Cluster, with or without TLS."""
        addr = parse_address(url)
        conn = connect(addr, timeout)
        if conn.cluster:
            from router.state.cluster import ClusterStore
            store: Store = ClusterStore(conn.client, Keys(prefix))
        else:
            store = cls(conn.client, Keys(prefix), SharedConnections(conn.opener, conn.setup))
            store.background = SharedConnections(conn.opener, conn.setup, size=1)
        store.address = addr
        store._close_client = conn.close
        return store

    async def _close_client(self) -> None:
        await self.r.aclose()

    async def close(self) -> None:
        for connections in (self.shared, self.background):
            if connections is not None:
                await connections.close()
        await self._close_client()

    async def ping(self) -> bool:
        """Over the connections calls use, so `up` means calls are served."""
        if self.shared is not None:
            return (await self.shared.execute([("PING",)]))[0] == "PONG"
        return bool(await self.r.ping())

    async def snapshot(self, number: str, score: int | None, now: float, window: float,
                       record_inbound: str | None = None, budget: float | None = None,
                       crm: bool = False) -> Snapshot:
        """One pipelined round trip: profile, history, follow-up, numbering range, busy set, company,
        strategy and (with `crm`) the cached CRM answer.

        With `record_inbound` (a call id) the same round trip writes this inbound call to the
        number's history; reads run first, so the snapshot shows the history before this call.
        Past `budget` seconds without an answer from Redis, TimeoutError.
        """
        k = self.k
        if not number:
            busy, strategy = await self._round_trip([("SMEMBERS", k.busy), ("HGET", k.strategy, "strategy")],
                                                     budget)
            return Snapshot({}, {}, [], None, frozenset(busy), strategy=strategy)
        shared: list[tuple] = [("SMEMBERS", k.busy), ("HGET", k.strategy, "strategy")]
        if score is not None:
            shared.append(("ZREVRANGEBYSCORE", k.numbering, score, "-inf", "LIMIT", 0, 1))
        span = padded(number)
        if span is not None:
            shared.append(("ZREVRANGEBYSCORE", k.company_ranges, span, "-inf", "LIMIT", 0, COMPANY_NESTING))
        res = await self._round_trip(shared + self._caller_commands(number, now, window, crm, record_inbound),
                                     budget)
        busy, strategy = res[0], res[1]
        i = 2
        numbering = None
        if score is not None:
            found = res[i]
            numbering = _range_zone(found[0], score) if found else None
            i += 1
        company = _company(res[i], span) if span is not None else None
        i += span is not None
        customer, state, risk, inbound, cached = _caller_replies(res[i:], window, crm)
        return Snapshot(customer, state, inbound, numbering, frozenset(busy), company, strategy, risk=risk,
                        crm=cached)

    def _caller_commands(self, number: str, now: float, window: float, crm: bool,
                         record_inbound: str | None) -> list[tuple]:
        """The caller's own keys in the call's round trip, all in its hash slot: profile, state, risk,
        newest contacts, recent inbound calls, the cached CRM answer; then this call's history writes,
        after the reads. `_caller_replies` reads the answers."""
        k = self.k
        commands: list[tuple] = [("HGETALL", k.customer(number)), ("HGETALL", k.state(number)),
                                 ("HGETALL", k.risk(number)), ("ZRANGE", k.newest(number), 0, -1, "WITHSCORES")]
        if window > 0:
            commands.append(("ZRANGEBYSCORE", k.inbound(number), now - window, "+inf", "WITHSCORES"))
        if crm:
            commands.append(("GET", k.crm(number)))
        if record_inbound is not None:
            commands += self._inbound_writes(number, record_inbound, now)
        return commands

    async def _round_trip(self, commands: list[tuple], budget: float | None = None) -> list:
        """Commands written at once, replies read in order: pipelined with other calls' on the shared
        connections. Retried once on a dead connection, so only idempotent commands belong here.

        What redis-py's Pipeline does, without its per-command bookkeeping: on the hot path
        that bookkeeping cost more than the round trip itself (bench/README.md).
        """
        if self.shared is not None:
            replies = await self.shared.execute(commands, budget)
        else:
            async with asyncio.timeout(budget):
                replies = await self._pooled(commands)
        for r in replies:
            if isinstance(r, ResponseError):
                raise r
        return replies

    async def _pooled(self, commands: list[tuple]) -> list:
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

    # history written by the AMI listener and by tests

    async def record_outbound(self, number: str, at: float, answered: bool) -> None:
        await self.r.execute_command(*self._newest_write(number, f"out:{int(answered)}", at))

    async def number_state(self, number: str) -> dict[str, str]:
        """The number's state as a call's snapshot sees it: the hash with the newest contacts folded in."""
        p = self.r.pipeline(transaction=False)
        p.hgetall(self.k.state(number))
        p.execute_command("ZRANGE", self.k.newest(number), 0, -1, "WITHSCORES")
        state, newest = await p.execute()
        return _with_newest(_mapping(state), _score_map(newest))

    def _newest_write(self, number: str, kind: str, at: float) -> tuple:
        """The newest contact of a kind moves forward only: a late write of an older call changes nothing."""
        return ("ZADD", self.k.newest(number), "GT", at, kind)

    def _inbound_writes(self, number: str, call_id: str, at: float) -> list[tuple]:
        """An inbound call in the number's history: the last-contact time and the call-count set."""
        inbound_key = self.k.inbound(number)
        writes: list[tuple] = [self._newest_write(number, "in", at), ("ZADD", inbound_key, at, call_id)]
        if int(at) % TRIM_EVERY == 0:
            writes.append(("ZREMRANGEBYSCORE", inbound_key, "-inf", at - HISTORY_KEEP_SECONDS))
        return writes

    # call outcomes (from AMI)

    async def record_outcome(self, o: dict, also: Callable[[dict], list[tuple]] | None = None) -> bool:
        """Write one call outcome once, whichever router instance saw it first; False if already written.
        See `record_outcomes`."""
        return (await self.record_outcomes([o], also))[0]

    async def record_outcomes(self, outcomes: list[dict], also: Callable[[dict], list[tuple]] | None = None
                              ) -> list[bool]:
        """Write call outcomes, each once whichever router instance saw it first: for each, whether
        this call wrote it (False: written already).

        Two round trips for the whole batch, off the call path: the claims with what the report needs
        beside each outcome, then every write. The numbers must differ (a call's tally reads its
        number's state as the previous call of that number left it). Each `o` gains `type` (its
        decision's, as set by the rules or corrected since) and `open_task` (the number's open
        follow-up, or ""); `also(o)` adds commands of the same number's slot to the writes (the
        call as a customer event). On an error nothing is written and every claim is released."""
        if not outcomes:
            return []
        reads: list[tuple] = []
        claims = [self.k.outcome_claim(o["linkedid"], o["direction"], o["number"]) for o in outcomes]
        for o, claim in zip(outcomes, claims, strict=True):
            reads += [("SET", claim, 1, "NX", "EX", OUTCOME_KEEP_SECONDS),
                      ("GET", self.k.decision(o["decision"]) if o.get("decision") else self.k.decision("-")),
                      ("HMGET", self.k.state(o["number"]), "miss", "miss_cb", "followup")]
        replies = await self._pooled_replies(reads)
        mine = [bool(replies[3 * i]) or claim in self._unreleased for i, claim in enumerate(claims)]
        if not any(mine):
            return mine  # written already (a claim left by our own failed attempt is not: go on)
        try:
            writes: list[tuple] = []
            for i, o in enumerate(outcomes):
                if mine[i]:
                    writes += self._outcome_writes(o, replies[3 * i + 1], replies[3 * i + 2], also)
            await self._pooled_replies(writes)
        except BaseException:
            held = [c for c, m in zip(claims, mine, strict=True) if m]
            try:
                await self.r.delete(*held)  # let a retry (or another instance) write them
            except Exception:
                self._unreleased.update(held)  # the store is away: our retry must know the claims are its own
            raise
        for i, o in enumerate(outcomes):
            if mine[i]:
                self._unreleased.discard(claims[i])
                o["open_task"] = replies[3 * i + 2][2] or ""
        return mine

    def _outcome_writes(self, o: dict, raw: bytes | str | None, fields: list,
                        also: Callable[[dict], list[tuple]] | None) -> list[tuple]:
        number = o["number"]
        meta = orjson.loads(raw) if raw else {}
        o.setdefault("type", meta.get("type", ""))
        tally = tally_call(o, meta, {"miss": fields[0], "miss_cb": fields[1]}, self.calendar.zone)
        text = orjson.dumps(o)
        writes: list[tuple] = []
        if o.get("decision"):
            writes.append(("SET", self.k.outcome(o["decision"]), text, "EX", OUTCOME_KEEP_SECONDS))
        writes.append(("XADD", self.k.outcomes, "MAXLEN", "~", DECISION_LOG_MAXLEN, "*", "o", text,
                       "i", self.instance))
        if number.startswith("+"):
            started = o["ended_at"] - o["ring_seconds"] - o["talk_seconds"]
            answered = o["result"] == "answered"
            if o["direction"] == "outbound":
                writes.append(self._newest_write(number, f"out:{int(answered)}", started))
            else:
                writes.append(self._newest_write(number, f"in:{int(answered)}", started))
                if not o.get("decision"):  # routed calls were written at decision time
                    writes.append(self._newest_write(number, "in", started))
            if answered and o.get("by") and not o.get("ivr"):  # an IVR is nobody to route back to
                # read back by the snapshot's HGETALL of this hash: known-agent routing costs no extra read
                writes.append(("HSET", self.k.state(number), "agent", o["by"], "agent_at",
                               o["ended_at"] - o["talk_seconds"], "agent_state", o.get("by_state") or ""))
        writes += self._tally_writes(tally)
        if also is not None:
            writes += also(o)
        return writes

    def _tally_writes(self, t: Tally) -> list[tuple]:
        cal, calls = self.k.report_day(t.day), self.k.calls_day(t.day)
        writes: list[tuple] = [("HINCRBY", cal, name, n) for name, n in t.counters.items()]
        writes += [("EXPIRE", cal, self.calendar.keep_days), ("HSET", calls, t.key, orjson.dumps(t.record)),
                   ("EXPIRE", calls, self.calendar.keep_calls)]
        number = t.record["number"]
        if number.startswith("+"):
            if t.state:
                writes.append(("HSET", self.k.state(number), *(x for kv in t.state.items() for x in kv)))
            if t.clear:
                writes.append(("HDEL", self.k.state(number), *t.clear))
        return writes

    async def count(self, day: str, counters: dict[str, int]) -> None:
        """Add to one day's report counters (follow-ups opened and closed)."""
        p = self.r.pipeline(transaction=False)
        for name, n in counters.items():
            p.hincrby(self.k.report_day(day), name, n)
        p.expire(self.k.report_day(day), self.calendar.keep_days)
        await p.execute()

    async def set_call_type(self, decision_id: str, call_type: str, by: str, at: float) -> dict | None:
        """Set or correct a routed call's type: on its decision (an outcome still to come takes it) and, when the
        call is already counted, on its record and its day's counters. None if the call is unknown."""
        meta_key = self.k.decision(decision_id)
        raw = await self.r.get(meta_key)
        found: dict | None = None
        if raw:
            meta = orjson.loads(raw)
            meta |= {"type": call_type, "type_by": by}
            await self.r.set(meta_key, orjson.dumps(meta), keepttl=True)
            found = {"decision": decision_id, "type": call_type, "counted": False}
        for day in _days_around(decision_id, self.calendar):
            calls = self.k.calls_day(day)
            rec_raw = await self.r.hget(calls, decision_id)
            if not rec_raw:
                continue
            record = orjson.loads(rec_raw)
            changes = retype(record, call_type)
            record |= {"type": call_type, "type_by": by, "type_at": round(at, 3)}
            p = self.r.pipeline(transaction=True)
            p.hset(calls, decision_id, orjson.dumps(record))
            for name, n in changes.items():
                p.hincrby(self.k.report_day(day), name, n)
            outcome_raw = await self.r.get(self.k.outcome(decision_id))
            if outcome_raw:
                p.set(self.k.outcome(decision_id),
                      orjson.dumps(orjson.loads(outcome_raw) | {"type": call_type}), keepttl=True)
            await p.execute()
            return {"decision": decision_id, "type": call_type, "counted": True, "day": day}
        return found

    async def report_counters(self, days: list[str]) -> list[dict[str, str]]:
        p = self.r.pipeline(transaction=False)
        for d in days:
            p.hgetall(self.k.report_day(d))
        return [_mapping(x) for x in await p.execute()]

    async def calls_of(self, day: str) -> list[dict]:
        """The day's raw call records, oldest first."""
        found = _mapping(await self.r.hgetall(self.k.calls_day(day)))
        return sorted((orjson.loads(v) for v in found.values()), key=lambda r: r["at"])

    async def outcomes_for(self, decision_ids: list[str]) -> dict[str, dict]:
        if not decision_ids:
            return {}
        found = await self._round_trip([("GET", self.k.outcome(d)) for d in decision_ids])  # any slot each
        return {d: orjson.loads(v) for d, v in zip(decision_ids, found, strict=True) if v}

    # device states

    async def set_device_state(self, device: str, state: str) -> None:
        busy = state.upper() in BUSY_STATES
        p = self.r.pipeline(transaction=False)
        p.hset(self.k.devstate, device, state)
        if busy:
            p.sadd(self.k.busy, device)
        else:
            p.srem(self.k.busy, device)
        self._share(p, {"type": "device", "device": device, "busy": busy})
        await p.execute()

    async def busy(self) -> frozenset[str]:
        return frozenset(await self.r.smembers(self.k.busy))

    # live events every instance sees

    def _share(self, p, event: dict) -> None:
        p.xadd(self.k.live, {"e": orjson.dumps(event), "i": self.instance}, maxlen=EVENTS_MAXLEN,
               approximate=True)

    async def share(self, events: list[dict]) -> None:
        """Events for the other instances' live pages, in one round trip."""
        p = self.r.pipeline(transaction=False)
        for e in events:
            self._share(p, e)
        await p.execute()

    async def numbering_ranges(self, batch: int = 10_000):
        """The whole range table, in batches, for a router that keeps it in memory."""
        start = 0
        while True:
            rows = await self.r.zrange(self.k.numbering, start, start + batch - 1)
            if not rows:
                return
            yield rows
            start += batch

    # customer directory

    async def put_customers(self, records: Iterable[tuple[str, dict[str, str]]]) -> int:
        """Replace each customer's record (re-import is idempotent: no stale tags survive)."""
        p = self.r.pipeline(transaction=False)
        n = 0
        for number, fields in records:
            key = self.k.customer(number)
            p.delete(key)
            p.hset(key, mapping=fields)
            n += 1
        await p.execute()
        return n

    async def customer(self, number: str) -> dict[str, str]:
        return await self.r.hgetall(self.k.customer(number))

    async def number_record(self, number: str, calls: int = 20) -> dict:
        """All the router keeps about a number: directory record, last calls, open task, newest inbound calls."""
        p = self.r.pipeline(transaction=False)
        p.hgetall(self.k.customer(number))
        p.hgetall(self.k.state(number))
        p.zrevrange(self.k.inbound(number), 0, calls - 1, withscores=True)
        p.zcard(self.k.inbound(number))
        p.execute_command("ZRANGE", self.k.newest(number), 0, -1, "WITHSCORES")
        customer, state, inbound, total, newest = await p.execute()
        state = _with_newest(_mapping(state), _score_map(newest))
        return {"customer": customer, "state": state, "inbound": [(str(m), float(t)) for m, t in inbound],
                "inbound_total": total}

    # company directory

    async def put_company(self, company_id: str, fields: dict[str, str], spans: list[tuple[int, int]]) -> None:
        """Replace one company and its number ranges at once (a re-import leaves no stale range)."""
        key = self.k.company(company_id)
        old = await self.r.hget(key, "members")
        data = orjson.dumps({f: v for f, v in fields.items() if f != "numbers"}).decode()
        members = {f"{lo}|{hi}|{company_id}|{data}": lo for lo, hi in spans}
        p = self.r.pipeline(transaction=True)
        if old:
            p.zrem(self.k.company_ranges, *orjson.loads(old))
        p.zadd(self.k.company_ranges, members)
        p.delete(key)
        p.hset(key, mapping={**fields, "members": orjson.dumps(list(members)).decode()})
        p.sadd(self.k.companies, company_id)
        await p.execute()
        await self.share([{"type": "companies"}])  # routers that keep the ranges in memory read them again

    async def delete_company(self, company_id: str) -> bool:
        key = self.k.company(company_id)
        old = await self.r.hget(key, "members")
        if old is None:
            return False
        p = self.r.pipeline(transaction=True)
        p.zrem(self.k.company_ranges, *orjson.loads(old))
        p.delete(key)
        p.srem(self.k.companies, company_id)
        await p.execute()
        await self.share([{"type": "companies"}])
        return True

    async def companies(self) -> list[dict[str, str]]:
        ids = sorted(await self.r.smembers(self.k.companies))
        p = self.r.pipeline(transaction=False)
        for cid in ids:
            p.hgetall(self.k.company(cid))
        out = []
        for cid, fields in zip(ids, await p.execute(), strict=True):
            if fields:
                fields.pop("members", None)
                out.append({"company": cid, **fields})
        return out

    async def put_crm(self, number: str, answer: bytes, ttl: int) -> None:
        await self.r.set(self.k.crm(number), answer, ex=ttl)

    # strategy

    async def set_strategy(self, strategy: str, by: str, at: float) -> str | None:
        """Switch the strategy for every router sharing this store; returns the one it replaced."""
        p = self.r.pipeline(transaction=True)
        p.hget(self.k.strategy, "strategy")
        p.hset(self.k.strategy, mapping={"strategy": strategy, "by": by, "at": at})
        previous, _ = await p.execute()
        await self.share([{"type": "strategy", "strategy": strategy}])
        return previous

    async def strategy(self) -> dict[str, str]:
        return await self.r.hgetall(self.k.strategy)

    # numbering plan

    async def replace_numbering(self, ranges: Iterable[tuple[int, int, str, str]], batch: int = 5000) -> int:
        """Load ranges into a scratch key, then swap it in: lookups never see a half-loaded table."""
        scratch = self.k.numbering_loading
        await self.r.delete(scratch)
        n = 0
        chunk: dict[str, int] = {}
        for start, end, zone, region in ranges:
            chunk[f"{start}|{end}|{zone}|{region}"] = start
            n += 1
            if len(chunk) >= batch:
                await self.r.zadd(scratch, chunk)
                chunk = {}
        if chunk:
            await self.r.zadd(scratch, chunk)
        if n:
            await self.r.rename(scratch, self.k.numbering)
            await self.share([{"type": "numbering", "ranges": n}])  # routers that keep it in memory read it again
        return n

    # decision log

    async def append_decisions(self, entries: list[dict],
                               history: list[tuple[str, str, float]] = ()) -> None:
        """Decisions into the log, and (number, call id, time) of calls whose history the router
        could not write at decision time, all in one round trip."""
        key = self.k.decisions
        commands: list[tuple] = []
        for number, call_id, at in history:
            commands += self._inbound_writes(number, call_id, at)
        for e in entries:
            # `i`: the instance, so that every router's feed skips its own decisions without decoding them
            commands.append(("XADD", key, "MAXLEN", "~", DECISION_LOG_MAXLEN, "*", "d", orjson.dumps(e),
                             "i", self.instance))
            caller = e.get("caller") or {}
            meta = {"rule": e["rule"], "step": e["steps"][0]["name"] if e["steps"] else "",
                    "kind": caller.get("kind", ""), "abc": caller.get("abc", ""), "type": e.get("type", ""),
                    "at": e["at"], "manager": caller.get("manager", ""), "prospect": e.get("prospect", False),
                    "dnid": (e.get("call") or {}).get("dnid", ""),
                    "queue": next((s["dest"] for s in e["steps"] if s["type"] == "queue"), "")}
            # NX: a type set by hand before the log caught up is not overwritten
            commands.append(("SET", self.k.decision(e["id"]), orjson.dumps(meta), "NX", "EX",
                             DECISION_META_SECONDS))
            number = caller.get("number", "")
            if e.get("prospect") and number.startswith("+"):
                # a new caller becomes a prospect unless a conversation was already answered (prospect=0)
                commands.append(("HSETNX" if caller.get("kind") == "new" else "HSET", self.k.state(number),
                                 "prospect", 1))
        await self._pooled_checked(commands)

    async def _pooled_checked(self, commands: list[tuple]) -> None:
        await self._pooled_replies(commands)

    async def _pooled_replies(self, commands: list[tuple]) -> list:
        """Batches off the call path go on a pooled connection: calls never queue behind them."""
        replies = await self._pooled(commands)
        for r in replies:
            if isinstance(r, ResponseError):
                raise r
        return replies

    async def decision_meta(self, decision_id: str) -> dict:
        raw = await self.r.get(self.k.decision(decision_id)) if decision_id else None
        return orjson.loads(raw) if raw else {}

    # follow-up tasks

    async def open_task(self, number: str, task: dict, comment: dict) -> tuple[str, bool]:
        """The number's open task: created from `task` if it has none (atomically, across routers), else
        the existing one with its count raised. Returns (task id, created)."""
        if await self.r.hsetnx(self.k.state(number), "followup", task["id"]):
            p = self.r.pipeline(transaction=False)
            p.hset(self.k.state(number), "task_owner", task["owner"])
            self._task_writes(p, task, comment)
            await p.execute()
            return task["id"], True
        existing = await self.r.hget(self.k.state(number), "followup")
        if not existing:  # closed between the two commands: open afresh
            return await self.open_task(number, task, comment)
        if not await self.r.exists(self.k.task(existing)):
            # claimed by an attempt whose writes failed (the store went away): write the task under that id
            p = self.r.pipeline(transaction=False)
            p.hset(self.k.state(number), "task_owner", task["owner"])
            self._task_writes(p, {**task, "id": existing}, comment)
            await p.execute()
            return existing, True
        p = self.r.pipeline(transaction=False)
        p.hincrby(self.k.task(existing), "count", 1)
        p.rpush(self.k.task_log(existing), orjson.dumps(comment))
        await p.execute()
        return existing, False

    def _task_writes(self, p, task: dict, comment: dict) -> None:
        p.hset(self.k.task(task["id"]), mapping=task)
        p.zadd(self.k.tasks_open, {task["id"]: task["deadline"]})
        p.rpush(self.k.task_log(task["id"]), orjson.dumps(comment))

    async def open_retention_task(self, number: str, task: dict, comment: dict) -> str | None:
        """The number's retention task, created once (across routers) while it has none; None if it has one."""
        if not await self.r.hsetnx(self.k.risk(number), "task", task["id"]):
            return None
        p = self.r.pipeline(transaction=False)
        p.hset(self.k.risk(number), "task_owner", task["owner"])  # read by the call's round trip: `task_owner`
        self._task_writes(p, task, comment)
        await p.execute()
        return task["id"]

    async def close_task(self, task_id: str, at: float, reason: str) -> bool:
        """Close an open task once; False if it was not open (another router or user closed it)."""
        number = await self.r.hget(self.k.task(task_id), "number")
        if not number or not await self.r.hsetnx(self.k.task(task_id), "closed_at", at):
            return False  # unknown, or closed already: the first closer wins
        if await self.r.hget(self.k.state(number), "followup") == task_id:
            await self.r.hdel(self.k.state(number), "followup", "task_owner")
        if await self.r.hget(self.k.risk(number), "task") == task_id:
            await self.r.hdel(self.k.risk(number), "task", "task_owner")
        p = self.r.pipeline(transaction=True)
        p.hset(self.k.task(task_id), mapping={"state": "closed", "closed_reason": reason})
        p.zrem(self.k.tasks_open, task_id)
        p.zadd(self.k.tasks_closed, {task_id: at})
        p.rpush(self.k.task_log(task_id), orjson.dumps({"at": at, "text": reason}))
        await p.execute()
        return True

    async def comment(self, task_id: str, at: float, text: str) -> None:
        await self.r.rpush(self.k.task_log(task_id), orjson.dumps({"at": at, "text": text}))

    async def take_task(self, task_id: str, owner: str, at: float) -> bool:
        """A person takes an open task: it becomes theirs. False if it is not open."""
        if await self.r.hget(self.k.task(task_id), "state") != "open":
            return False
        p = self.r.pipeline(transaction=False)
        p.hset(self.k.task(task_id), mapping={"owner": owner, "taken_at": at})
        p.rpush(self.k.task_log(task_id), orjson.dumps({"at": at, "text": f"taken by {owner}"}))
        await p.execute()
        await self._owner_changed(task_id, owner)
        return True

    async def _owner_changed(self, task_id: str, owner: str) -> None:
        """The number's open follow-up or retention task has a new owner: calls ring them (`task_owner`)."""
        number = await self.r.hget(self.k.task(task_id), "number")
        if not number:
            return
        followup, retention = await self.r.hget(self.k.state(number), "followup"), \
            await self.r.hget(self.k.risk(number), "task")
        if followup == task_id:
            await self.r.hset(self.k.state(number), "task_owner", owner)
        if retention == task_id:
            await self.r.hset(self.k.risk(number), "task_owner", owner)

    async def claim_level(self, task_id: str, level: int, owner: str, at: float, why: str) -> str | None:
        """Move an open task from level-1 to `level` and to `owner`, once, whichever router tries first
        (a transaction watching the task's one key); the previous owner, or None if not ours to move."""
        key = self.k.task(task_id)
        async with self.r.pipeline(transaction=True) as p:
            try:
                await p.watch(key)
                state, current, previous = await p.hmget(key, ["state", "level", "owner"])
                if state != "open" or int(current or 0) != level - 1:
                    return None
                p.multi()
                p.hset(key, mapping={"level": level, "owner": owner, "escalated_at": at,
                                     "previous_owner": previous or "", "escalated_why": why})
                await p.execute()
            except WatchError:
                return None  # another router moved it (or it was closed) meanwhile
        await self._owner_changed(task_id, owner)
        return previous or ""

    async def overdue_tasks(self, now: float, limit: int = 5000) -> list[dict]:
        """Open tasks whose deadline has passed (the open set is scored by deadline)."""
        ids = await self.r.zrangebyscore(self.k.tasks_open, "-inf", now, start=0, num=limit)
        p = self.r.pipeline(transaction=False)
        for i in ids:
            p.hgetall(self.k.task(i))
        return [t for t in await p.execute() if t]

    # customer events and risk

    async def add_events(self, number: str, events: list[tuple[str, float, str]], keep_since: float,
                         now: float) -> int:
        """(id, time, packed) events into the number's history, each id once (whoever adds an id first
        writes the event), events older than `keep_since` trimmed; how many were new."""
        ids_key = self.k.event_ids(number)
        p = self.r.pipeline(transaction=False)
        for event_id, at, _ in events:
            p.zadd(ids_key, {event_id: at}, nx=True)
        fresh = [e for e, added in zip(events, await p.execute(), strict=True) if added]
        await self._pooled_checked(self._event_writes(number, fresh, keep_since, now))
        return len(fresh)

    def call_event_writes(self, number: str, event_id: str, at: float, packed: str, keep_since: float,
                          now: float) -> list[tuple]:
        """One event taken without asking whether it is new (its caller knows it is): `add_events`'s writes."""
        return [("ZADD", self.k.event_ids(number), "NX", at, event_id),
                *self._event_writes(number, [(event_id, at, packed)], keep_since, now)]

    def _event_writes(self, number: str, fresh: list[tuple[str, float, str]], keep_since: float,
                      now: float) -> list[tuple]:
        """New (id, time, packed) events into the number's history, and what has aged out trimmed."""
        ids_key, events_key = self.k.event_ids(number), self.k.events(number)
        writes: list[tuple] = []
        if fresh:
            writes.append(("ZADD", events_key, *(x for _, at, packed in fresh for x in (at, packed))))
        writes += [("ZREMRANGEBYSCORE", events_key, "-inf", f"({keep_since}"),
                   ("ZREMRANGEBYSCORE", ids_key, "-inf", f"({keep_since}")]
        if fresh:  # a number with no new events for the whole retention leaves nothing behind
            ttl = int(now - keep_since) + 1
            writes += [("EXPIRE", events_key, ttl), ("EXPIRE", ids_key, ttl)]
        return writes

    async def update_risk(self, number: str, since: float, compute) -> tuple[dict, dict]:
        """Recompute the number's risk from its events and open follow-up, atomically against other writers.

        `compute(events, stored, followup_calls)` returns the fields to store ({} removes the state);
        returns (stored before, stored now).
        """
        k = self.k
        async with self.r.pipeline(transaction=True) as p:
            while True:
                # the open follow-up's task hash lives in another slot: read before watching the number's keys
                task_id = await self.r.hget(k.state(number), "followup")
                calls = int(await self.r.hget(k.task(task_id), "count") or 1) if task_id else 0
                try:
                    await p.watch(k.events(number), k.state(number), k.risk(number))
                    if await p.hget(k.state(number), "followup") != task_id:
                        await p.reset()
                        continue
                    events = await p.zrangebyscore(k.events(number), since, "+inf")
                    old = await p.hgetall(k.risk(number))
                    new = compute(events, old, calls)
                    p.multi()
                    p.delete(k.risk(number))
                    if new:
                        p.hset(k.risk(number), mapping=new)
                    await p.execute()
                    return old, new
                except WatchError:
                    continue

    async def set_risk_listing(self, number: str, since: float | None, due: float | None) -> None:
        """The number in (or out of) the at-risk list, and when its state must be computed again."""
        p = self.r.pipeline(transaction=False)
        if since is None:
            p.zrem(self.k.risk_list, number)
        else:
            p.zadd(self.k.risk_list, {number: since})
        if due is None:
            p.zrem(self.k.risk_due, number)
        else:
            p.zadd(self.k.risk_due, {number: due})
        await p.execute()

    async def risk_due(self, now: float, limit: int = 1000) -> list[str]:
        return await self.r.zrangebyscore(self.k.risk_due, "-inf", now, start=0, num=limit)

    async def risk_listed(self, since: float = float("-inf"), until: float = float("inf"),
                          limit: int = 10_000) -> list[tuple[str, dict[str, str], dict[str, str]]]:
        """(number, risk state, customer record) of the at-risk numbers that entered the list in [since, until]."""
        numbers = await self.r.zrangebyscore(self.k.risk_list, since, until, start=0, num=limit)
        p = self.r.pipeline(transaction=False)
        for n in numbers:
            p.hgetall(self.k.risk(n))
            p.hgetall(self.k.customer(n))
        got = await p.execute()
        return [(n, got[2 * i], got[2 * i + 1]) for i, n in enumerate(numbers)]

    async def open_task_of(self, number: str) -> str | None:
        return await self.r.hget(self.k.state(number), "followup")

    async def task(self, task_id: str) -> dict:
        p = self.r.pipeline(transaction=False)
        p.hgetall(self.k.task(task_id))
        p.lrange(self.k.task_log(task_id), 0, -1)
        task, log = await p.execute()
        if task:
            task["log"] = [orjson.loads(x) for x in log]
        return task

    async def tasks(self, state: str, limit: int = 500) -> list[dict]:
        key = self.k.tasks_open if state == "open" else self.k.tasks_closed
        ids = await self.r.zrange(key, 0, limit - 1) if state == "open" else \
            await self.r.zrevrange(key, 0, limit - 1)
        p = self.r.pipeline(transaction=False)
        for i in ids:
            p.hgetall(self.k.task(i))
        return [t for t in await p.execute() if t]

    async def claim_sms(self, number: str, seconds: int) -> bool:
        """At most one SMS per number per `seconds`, whichever router asks first."""
        return bool(await self.r.set(self.k.sms_sent(number), 1, nx=True, ex=seconds))

    async def recent_decisions(self, limit: int) -> list[dict]:
        """Newest first. A batch retried after Redis died between applying it and answering is in the
        stream twice: the second copy is skipped."""
        rows = await self.r.xrevrange(self.k.decisions, count=limit)
        seen: set[str] = set()
        out = []
        for _, fields in rows:
            e = orjson.loads(fields["d"])
            if e["id"] not in seen:
                seen.add(e["id"])
                out.append(e)
        return out


def _caller_replies(res: list, window: float, crm: bool) -> tuple[dict, dict, dict, list[float], dict | None]:
    """Store._caller_commands' answers: customer, state (newest contacts folded in), risk, recent
    inbound call times, cached CRM answer."""
    state = _with_newest(_mapping(res[1]), _score_map(res[3]))
    inbound = _scores(res[4]) if window > 0 else []
    cached = _crm(res[4 + (window > 0)]) if crm else None
    return _mapping(res[0]), state, _mapping(res[2]), inbound, cached


def _days_around(decision_id: str, cal: Calendar) -> list[str]:
    """The company day a decision id was made on (its first 11 hex digits are its time in ms), then the next:
    a call that began just before midnight is counted on the day its decision was made."""
    try:
        at = int(decision_id[:11], 16) / 1000
    except ValueError:
        return []
    return [day_of(at, cal.zone), day_of(at + 86400, cal.zone)]


def _mapping(reply: dict | list) -> dict[str, str]:
    """HGETALL: a dict under RESP3, a flat key/value list under RESP2."""
    if isinstance(reply, dict):
        return reply
    it = iter(reply)
    return dict(zip(it, it, strict=False))


def _score_map(reply: list) -> dict[str, float]:
    """ZRANGE … WITHSCORES as {member: score}, under RESP2 or RESP3."""
    if reply and isinstance(reply[0], list):
        return {m: float(sc) for m, sc in reply}
    return {m: float(sc) for m, sc in zip(reply[::2], reply[1::2], strict=True)}


def _with_newest(state: dict[str, str], newest: dict[str, float]) -> dict[str, str]:
    """The state hash with `in`, `out`, `in_ok`, `out_ok` from the newest-contact set (the hash's own
    fields, written before that set existed, count when they are newer)."""
    if not newest:
        return state
    state = dict(state)
    for direction in ("in", "out"):
        ok, missed = newest.get(f"{direction}:1"), newest.get(f"{direction}:0")
        times = [t for t in (newest.get(direction), ok, missed) if t is not None]
        old = float(state.get(direction) or 0)
        if times and max(times) > old:
            state[direction] = str(max(times))
            if ok is not None or missed is not None:
                state[f"{direction}_ok"] = "1" if (ok or 0) >= (missed or 0) else "0"
    return state


def _scores(reply: list) -> list[float]:
    """ZRANGEBYSCORE … WITHSCORES: [[member, score], …] under RESP3, [member, score, …] under RESP2."""
    if reply and isinstance(reply[0], list):
        return [float(s) for _, s in reply]
    return [float(s) for s in reply[1::2]]


def _crm(reply: str | bytes | None) -> dict | None:
    if not reply:
        return None
    try:
        found = orjson.loads(reply)
    except orjson.JSONDecodeError:
        return None  # unreadable: ask the CRM again
    return found if isinstance(found, dict) else None


def _company(reply: list, span: int) -> dict[str, str] | None:
    """The most specific company range holding the number (ranges may nest: a branch inside a head office)."""
    for member in reply:
        lo, hi, cid, data = member.split("|", 3)
        if int(lo) <= span <= int(hi):
            return {"id": cid, **orjson.loads(data)}
    return None


def _range_zone(member: str, score: int) -> str | None:
    start, end, zone = parse_range(member)
    return zone if start <= score <= end else None


def parse_range(member: str) -> tuple[int, int, str]:
    start, end, zone, _region = member.split("|", 3)
    return int(start), int(end), zone
