"""What is missing from a `router serve` setup is said at start, with what follows from it."""

from __future__ import annotations

from router.config import Settings, setup_warnings
from tests.helpers import RULES_TEXT, compiled

ESCALATING = RULES_TEXT + """
followup:
  escalate:
    - {after: 30m, to: head_of_sales}
    - {after: 3d, to: director, sms_to: "+79031112233"}
"""


def settings(**kw) -> Settings:
    return Settings(rules="rules/", store="redis://127.0.0.1:6379/0", agi=("127.0.0.1", 4573),
                    http=kw.pop("http", ("127.0.0.1", 8080)), **kw)


def test_a_router_without_ami_token_or_sms_gateway_is_told_what_it_misses():
    lines = setup_warnings(settings(http=("0.0.0.0", 8080)), compiled(ESCALATING).rs)
    assert lines[0].startswith("no AMI (--ami / ROUTER_AMI): calls are routed, but the router never learns")
    assert lines[1] == ("no ROUTER_API_TOKEN: /api/ answers whoever reaches 0.0.0.0:8080 — set one before "
                        "exposing it")
    assert lines[2] == ("followup.escalate[1].sms_to is +79031112233 but notify.sms is not set: director gets no "
                        "SMS when a task reaches level 2")


def test_a_complete_setup_is_not_warned_about():
    assert setup_warnings(settings(ami="ami://callrouter@127.0.0.1:5038", api_token="t"),
                          compiled(RULES_TEXT).rs) == []
