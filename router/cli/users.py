"""`router users`: staff accounts — add, list, set, disable, enable, passwd, token — and `key`, a new
ROUTER_SESSION_KEY.

A password is read from the terminal (twice, not echoed) or, for scripts, as the first line of
stdin with `--password-stdin`; never from an argument (the process list and shell history would
show it). `router users token NAME` prints the person's new API token once: the store keeps only
its SHA-256, and the old token stops working.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from dataclasses import replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet

from router.cli.options import add_store_options, store_url
from router.cli.store import on_store
from router.core.hours import parse_hour_window
from router.people.accounts import (
    ROLES,
    AccountError,
    User,
    check_name,
    check_password,
    hash_password,
    new_token,
    token_digest,
)
from router.state.store import Store


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return check_password(sys.stdin.readline().rstrip("\r\n"))
    first = getpass.getpass(f"password for {args.name}: ")
    check_password(first)
    if getpass.getpass("again: ") != first:
        raise AccountError("the two passwords differ; nothing changed")
    return first


def _fields(args: argparse.Namespace, user: User) -> User:
    """The account with what the options say changed (each checked)."""
    changes: dict = {}
    if args.role:
        changes["role"] = args.role
    if args.email is not None:
        if args.email and "@" not in args.email:
            raise AccountError(f"--email {args.email!r}: write an address like ivanov@example.com")
        changes["email"] = args.email
    if args.telegram is not None:
        if args.telegram and not args.telegram.lstrip("-").isdigit():
            raise AccountError(f"--telegram {args.telegram!r}: the chat id is a number (the bot's getUpdates shows it)")
        changes["telegram"] = args.telegram
    if args.zone is not None:
        if args.zone:
            try:
                ZoneInfo(args.zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise AccountError(f"--zone {args.zone!r}: use an IANA name like Europe/Samara") from None
        changes["zone"] = args.zone
    if args.quiet_hours is not None:
        if args.quiet_hours:
            parse_hour_window(args.quiet_hours)
        changes["quiet_hours"] = args.quiet_hours
    if args.device is not None:
        changes["devices"] = tuple(d for d in args.device if d)
    if args.holds is not None:
        changes["holds"] = tuple(check_name(h) for h in args.holds if h)
    return replace(user, **changes)


def _run(args: argparse.Namespace, work) -> int:
    try:
        out = on_store(f"users {args.action}", store_url(args), args.prefix, work)
    except AccountError as e:
        print(f"router users {args.action}: {e}", file=sys.stderr)
        return 2
    if out:
        print(out)
    return 0


async def _existing(store: Store, name: str) -> User:
    found = await store.user(name)
    if found is None:
        raise AccountError(f"no account {name!r} (router users list shows them)")
    return found[0]


def run_add(args: argparse.Namespace) -> int:
    try:
        check_name(args.name)
        user = _fields(args, User(args.name, args.role or "agent"))
        hashed = hash_password(_password(args))
    except (AccountError, ValueError) as e:
        print(f"router users add: {e}", file=sys.stderr)
        return 2

    async def work(store: Store) -> str:
        if await store.user(args.name) is not None:
            raise AccountError(f"{args.name!r} exists already: change it with `router users set`")
        await store.put_user(user, hashed)
        return f"{user.name}: {user.role} account added"

    return _run(args, work)


def run_set(args: argparse.Namespace) -> int:
    async def work(store: Store) -> str:
        user = _fields(args, await _existing(store, args.name))
        await store.put_user(user)
        return f"{user.name}: updated"

    try:
        return _run(args, work)
    except ValueError as e:
        print(f"router users set: {e}", file=sys.stderr)
        return 2


def run_list(args: argparse.Namespace) -> int:
    async def work(store: Store) -> str:
        users = await store.users()
        if args.json:
            return json.dumps([u.public() for u in users], ensure_ascii=False, indent=2)
        if not users:
            return "no accounts (router users add NAME --role admin)"
        return "\n".join(f"{u.name:<20} {u.role:<6} {'disabled' if u.disabled else 'active':<8} "
                         f"{u.email or '-'}  {', '.join(u.holds) or '-'}" for u in users)

    return _run(args, work)


def _switch(disabled: bool):
    def run(args: argparse.Namespace) -> int:
        async def work(store: Store) -> str:
            user = await _existing(store, args.name)
            await store.put_user(replace(user, disabled=disabled, epoch=user.epoch + 1))
            return f"{user.name}: {'disabled, signed out everywhere' if disabled else 'enabled'}"

        return _run(args, work)

    return run


def run_passwd(args: argparse.Namespace) -> int:
    try:
        hashed = hash_password(_password(args))
    except AccountError as e:
        print(f"router users passwd: {e}", file=sys.stderr)
        return 2

    async def work(store: Store) -> str:
        user = await _existing(store, args.name)
        await store.put_user(replace(user, epoch=user.epoch + 1), hashed)
        return f"{user.name}: password changed, signed out everywhere"

    return _run(args, work)


def run_token(args: argparse.Namespace) -> int:
    async def work(store: Store) -> str:
        user = await _existing(store, args.name)
        if args.revoke:
            if user.token:
                await store.drop_token(user.token)
            await store.put_user(replace(user, token=""))
            return f"{user.name}: API token revoked"
        token = new_token()
        await store.set_token(user, token_digest(token))
        await store.put_user(replace(user, token=token_digest(token)))
        return token

    return _run(args, work)


def run_key(args: argparse.Namespace) -> int:
    print(Fernet.generate_key().decode())
    return 0


def _account_options(sp: argparse.ArgumentParser, role_required: bool = False) -> None:
    sp.add_argument("name", help="the rule file's name for the person (a manager's, like ivanov)")
    sp.add_argument("--role", choices=ROLES, required=role_required)
    sp.add_argument("--email", help="where notices go by e-mail ('' for none)")
    sp.add_argument("--telegram", metavar="CHAT_ID", help="the Telegram chat notices go to ('' for none)")
    sp.add_argument("--zone", help="their time zone (IANA, like Europe/Samara; default the company's)")
    sp.add_argument("--quiet-hours", metavar="HH:MM-HH:MM", help="no notices then, in their zone")
    sp.add_argument("--device", action="append", metavar="DEVICE",
                    help="a phone that rings for them beyond their manager entry (PJSIP/105); repeat for more")
    sp.add_argument("--holds", action="append", metavar="OWNER",
                    help="an owner name whose tasks are theirs (duty, head_of_sales); repeat for more")


def add_parser(sub) -> None:
    up = sub.add_parser("users", help="staff accounts: add, list, set, disable, passwd, token")
    actions = up.add_subparsers(dest="action", required=True)
    sp = actions.add_parser("add", help="a new account; the password is asked for")
    _account_options(sp, role_required=True)
    sp.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    sp.set_defaults(func=run_add)
    sp = actions.add_parser("set", help="change an account's role, contacts, zone, devices or held names")
    _account_options(sp)
    sp.set_defaults(func=run_set)
    sp = actions.add_parser("list", help="every account")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=run_list)
    for name, disabled in (("disable", True), ("enable", False)):
        sp = actions.add_parser(name, help=f"{name} an account" + (" (signs it out everywhere)" if disabled else ""))
        sp.add_argument("name")
        sp.set_defaults(func=_switch(disabled))
    sp = actions.add_parser("passwd", help="a new password (signs the person out everywhere)")
    sp.add_argument("name")
    sp.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    sp.set_defaults(func=run_passwd)
    sp = actions.add_parser("token", help="a new API token for scripts, printed once (the old one stops working)")
    sp.add_argument("name")
    sp.add_argument("--revoke", action="store_true", help="only take the current token away")
    sp.set_defaults(func=run_token)
    for p in actions.choices.values():
        add_store_options(p)
    kp = actions.add_parser("key", help="print a new ROUTER_SESSION_KEY (for the environment file)")
    kp.set_defaults(func=run_key)
