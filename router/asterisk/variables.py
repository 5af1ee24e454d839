"""Every dialplan variable the router sets or the dialplans it ships read, named once (the contract with
`dialplans/` and the menus `router ivr dialplan` writes), and the AGI arguments of a second ask."""

from router.core.freepbx import is_freepbx_queue
from router.core.menus import INPUT_FIELDS, NOT_ASKED, Asked

DECISION = "ROUTE_DECISION"
RULE = "ROUTE_RULE"
CALLER_KIND = "ROUTE_CALLER_KIND"
ABC = "ROUTE_ABC"
MANAGER = "ROUTE_MANAGER"
TZ = "ROUTE_TZ"
PRIORITY = "ROUTE_PRIORITY"
COUNT = "ROUTE_COUNT"

WHISPER = "CALLERID(name)"
"""The whisper: what the agent's phone shows as the caller's name (`[A] Olga`), set only when a whisper part
holds; every Dial and Queue presents CALLERID(name) to the phone, so the walk needs no priority for it."""
CALLER_NAME = "ROUTE_CALLER_NAME"
"""The caller's name as the trunk gave it, kept when the whisper replaces CALLERID(name)."""

QUEUE_PRIO = "QUEUE_PRIO"
"""app_queue's priority for the caller, read by every Queue() the call reaches: ROUTE_PRIORITY again
(set when the chain has a queue step)."""
CDR_USERFIELD = "CDR(userfield)"
"""The decision in the call's CDR, so a CDR can be matched to the router's log."""


def queue_priority(steps: list[tuple[str, str]], priority: int) -> list[tuple[str, object]]:
    """QUEUE_PRIO when a step (type, dest) is a queue; `_QUEUE_PRIO` when one is a FreePBX queue rung through a Local
    channel (`Local/400@ext-queues`), which inherits only variables set with a leading `_`."""
    pairs: list[tuple[str, object]] = []
    if any(kind == "queue" for kind, _ in steps):
        pairs.append((QUEUE_PRIO, priority))
    if any(is_freepbx_queue(dest) for _, dest in steps):
        pairs.append(("_" + QUEUE_PRIO, priority))
    return pairs


def step_type(n: int) -> str:
    return f"ROUTE_{n}_TYPE"


def step_dest(n: int) -> str:
    return f"ROUTE_{n}_DEST"


def step_timeout(n: int) -> str:
    return f"ROUTE_{n}_TIMEOUT"


DNID = "ROUTE_DNID"
"""The called number, set when the chain leads to a generated menu: the menu passes it back (`dnid=`) when it
asks again, for in the menu's context the extension is the key pressed."""
INPUT = "ROUTE_INPUT"
"""Set to `wrong` (and nothing else) when the router was asked with typed digits it cannot take: the menu
plays its prompt again or, after its last try, goes on as its `on_invalid` says."""
INPUT_WRONG = "wrong"

CHOICE_ARG = "choice"
"""The AGI argument a dialplan passes after an IVR menu: `AGI(agi://…/route,choice=new-connection)`."""
MENU_ARG = "menu"
"""The menu the dialplan asks again from (`menu=main`)."""
KEY_ARG = "key"
DNID_ARG = "dnid"
"""What left that menu: a key, `timeout`, `invalid` or `input` (`key=3`)."""
_WORD_MAX = 64
_DIGITS_MAX = 20

MENU_TRIES = "CALLROUTER_MENU_TRIES"
"""The generated menus' count of timeouts and wrong keys in the menu the caller is in."""
MENU_DIGITS = "CALLROUTER_DIGITS"
"""What the caller typed in an input menu (Read())."""
MENU_EVENT = "Menu"
KEY_EVENT = "Key"
"""Fields of the `UserEvent(callrouter,Menu: NAME[,Key: KEY])` the generated menus send: entering a
menu, and leaving it (the report counts menus from them)."""


def _args(env: dict[str, str]) -> dict[str, str]:
    """`name=value` AGI arguments (agi_arg_1…, numbered without gaps)."""
    out: dict[str, str] = {}
    for n in range(1, 10):
        arg = env.get(f"agi_arg_{n}")
        if arg is None:
            break
        key, sep, value = arg.partition("=")
        if sep:
            out.setdefault(key.strip(), value.strip())
    return out


def agi_args(env: dict[str, str]) -> dict[str, str]:
    """The `name=value` AGI arguments, as given (callers clean what they read)."""
    return _args(env)


def _word(value: str) -> str:
    return "".join(ch for ch in value if ch.isalnum() or ch in "-_.")[:_WORD_MAX]


def plain_dnid(text: str) -> str:
    """A called number as the menus pass it back inside an AGI() argument list: nothing that could end an
    argument (`,`) or the application (`)`), or be read as anything else: letters, digits, `+*#`."""
    return "".join(ch for ch in text if ch.isascii() and (ch.isalnum() or ch in "+*#"))[:32]


def agi_choice(env: dict[str, str]) -> str:
    """The `choice=` among the AGI arguments (agi_arg_1…), as a plain word; empty when none."""
    return _word(_args(env).get(CHOICE_ARG, ""))


def agi_asked(env: dict[str, str]) -> Asked:
    """What a dialplan asking again after a menu passed: menu, key, choice, typed digits (`contract=`), dnid;
    kept to plain words and digits, whatever the dialplan (or a caller's keys) put there."""
    if "agi_arg_1" not in env:  # a call's first ask, most calls: nothing to read
        return NOT_ASKED
    args = _args(env)
    digits = next((args[f] for f in INPUT_FIELDS if f in args), "")
    return Asked(_word(args.get(MENU_ARG, "")), _word(args.get(KEY_ARG, ""))[:8], _word(args.get(CHOICE_ARG, "")),
                 "".join(ch for ch in digits if ch in "0123456789*#")[:_DIGITS_MAX],
                 plain_dnid(args.get(DNID_ARG, "")))


USER_EVENT = "callrouter"
"""`UserEvent(callrouter,Decision: …[,Result: failed,DialStatus: …,QueueStatus: …])` from the dialplan:
tells the AMI listener the caller's leg and its decision without the `dialplan` read class."""

CALLBACK_NUMBER = "CALLROUTER_CALLBACK_NUMBER"
"""Set by a callback's Originate on the agent's channel: the customer's number (E.164 digits, checked by the
router and again by dialplans/callrouter-callback.conf) that the outbound context dials."""
CALLBACK_TASK = "CALLROUTER_CALLBACK_TASK"
"""The task the callback works (for the log and the CDR)."""
CALLBACK_CALLER_ID = "CALLROUTER_CALLBACK_CALLERID"
"""The company's number the customer sees (the rule file's `callbacks.caller_id`); unset keeps the trunk's."""
CALLBACK_TRUNK = "CALLROUTER_CALLBACK_TRUNK"
"""The dialplan's setting: the PJSIP endpoint of the trunk callbacks go out on (default `trunk`)."""
CALLBACK_RING = "CALLROUTER_CALLBACK_RING"
"""The dialplan's setting: seconds the customer's phone rings for a callback (default 45)."""

HOLD = "CALLROUTER_HOLD"
"""The router's answer to a caller who pressed 1 in a queue (AGI script `hold`): `kept` (his place is kept: he
may hang up and is called back in his turn) or `back` (put back in the queue at QUEUEPOSITION)."""
HOLD_KEPT, HOLD_BACK = "kept", "back"
HOLD_QUEUE_ARG = "queue"
"""AGI arguments of the `hold` script: app_queue's QUEUENAME, QUEUEHOLDTIME (the queue's average hold time) and
QUEUEPOSITION, which it sets when a key press takes the caller out of the queue (setqueuevar = yes)."""
HOLD_HOLDTIME_ARG = "holdtime"
