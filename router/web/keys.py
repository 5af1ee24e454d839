"""What the HTTP handlers find on the aiohttp application: the router, the servers it watches,
the tokens. Set once by `router.web.app.make_app`; AGI and AMI only when they run."""

from __future__ import annotations

import asyncio

from aiohttp import web

from router.asterisk.agi import FastAGIServer
from router.asterisk.ami import Listener
from router.crm.sync import CrmSync
from router.service import Router

ROUTER_KEY = web.AppKey("router", Router)
TOKEN_KEY = web.AppKey("token", str)
"""$ROUTER_API_TOKEN: /api/ needs `Authorization: Bearer TOKEN` once set."""
METRICS_TOKEN_KEY = web.AppKey("metrics_token", str)
"""$ROUTER_METRICS_TOKEN: /metrics needs `Authorization: Bearer TOKEN` once set."""
AGI_KEY = web.AppKey("agi", FastAGIServer)
AMI_KEY = web.AppKey("ami", Listener)
CRM_KEY = web.AppKey("crm", CrmSync)
LIST_GATE_KEY = web.AppKey("list_gate", asyncio.Semaphore)
"""Lists (and the report) are built one at a time: see router/web/paging.py."""
