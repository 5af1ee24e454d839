"""The store: every read and write the router makes in Redis, one mixin per concern.

Composed the way redis-py composes its client from command mixins: `StoreBase` owns the
connections and the call's one-round-trip snapshot (router/state/base.py), `Keys` names every
key (router/state/keys.py), and each concern is a mixin of its own module:

| mixin | module | what |
|---|---|---|
| CallsMixin | calls.py | numbers' history, call outcomes, device states |
| DirectoryMixin | directory.py | customers, companies, numbering plan, CRM cache |
| DecisionsMixin | decisions.py | the decision log and each decision's facts |
| TasksMixin | tasks.py | follow-up and retention tasks, the worklist |
| CallbacksMixin | callbacks.py | callbacks: one claim per customer across routers, rate limits, attempts |
| RiskMixin | risk.py | customer events, risk, the at-risk list |
| ReportMixin | report.py | the report's day counters and raw calls |
| StrategyMixin | strategy.py | the strategy and the day/night switch, flipped at runtime |
| RolloutMixin | rollout.py | a staged rollout of new rules: its state and both versions |
| OutboxMixin | outbox.py | messages on their way out (SMS, webhooks, e-mail, CRM) |
| CrmMixin | crm.py | the CRM's ids of calls and tasks, its request rate, what stops it |
| ErasureMixin | erasure.py | forgetting one person everywhere |
| UsersMixin | users.py | staff accounts, API tokens, failed logins |
| CardsMixin | cards.py | what the caller's card reads |
| NoticesMixin | notices.py | notices waiting for a person's digest |

`router.state.factory.open_store(url)` opens the right store for an address (Cluster gets
`ClusterStore`, router/state/cluster.py).
"""

from __future__ import annotations

from router.state.callbacks import CallbacksMixin
from router.state.calls import CallsMixin
from router.state.cards import CardsMixin
from router.state.crm import CrmMixin
from router.state.decisions import DecisionsMixin
from router.state.directory import DirectoryMixin
from router.state.erasure import ErasureMixin
from router.state.notices import NoticesMixin
from router.state.outbox import OutboxMixin
from router.state.report import ReportMixin
from router.state.risk import RiskMixin
from router.state.rollout import RolloutMixin
from router.state.strategy import StrategyMixin
from router.state.tasks import TasksMixin
from router.state.users import UsersMixin


class Store(CallsMixin, DirectoryMixin, DecisionsMixin, TasksMixin, CallbacksMixin, RiskMixin, ReportMixin,
            StrategyMixin, RolloutMixin, OutboxMixin, CrmMixin, ErasureMixin, UsersMixin, CardsMixin, NoticesMixin):
    """Everything the router keeps in Redis (see the module docstring for which mixin holds what)."""
