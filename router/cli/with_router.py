"""Commands that act on the store as the running router would (customer events, the at-risk list):
the rules compiled from --rules or $ROUTER_RULES, a Router over the store, its webhooks drained after."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from router.cli.options import store_url
from router.cli.store import on_store
from router.core.decide import CompiledRules
from router.core.rulefile import RuleFileError, load_rules
from router.service import Router
from router.state.store import Store

T = TypeVar("T")


def rules_for(args: argparse.Namespace, what: str) -> CompiledRules | None:
    path = args.rules or os.environ.get("ROUTER_RULES")
    if not path:
        print(f"router {what}: no rules: pass --rules PATH or set ROUTER_RULES (the risk section is read there)",
              file=sys.stderr)
        return None
    try:
        return CompiledRules(load_rules(path), path)
    except RuleFileError as e:
        print(e, file=sys.stderr)
        return None


def with_router(args: argparse.Namespace, command: str, rules: CompiledRules,
                work: Callable[[Router], Awaitable[T]]) -> T:
    """`work(router)` against the store, with the router's follow-ups (webhooks) drained after;
    StoreFailure when the store cannot be used."""

    async def run(store: Store) -> T:
        router = Router(rules, store)
        try:
            return await work(router)
        finally:
            await router.followups.drain()
            await router.followups.outbox.close()

    return on_store(command, store_url(args), args.prefix, run)
