"""`router serve`: answer FastAGI route requests, serve the HTTP API, follow AMI; until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys

from router.asterisk.ami import AMITarget
from router.config import ConfigError, Settings, setup_warnings
from router.core.rulefile import RuleFileError
from router.outbox.templates import gateway_warnings
from router.server import serve_forever, start
from router.service import Router
from router.state.errors import STORE_ERRORS
from router.state.factory import open_store
from router.state.spool import Spool
from router.web.session import session_hours, session_key


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run(args: argparse.Namespace) -> int:
    _setup_logging(args.verbose)
    try:
        s = Settings.resolve(args.rules, args.store, args.agi, args.http, args.prefix, args.ami, args.spool,
                             args.ivr_dialplan)
        store = open_store(s.store, s.prefix)
        router = Router.from_path(s.rules, store, s.limits, instance=s.instance)
        router.ivr_dialplan = s.ivr_dialplan
        ami_target = AMITarget.parse(s.ami, s.ami_secret) if s.ami else None
        dial_url = args.ami_originate or os.environ.get("ROUTER_AMI_ORIGINATE")
        dial_target = AMITarget.parse(dial_url, os.environ.get("ROUTER_AMI_ORIGINATE_SECRET")) if dial_url else None
        session_key()  # a ROUTER_SESSION_KEY that is no key stops the start, saying how to make one
        session_hours()
    except (ConfigError, ValueError) as e:
        print(f"router serve: {e}", file=sys.stderr)
        return 2
    except RuleFileError as e:
        first, *rest = e.problems
        more = f"; {len(rest)} more problems follow" if rest else ""
        print(f"router serve: the rules do not load, nothing started: {first}{more}", file=sys.stderr)
        for p in rest:
            print(p, file=sys.stderr)
        return 1

    for w in gateway_warnings(router.rules.rs.notify):
        logging.getLogger("router").warning("%s: %s", s.rules, w)
    router.setup_warnings = setup_warnings(s, router.rules.rs)
    for w in router.setup_warnings:
        logging.getLogger("router").warning("%s", w)

    async def main() -> None:
        # what is loaded now lives as long as the process: keep the collector from rescanning it
        gc.freeze()
        try:
            async with asyncio.timeout(3):
                await store.ping()
        except STORE_ERRORS as e:
            logging.getLogger("router").error(
                "store %s unreachable (%s): calls get the fallback chain until it is back", store.address, e)
        running = await start(router, s.agi, s.http, s.api_token, ami=ami_target, originate=dial_target,
                              max_connections=s.max_connections, max_per_peer=s.max_per_peer,
                              spool=Spool(s.spool))
        await serve_forever(running)
        await store.close()

    try:
        asyncio.run(main())
    except OSError as e:
        print(f"router serve: cannot listen ({e}); is another router running on that port?", file=sys.stderr)
        return 1
    return 0


def add_parser(sub) -> None:
    sp = sub.add_parser("serve", help="answer FastAGI route requests and serve the HTTP API")
    sp.add_argument("--rules", help="rule file or directory (default $ROUTER_RULES)")
    sp.add_argument("--store", help="Redis URL (default $ROUTER_STORE or redis://127.0.0.1:6379/0)")
    sp.add_argument("--prefix", help="key prefix in Redis (default $ROUTER_PREFIX or cr)")
    sp.add_argument("--agi", help="FastAGI HOST:PORT (default $ROUTER_AGI or 127.0.0.1:4573)")
    sp.add_argument("--http", help="HTTP HOST:PORT (default $ROUTER_HTTP or 127.0.0.1:8080)")
    sp.add_argument("--ami", help="ami://USER[:SECRET]@HOST:PORT (default $ROUTER_AMI; secret also from "
                                  "$ROUTER_AMI_SECRET); off when unset")
    sp.add_argument("--ami-originate", help="ami://USER[:SECRET]@HOST:PORT of the AMI user callbacks are dialled "
                                            "with, `write = originate` only (default $ROUTER_AMI_ORIGINATE; secret "
                                            "also from $ROUTER_AMI_ORIGINATE_SECRET); no callbacks when unset")
    sp.add_argument("--spool", help="file for what the store cannot take by shutdown, replayed at the next start "
                                    "(default $ROUTER_SPOOL, else $STATE_DIRECTORY/spool.jsonl, else "
                                    "~/.local/state/callrouter/spool.jsonl)")
    sp.add_argument("--ivr-dialplan", metavar="FILE",
                    help="write the rules' menus as dialplan to FILE at start and after every reload (default "
                         "$ROUTER_IVR_DIALPLAN; off when unset); then `dialplan reload` in Asterisk")
    sp.add_argument("-v", "--verbose", action="store_true")
    sp.set_defaults(func=run)
