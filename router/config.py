"""Settings from flags, else the environment, else the defaults (listen on loopback only)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from router.core.rulefile import Limits
from router.core.rules import RuleSet
from router.state.address import AddressError
from router.state.address import parse as parse_address
from router.state.spool import default_path

DEFAULT_AGI = "127.0.0.1:4573"
DEFAULT_HTTP = "127.0.0.1:8080"
DEFAULT_STORE = "redis://127.0.0.1:6379/0"
DEFAULT_MAX_CONNECTIONS = 2000


class ConfigError(ValueError):
    pass


def host_port(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{what} {value!r}: write HOST:PORT, like 127.0.0.1:4573")
    return host.strip("[]") or "127.0.0.1", int(port)


def positive_int(value: str | None, what: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise ConfigError(f"{what}={value!r}: write a whole number of at least 1")
    return int(value)


@dataclass(frozen=True, slots=True)
class Settings:
    rules: str
    store: str
    agi: tuple[str, int]
    http: tuple[str, int]
    prefix: str = "cr"
    api_token: str | None = None
    ami: str | None = None
    ami_secret: str | None = None
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_per_peer: int | None = None
    limits: Limits = field(default_factory=Limits)
    instance: str = ""
    spool: str = ""
    ivr_dialplan: str = ""

    @classmethod
    def resolve(cls, rules: str | None = None, store: str | None = None, agi: str | None = None,
                http: str | None = None, prefix: str | None = None, ami: str | None = None,
                spool: str | None = None, ivr_dialplan: str | None = None) -> Settings:
        env = os.environ
        rules = rules or env.get("ROUTER_RULES")
        if not rules:
            raise ConfigError("no rules: pass --rules PATH or set ROUTER_RULES")
        store = store or env.get("ROUTER_STORE") or DEFAULT_STORE
        try:
            parse_address(store)
        except AddressError as e:
            raise ConfigError(str(e)) from None
        return cls(
            rules=rules,
            store=store,
            agi=host_port(agi or env.get("ROUTER_AGI") or DEFAULT_AGI, "--agi"),
            http=host_port(http or env.get("ROUTER_HTTP") or DEFAULT_HTTP, "--http"),
            prefix=prefix or env.get("ROUTER_PREFIX") or "cr",
            api_token=env.get("ROUTER_API_TOKEN") or None,
            ami=ami or env.get("ROUTER_AMI") or None,
            ami_secret=env.get("ROUTER_AMI_SECRET") or None,
            max_connections=positive_int(env.get("ROUTER_MAX_CONNECTIONS"), "ROUTER_MAX_CONNECTIONS")
            or DEFAULT_MAX_CONNECTIONS,
            max_per_peer=positive_int(env.get("ROUTER_MAX_CONNECTIONS_PER_PEER"), "ROUTER_MAX_CONNECTIONS_PER_PEER"),
            limits=rule_limits(),
            instance=env.get("ROUTER_INSTANCE", ""),
            spool=spool or str(default_path()),
            ivr_dialplan=ivr_dialplan or env.get("ROUTER_IVR_DIALPLAN", ""),
        )


def rule_limits() -> Limits:
    """ROUTER_RULES_MAX_BYTES and ROUTER_RULES_MAX_RULES over the defaults."""
    d = Limits()
    env = os.environ
    return Limits(max_bytes=positive_int(env.get("ROUTER_RULES_MAX_BYTES"), "ROUTER_RULES_MAX_BYTES") or d.max_bytes,
                  max_rules=positive_int(env.get("ROUTER_RULES_MAX_RULES"), "ROUTER_RULES_MAX_RULES") or d.max_rules)


def setup_warnings(settings: Settings, rs: RuleSet) -> list[str]:
    """What is missing from a `router serve` setup, and what follows from it: one line each, said at start
    (and on /healthz) so that an admin does not find out from an empty report a week later."""
    out = []
    if not settings.ami:
        out.append("no AMI (--ami / ROUTER_AMI): calls are routed, but the router never learns how they ended — "
                   "follow-ups, the report, busy phones and the last agent stay empty")
    if not settings.api_token:
        host = settings.http[0]
        out.append(f"no ROUTER_API_TOKEN: /api/ answers whoever reaches {host}:{settings.http[1]} "
                   + ("(loopback only: people on other machines cannot reach it)" if host in ("127.0.0.1", "::1")
                      else "— set one before exposing it"))
    if rs.notify.sms is None:
        for i, level in enumerate(rs.followup.escalate):
            if level.sms_to:
                out.append(f"followup.escalate[{i}].sms_to is {level.sms_to} but notify.sms is not set: "
                           f"{level.to} gets no SMS when a task reaches level {i + 1}")
    return out
