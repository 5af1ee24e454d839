"""`router callback ID`: call a task's customer back now, agent first — the person's phone rings, then the customer.

The same checks as the page's Call button (router/followups/callbacks.py): the number's allow-list, the rate
limits shared with every router, one callback per customer at a time. The Originate goes over the AMI user of
`--ami-originate` (`write = originate`); the command waits for the agent's phone to answer or give up and says
which. The customer's answer closes the task through the running router's AMI listener, as any callback does.
"""

from __future__ import annotations

import argparse
import os
import sys

from router.asterisk.amiconnection import AMITarget
from router.asterisk.originate import Originator
from router.cli.options import add_store_options
from router.cli.with_router import rules_for, with_router
from router.followups.callbacks import CallResult
from router.people.staff import phone_of
from router.service import Router

EXIT = {"dialling": 0, "refused": 3, "busy": 4, "agent_busy": 4, "at_once": 4, "per_minute": 4}


def run(args: argparse.Namespace) -> int:
    rules = rules_for(args, "callback")
    if rules is None:
        return 2
    url = args.ami_originate or os.environ.get("ROUTER_AMI_ORIGINATE")
    if not url:
        print("router callback: no AMI user to originate with: pass --ami-originate ami://callrouter-dial@HOST:5038 "
              "or set ROUTER_AMI_ORIGINATE (secret in ROUTER_AMI_ORIGINATE_SECRET)", file=sys.stderr)
        return 2
    try:
        target = AMITarget.parse(url, os.environ.get("ROUTER_AMI_ORIGINATE_SECRET"))
    except ValueError as e:
        print(f"router callback: {e}", file=sys.stderr)
        return 2
    who = args.agent
    device = args.phone or (rules.rs.managers[who].endpoint if who in rules.rs.managers else "")

    async def work(router: Router) -> tuple[CallResult, str]:
        phone = device
        if not phone:
            found = await router.store.user(who)
            if found is not None:
                phone = phone_of(found[0], router.rules)
        originator = Originator(target)
        originator.start()
        router.callbacks.originate = originator.originate
        try:
            result = await router.callbacks.call(args.id, phone, who)
            outcome = (await result.done).text if result.done is not None else ""
        finally:
            originator.close()
        return result, outcome

    result, outcome = with_router(args, "callback", rules, work)
    print(f"{args.id}: {result.message}" + (f"; {outcome}" if outcome else ""),
          file=sys.stdout if result.status == "dialling" else sys.stderr)
    return EXIT.get(result.status, 1)


def add_parser(sub) -> None:
    sp = sub.add_parser("callback", help="call a task's customer back now: the agent's phone first, then the customer")
    sp.add_argument("id", help="the task's id (router followups list)")
    sp.add_argument("--agent", required=True, help="whose phone rings first: an account or a manager of the rules")
    sp.add_argument("--phone", help="the agent's phone (default: his manager entry's endpoint, else his account's "
                                    "first device)")
    sp.add_argument("--ami-originate", help="ami://USER[:SECRET]@HOST:PORT (default $ROUTER_AMI_ORIGINATE)")
    sp.add_argument("--rules", help="rule file or directory (default $ROUTER_RULES): the callbacks section")
    add_store_options(sp)
    sp.set_defaults(func=run)
