"""Every dialplan variable the router sets, named once (the contract with `dialplans/`)."""

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


def step_type(n: int) -> str:
    return f"ROUTE_{n}_TYPE"


def step_dest(n: int) -> str:
    return f"ROUTE_{n}_DEST"


def step_timeout(n: int) -> str:
    return f"ROUTE_{n}_TIMEOUT"


CHOICE_ARG = "choice"
"""The AGI argument a dialplan passes after an IVR menu: `AGI(agi://…/route,choice=new-connection)`."""
_CHOICE_MAX = 64


def agi_choice(env: dict[str, str]) -> str:
    """The `choice=` among the AGI arguments (agi_arg_1…), as a plain word; empty when none."""
    for n in range(1, 10):
        arg = env.get(f"agi_arg_{n}")
        if arg is None:
            break
        key, sep, value = arg.partition("=")
        if sep and key.strip() == CHOICE_ARG:
            return "".join(ch for ch in value.strip() if ch.isalnum() or ch in "-_.")[:_CHOICE_MAX]
    return ""


USER_EVENT = "callrouter"
"""`UserEvent(callrouter,Decision: …[,Result: failed,DialStatus: …,QueueStatus: …])` from the dialplan:
tells the AMI listener the caller's leg and its decision without the `dialplan` read class."""
