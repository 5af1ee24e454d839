"""`router wallboard`: tokens for the screens that show the wallboard — `token SCREEN` (printed once, the
screen's old one stops working), `token SCREEN --revoke`, `list`.

A wallboard token opens `/wallboard` and its stream and nothing else: a TV in the hall holds no
person's credentials. The store keeps only its SHA-256. Open the wall with
`http://ROUTER:8080/wallboard#token=crw_…` (after `#`, the token is never sent in the page's address).
"""

from __future__ import annotations

import argparse
import sys

from router.cli.options import add_store_options, store_url
from router.cli.store import on_store
from router.people.accounts import WALLBOARD_TOKEN_PREFIX, AccountError, check_name, new_token, token_digest
from router.state.store import Store


def run_token(args: argparse.Namespace) -> int:
    try:
        screen = check_name(args.screen)
    except AccountError as e:
        print(f"router wallboard token: {e}".replace("manager or owner name, like ivanov", "screen's name, like hall"),
              file=sys.stderr)
        return 2

    async def work(store: Store) -> str:
        if args.revoke:
            had = await store.drop_wallboard_token(screen)
            return f"{screen}: wallboard token revoked" if had else f"{screen}: had no wallboard token"
        token = new_token(WALLBOARD_TOKEN_PREFIX)
        await store.set_wallboard_token(screen, token_digest(token))
        return token

    print(on_store(f"wallboard {args.action}", store_url(args), args.prefix, work))
    return 0


def run_list(args: argparse.Namespace) -> int:
    async def work(store: Store) -> list[str]:
        return await store.wallboard_screens()

    for screen in on_store("wallboard list", store_url(args), args.prefix, work):
        print(screen)
    return 0


def add_parser(sub) -> None:
    wp = sub.add_parser("wallboard", help="tokens for wallboard screens: token, list")
    actions = wp.add_subparsers(dest="action", required=True)
    sp = actions.add_parser("token", help="a new token for a screen, printed once (its old one stops working)")
    sp.add_argument("screen", help="a name for the screen (hall, sales-floor)")
    sp.add_argument("--revoke", action="store_true", help="only take the screen's token away")
    sp.set_defaults(func=run_token)
    sp = actions.add_parser("list", help="the screens that have a token")
    sp.set_defaults(func=run_list)
    for p in actions.choices.values():
        add_store_options(p)
