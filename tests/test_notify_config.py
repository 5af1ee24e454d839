"""Notifications stay off until configured: a template with an unset ${NAME} is never sent, and the
admin is told so by `router check` and at `router serve` start."""

from __future__ import annotations

import signal
import subprocess

import pytest
from aiohttp import web

from router.core.rules import HttpRequest
from router.outbox.http import HttpSender, http_message
from router.outbox.templates import gateway_warnings, unset_env
from tests.helpers import ROUTER_CMD, RULES_DIR, await_line, free_port, router_env

GATEWAY_ENV = ("SMSRU_API_ID", "BITRIX_HOST", "BITRIX_WEBHOOK_KEY", "CRM_HOST")


async def test_a_template_with_an_unset_variable_is_not_sent(monkeypatch):
    hits: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        hits.append(request.query_string)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/sms", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sender = HttpSender()
    template = HttpRequest(method="GET", url=f"http://127.0.0.1:{port}/sms",
                           query={"key": "${CR_TEST_SMS_KEY}", "to": "{number}"})
    message = http_message("sms", "t:sms", template, {"number": "+79035550101"}, "SMS", "", 0, 60)
    try:
        monkeypatch.delenv("CR_TEST_SMS_KEY", raising=False)
        r = await sender.deliver(message)
        assert (r.verdict, r.detail) == ("blocked", "${CR_TEST_SMS_KEY} not set")
        monkeypatch.setenv("CR_TEST_SMS_KEY", "")
        assert (await sender.deliver(message)).verdict == "blocked"
        assert hits == []
        monkeypatch.setenv("CR_TEST_SMS_KEY", "k1")
        assert (await sender.deliver(message)).verdict == "sent"
        assert hits == ["key=k1&to=%2B79035550101"]
        assert "k1" not in str(message.payload)  # the secret is read when sending, never kept with the message
    finally:
        await sender.close()
        await runner.cleanup()


def test_the_shipped_rules_send_nothing_on_a_fresh_machine(default_rules):
    notify = default_rules.rs.notify
    templates = [notify.sms, *notify.webhooks]
    assert notify.sms is not None and len(templates) >= 2
    assert all(unset_env(t, {}) for t in templates), "a shipped template would be sent with no configuration"
    assert len(gateway_warnings(notify, {})) == len(templates)
    assert gateway_warnings(notify, dict.fromkeys(GATEWAY_ENV, "x")) == []


@pytest.mark.slow
def test_check_warns_about_a_gateway_whose_variables_are_unset():
    clean = {k: "" for k in GATEWAY_ENV}
    res = subprocess.run([*ROUTER_CMD, "check", str(RULES_DIR)], capture_output=True, text=True, timeout=60,
                         env=router_env(**clean))
    assert res.returncode == 0
    warnings = [line for line in res.stdout.splitlines() if ": warning: " in line]
    assert len(warnings) == 3
    assert "notify.sms (https://sms.ru/sms/send): ${SMSRU_API_ID} not set in the environment" in warnings[0]
    configured = subprocess.run([*ROUTER_CMD, "check", str(RULES_DIR)], capture_output=True, text=True, timeout=60,
                                env=router_env(**dict.fromkeys(GATEWAY_ENV, "x")))
    assert "warning" not in configured.stdout


@pytest.mark.slow
def test_serve_logs_unconfigured_gateways_at_start(redis_url, prefix):
    proc = subprocess.Popen([*ROUTER_CMD, "serve", "--rules", str(RULES_DIR), "--store", redis_url, "--prefix", prefix,
                             "--agi", f"127.0.0.1:{free_port()}", "--http", f"127.0.0.1:{free_port()}"],
                            stderr=subprocess.PIPE, text=True, env=router_env(SMSRU_API_ID="", CRM_HOST="crm.local",
                                                                              BITRIX_HOST="", BITRIX_WEBHOOK_KEY=""))
    seen: list[str] = []
    try:
        await_line(proc, "routing on agi://", seen, seconds=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    warned = [line for line in seen if "WARNING" in line and "not set in the environment" in line]
    assert len(warned) == 2 and "${SMSRU_API_ID}" in warned[0] and "${BITRIX_HOST}, ${BITRIX_WEBHOOK_KEY}" in warned[1]
