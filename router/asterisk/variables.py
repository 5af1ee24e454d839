"""Every dialplan variable the router sets, named once (the contract with `dialplans/`)."""

DECISION = "ROUTE_DECISION"
RULE = "ROUTE_RULE"
CALLER_KIND = "ROUTE_CALLER_KIND"
ABC = "ROUTE_ABC"
MANAGER = "ROUTE_MANAGER"
TZ = "ROUTE_TZ"
PRIORITY = "ROUTE_PRIORITY"
COUNT = "ROUTE_COUNT"


def step_type(n: int) -> str:
    return f"ROUTE_{n}_TYPE"


def step_dest(n: int) -> str:
    return f"ROUTE_{n}_DEST"


def step_timeout(n: int) -> str:
    return f"ROUTE_{n}_TIMEOUT"
