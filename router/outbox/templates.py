"""HTTP request templates from the rule file: the SMS gateway, webhooks, CRM lookups.

A template's strings take `{placeholders}` from the event (`{number}`, `{text}`, `{task_id}`,
…) and `${NAME}` from the environment, so that API keys stay out of the rule file (and out of
Redis: a queued message keeps the template, not the rendered request). The environment is read
first, so a placeholder's value — a caller's name, anything a stranger could write — never
reaches an `${NAME}`. A template whose `${NAME}`s are not all set is not sent at all: the
shipped examples stay quiet until configured.
"""

from __future__ import annotations

import os
import re
from typing import Any

from router.core.rules import HttpRequest, Notify

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_ENV = re.compile(r"\$\{(\w+)\}")


def render(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        value = _ENV.sub(lambda m: os.environ.get(m.group(1), ""), value)
        return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), value)
    if isinstance(value, dict):
        return {k: render(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, values) for v in value]
    return value


def unset_env(template: HttpRequest, environ: dict[str, str] | None = None) -> list[str]:
    """The `${NAME}`s a template uses that the environment leaves unset or empty: it is not sent until they are."""
    env = os.environ if environ is None else environ
    names = dict.fromkeys(_ENV.findall(template.model_dump_json(by_alias=True)))
    return [n for n in names if not env.get(n)]


def gateway_warnings(notify: Notify, environ: dict[str, str] | None = None) -> list[str]:
    """One line per gateway or webhook that is off because its `${NAME}`s are unset."""
    out = []
    targets: list[tuple[str, HttpRequest]] = [(f"notify.webhooks[{i}]", h) for i, h in enumerate(notify.webhooks)]
    if notify.sms is not None:
        targets.insert(0, ("notify.sms", notify.sms))
    for where, template in targets:
        missing = unset_env(template, environ)
        if missing:
            names = ", ".join(f"${{{n}}}" for n in missing)
            out.append(f"{where} ({template.url.split('?')[0]}): {names} not set in the environment: "
                       f"nothing is sent there until {'it is' if len(missing) == 1 else 'they are'}")
    return out
