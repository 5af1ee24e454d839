"""Every Redis key the router reads or writes, and how long each lives.

Keys that belong to a number carry a hash tag (`cr:{+79201234567}:…`) so that Redis Cluster
keeps one caller's keys in one slot: the call's round trip goes to one node. The global keys are
grouped under a few tags, each one slot, so that no command or transaction crosses slots:
`{devices}` (device states), `{numbering}` (the range table and its loading copy), `{log}` (the
decision, outcome and live-event streams, read together by every instance's feed), `{tasks}`
(the follow-up worklist and its tasks, closed in one transaction), `{rollout}` (a staged rollout
and its versions of the rules, written in one transaction), `{risk}`, `{companies}` and `{people}`
(staff accounts, their tokens, failed logins, notices waiting for a digest).
"""

from __future__ import annotations

from dataclasses import dataclass

OUTCOME_KEEP_SECONDS = 30 * 86400
"""A call's outcome and its once-only claim (several routers see the same AMI events)."""
DECISION_META_SECONDS = 2 * 86400
"""What follow-ups and the report need of a decision, until its call has surely ended."""
DECISION_LOG_MAXLEN = 100_000
"""Entries kept in the decision and outcome streams (trimmed approximately, `MAXLEN ~`): what the live
pages and /api/decisions read. Replay reads the day logs (`Keys.decisions_day`), kept `report.keep_calls`."""
EVENTS_MAXLEN = 10_000
"""Entries kept in the live-event stream every instance reads."""
TRIM_EVERY = 16
"""A number's inbound calls older than `Retention.numbers` are trimmed on one call in this many."""
JOURNAL_KEEP_SECONDS = 86400
"""A journal whose router never came back is dropped after a day (its calls have long ended)."""
COMPANY_NESTING = 8
"""Company ranges read per lookup: enough for a branch range nested in its company's wider ones."""
NUMBER_KEEP_SECONDS = 400 * 86400
"""Default lifetime of a number's history and state after its last write (rule file: retention.numbers)."""
CRM_CALL_KEEP_SECONDS = 2 * 86400
"""The CRM's ids of a call: its register, ring cards and finish happen within the call's life."""
TASK_KEEP_SECONDS = 400 * 86400
"""Default lifetime of a closed task and its log (rule file: retention.tasks)."""
BUSY_STATES = frozenset({"INUSE", "BUSY", "RINGINUSE", "ONHOLD", "UNAVAILABLE", "INVALID"})
"""Device states in which a new call cannot be put through (AMI DeviceStateChange `State`)."""


@dataclass(frozen=True, slots=True)
class Retention:
    """How long keys that nothing else bounds live; the router sets it from the rule file's `retention:`."""

    numbers: int = NUMBER_KEEP_SECONDS
    tasks: int = TASK_KEEP_SECONDS


class Keys:
    """Key names. `prefix` lets several deployments (or tests) share one Redis."""

    __slots__ = ("busy", "callbacks_active", "companies", "company_ranges", "crm_problems", "decisions", "devstate",
                 "live", "notices_waiting", "numbering", "numbering_loading", "outbox_all", "outbox_blocked",
                 "outbox_dead", "outbox_due", "outcomes", "paused", "prefix", "risk_due", "risk_list", "risk_rank",
                 "rollout", "strategy", "tasks_closed", "tasks_open", "user_tokens", "users")

    def __init__(self, prefix: str = "cr"):
        self.prefix = prefix
        self.busy = f"{prefix}:{{devices}}:busy"
        self.devstate = f"{prefix}:{{devices}}:state"
        self.paused = f"{prefix}:{{devices}}:paused"
        """Set: `DEVICE|QUEUE` for each queue member paused in a queue (QueueMemberPause, QueueStatus)."""
        self.numbering = f"{prefix}:{{numbering}}"
        self.numbering_loading = f"{prefix}:{{numbering}}:loading"
        self.decisions = f"{prefix}:{{log}}:decisions"
        self.outcomes = f"{prefix}:{{log}}:outcomes"
        self.live = f"{prefix}:{{log}}:live"
        """Live events every instance shares: follow-up changes, device states, a reloaded numbering plan."""
        self.tasks_open = f"{prefix}:{{tasks}}:open"
        self.tasks_closed = f"{prefix}:{{tasks}}:closed"
        self.callbacks_active = f"{prefix}:{{tasks}}:dialling"
        """Sorted set: numbers a callback is dialling now, scored by when their lock expires (ms): what
        `callbacks.max_at_once` counts across routers."""
        self.strategy = f"{prefix}:strategy"
        self.rollout = f"{prefix}:{{rollout}}"
        """Hash: the staged rollout every router follows (router/state/rollout.py lists its fields)."""
        """Hash: `strategy` switched at runtime, `by` whom, `at` when; the day/night `switch`, `switch_by`,
        `switch_at` (both read by every call's round trip)."""
        self.risk_list = f"{prefix}:{{risk}}:list"
        """Sorted set: numbers at risk now, scored by when they entered the list."""
        self.risk_rank = f"{prefix}:{{risk}}:rank"
        """Sorted set: the same numbers in the list's order — highest score first, then who entered first —
        scored by `risk_rank(score, since)`, so that a page of the list is one range read."""
        self.risk_due = f"{prefix}:{{risk}}:due"
        """Sorted set: numbers whose stored risk changes by itself (a signal's events age out), by when."""
        self.outbox_due = f"{prefix}:{{outbox}}:due"
        """Sorted set: message groups (see `outbox_queue`) by when their first message is next tried."""
        self.outbox_all = f"{prefix}:{{outbox}}:all"
        """Sorted set: every queued message id by when it was queued (depth, and the oldest's age)."""
        self.outbox_dead = f"{prefix}:{{outbox}}:dead"
        """List: messages given up on (newest first, bounded), as JSON, for the admin to read."""
        self.outbox_blocked = f"{prefix}:{{outbox}}:blocked"
        """Hash: channel -> why it is refusing every message (a wrong key or URL) and what to do."""
        self.crm_problems = f"{prefix}:{{crm}}:problems"
        """Hash: what stops the CRM connector (an unmapped or deleted user), as JSON with what to do, for /healthz."""
        self.users = f"{prefix}:{{people}}:users"
        """Hash: account name -> its JSON record with the password hash (router/state/users.py)."""
        self.user_tokens = f"{prefix}:{{people}}:tokens"
        """Hash: SHA-256 of an API token -> the account it belongs to."""
        self.notices_waiting = f"{prefix}:{{people}}:notices-waiting"
        """Sorted set: people with notices waiting, scored by when their digest may go."""
        self.companies = f"{prefix}:{{companies}}"
        self.company_ranges = f"{prefix}:{{companies}}:ranges"
        """Sorted set: `low|high|id|{fields}` scored by `low` (numbers padded, see phones.padded)."""

    def login_failures(self, who: str) -> str:
        """Hash `n`, `last`: failed logins in a row from `ip:ADDRESS` or for `user:NAME`; expires by itself."""
        return f"{self.prefix}:{{people}}:fail:{who}"

    @property
    def wallboard_tokens(self) -> str:
        """Hash: SHA-256 of a wallboard token -> the screen's name (router/state/users.py)."""
        return f"{self.prefix}:{{people}}:wallboard-tokens"

    def notices(self, name: str) -> str:
        """List: a person's notices waiting for their digest (JSON), oldest first."""
        return f"{self.prefix}:{{people}}:notices:{name}"

    def notices_sent(self, name: str) -> str:
        """When a person was last sent a notice: the digest waits `people.notices.every` after it."""
        return f"{self.prefix}:{{people}}:notices-sent:{name}"

    def notice_mark(self, mark: str) -> str:
        """A notice that goes once (a task's overdue notice for one deadline), whichever router sees it first."""
        return f"{self.prefix}:{{people}}:notice-once:{mark}"

    def company(self, company_id: str) -> str:
        return f"{self.prefix}:{{companies}}:company:{company_id}"

    def task(self, task_id: str) -> str:
        return f"{self.prefix}:{{tasks}}:task:{task_id}"

    def callback_lock(self, number: str) -> str:
        """String: the callback dialling this number now (its token), set NX with an expiry, so that one customer
        is never dialled by two agents at once across routers; in `{tasks}` to be claimed with the task."""
        return f"{self.prefix}:{{tasks}}:dialling:{number}"

    def callback_agent(self, device: str) -> str:
        """String: the callback ringing this agent's phone now: one agent is never rung for two at once."""
        return f"{self.prefix}:{{tasks}}:ringing:{device}"

    def callbacks_minute(self, minute: int) -> str:
        """Callbacks started in one minute (epoch minutes) by every router, for `callbacks.per_minute`."""
        return f"{self.prefix}:{{tasks}}:originates:{minute}"

    def held_place(self, number: str) -> str:
        """Hash: a caller's place kept in a queue after they pressed 1 (queue, joined, asked, task)."""
        return f"{self.prefix}:{{tasks}}:held:{number}"

    def held_places(self, queue: str) -> str:
        """Sorted set: numbers holding a place in a queue, scored by when they first joined it."""
        return f"{self.prefix}:{{tasks}}:held-queue:{queue}"

    def task_log(self, task_id: str) -> str:
        return f"{self.prefix}:{{tasks}}:task:{task_id}:log"

    def journal(self, instance: str) -> str:
        """Hash: what one router's AMI listener was following — `c:LINKEDID` a call under way, `o:KEY` an
        outcome not yet written — so that a router killed mid-call finds it again when it restarts."""
        return f"{self.prefix}:{{journal}}:{instance}"

    def outbox_message(self, message_id: str) -> str:
        """Hash: one queued message (router/outbox/message.py lists its fields)."""
        return f"{self.prefix}:{{outbox}}:msg:{message_id}"

    def outbox_queue(self, group: str) -> str:
        """List: the ids of one group's queued messages, sent in this order (a task's messages to one target)."""
        return f"{self.prefix}:{{outbox}}:q:{group}"

    def outbox_lease(self, group: str) -> str:
        """The router sending a group's first message now: no other router sends that group meanwhile."""
        return f"{self.prefix}:{{outbox}}:lease:{group}"

    def outbox_once(self, key: str) -> str:
        """A message that must not be sent twice within a window (one SMS per number per 10 min): the
        queued message's id while it waits, then a marker that lives as long as the window."""
        return f"{self.prefix}:{{outbox}}:once:{key}"

    def crm_call(self, call: str) -> str:
        """Hash: what the CRM answered about one call (`call_id`, `entity_type`, `entity_id`, `user_id`,
        `finished`), by the call's decision id (else its linkedid); kept `CRM_CALL_KEEP_SECONDS`."""
        return f"{self.prefix}:{{crm}}:call:{call}"

    def crm_task(self, task_id: str) -> str:
        """Hash: the CRM's id of a router task (`id`) and what it was bound to (`entity`); kept as the task is."""
        return f"{self.prefix}:{{crm}}:task:{task_id}"

    def crm_tried(self, message_id: str) -> str:
        """A CRM request that creates something was sent (its answer may have been lost): look before resending."""
        return f"{self.prefix}:{{crm}}:tried:{message_id}"

    def crm_rate(self, name: str, second: int) -> str:
        """Requests to one CRM in one second, counted by every router (the CRM's request rate is per portal)."""
        return f"{self.prefix}:{{crm}}:rate:{name}:{second}"

    def crm_entity(self, number: str) -> str:
        """The CRM entity the number's last registered call was bound to (`CONTACT:12`), for tasks with no call."""
        return f"{self.prefix}:{{{number}}}:crm_entity"

    def decision(self, decision_id: str) -> str:
        """What follow-ups need of a decision (rule, first step, kind, class), kept for two days."""
        return f"{self.prefix}:decision:{decision_id}"

    def rules_version(self, version: str) -> str:
        """One version of the rules a rollout names: its files, as a JSON list of [name, text]."""
        return f"{self.prefix}:{{rollout}}:rules:{version}"

    def decisions_day(self, day: str) -> str:
        """Stream: one company day's decisions as replay reads them (router/core/replayrecord.py), each under
        `d`; lives `report.keep_calls` after its last write."""
        return f"{self.prefix}:decisions:{day}"

    def rule_hits(self, day: str) -> str:
        """Hash: rule name -> calls it decided on one company day (`fallback` included); kept `report.keep_days`."""
        return f"{self.prefix}:rulehits:{day}"

    def outcome(self, decision_id: str) -> str:
        return f"{self.prefix}:outcome:{decision_id}"

    def outcome_claim(self, linkedid: str, direction: str, number: str) -> str:
        return f"{self.prefix}:seen:{linkedid}:{direction}:{number}"

    def agent_claim(self, agent: str, what: str, at: float) -> str:
        """A member's state that ended (or a mark) at `at`, claimed by the router that writes it: several routers
        following one Asterisk count it once. Kept OUTCOME_KEEP_SECONDS."""
        return f"{self.prefix}:seen:agent:{agent}:{what}:{at:.3f}"

    def report_day(self, day: str) -> str:
        """Hash of counters for one company day (router/reports/tally.py lists the fields); kept `keep_days`."""
        return f"{self.prefix}:report:{day}"

    @property
    def agents_now(self) -> str:
        """Hash: queue member interface -> its state now (JSON: state, since, queues, reason), for the report
        and the wallboard; written as AMI tells."""
        return f"{self.prefix}:agents:now"

    def agent_log_day(self, day: str) -> str:
        """List: the queue members' states and marks of one company day, as the agents' CSV gives them (JSON
        rows, router/reports/agenttally.py `log_rows`); kept `keep_calls`."""
        return f"{self.prefix}:agentlog:{day}"

    def recalls_day(self, day: str) -> str:
        """Hash: call key -> seconds until the number's next call, for the calls of one company day that had
        one (first-contact resolution, the CSV's `recalled_after_seconds`); kept `keep_calls`."""
        return f"{self.prefix}:recalls:{day}"

    def calls_day(self, day: str) -> str:
        """Hash: call key (decision id, else linkedid:direction:number) -> the call's raw record; kept `keep_calls`."""
        return f"{self.prefix}:calls:{day}"

    def customer(self, number: str) -> str:
        return f"{self.prefix}:{{{number}}}:customer"

    def contract(self, contract: str) -> str:
        """String: the number of the customer whose directory record holds this contract (customers CSV
        `contract`); a caller who types it in a menu is routed as that customer."""
        return f"{self.prefix}:contract:{{{contract}}}"

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
