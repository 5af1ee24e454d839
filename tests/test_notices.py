"""Notices reach people through a real SMTP server (aiosmtpd) and a server shaped like Telegram's bot API: a
missed call's task e-mailed to its owner, the attempts written on the task, a mail-server outage losing
nothing, a digest instead of a flood, quiet hours, escalation and overdue tasks."""

from __future__ import annotations

from router.core.outcome import Outcome
from router.web.people import PEOPLE_KEY
from tests.fake_services import TelegramApi
from tests.helpers import ESCALATION_POLICY, MONDAY_10, RULES_TEXT, Clock, add_user, compiled, wait_for

TOKEN = "123:test-bot-token"


def rules(mail_port: int, telegram_port: int = 0, extra: str = "") -> str:
    telegram = f'\n    telegram: {{api: "http://127.0.0.1:{telegram_port}", token: "${{TEST_TELEGRAM_TOKEN}}"}}' \
        if telegram_port else ""
    return RULES_TEXT + f"""
people:
  notices:
    every: 10m
    email: {{host: 127.0.0.1, port: {mail_port}, from: callrouter@example.com}}{telegram}
""" + extra


async def missed(router, number: str, linkedid: str) -> dict:
    await router.followups.on_outcome(Outcome(linkedid, "inbound", number, "missed", ring_seconds=20.0,
                                              ended_at=router.clock(), reason="no answer"))
    return next(t for t in await router.followups.worklist("open") if t["number"] == number)


async def test_a_missed_call_of_his_customer_is_e_mailed_to_the_manager_and_written_on_the_task(serve, store, mail):
    await store.put_customers([("+79035550101", {"abc": "A", "manager": "ivanov", "name": "Olga"})])
    await add_user(store, "ivanov", "agent", email="ivanov@example.com")
    await add_user(store, "petrova", "agent", email="petrova@example.com")
    r = await serve(compiled(rules(mail.port)), Clock(MONDAY_10))
    task = await missed(r.router, "+79035550101", "1.1")
    await wait_for(lambda: mail.mails)
    [sent] = mail.mails
    assert sent["To"] == "ivanov@example.com" and task["id"] in sent["Subject"]
    assert "+79035550101 (Olga)" in sent.get_content() and "call back by 2026-11-23 10:30" in sent.get_content()
    await wait_for(lambda: r.router.followups.outbox.counts[("email", "sent")] == 1)
    log = [c["text"] for c in (await store.task(task["id"]))["log"]]
    assert any(t.startswith("e-mail to ivanov: sent") for t in log), log


async def test_an_outage_of_the_mail_server_loses_no_notice(serve, store, mail):
    await store.put_customers([("+79035550101", {"abc": "A", "manager": "ivanov", "name": "Olga"})])
    await add_user(store, "ivanov", "agent", email="ivanov@example.com")
    clock = Clock(MONDAY_10)
    mail.stop()
    r = await serve(compiled(rules(mail.port)), clock)
    outbox = r.router.followups.outbox
    task = await missed(r.router, "+79035550101", "1.1")
    await wait_for(lambda: outbox.counts[("email", "failed_attempts")] == 1)
    log = [c["text"] for c in (await store.task(task["id"]))["log"]]
    assert any("e-mail to ivanov: attempt 1 failed" in t and "next try in 2s" in t for t in log), log
    assert (await outbox.status()).depth == 1, "kept in the outbox"
    mail.start()
    clock.advance(3)
    await wait_for(lambda: mail.mails)
    assert mail.mails[0]["To"] == "ivanov@example.com" and len(mail.mails) == 1
    await wait_for(lambda: outbox.counts[("email", "sent")] == 1)
    assert (await outbox.status()).depth == 0


async def test_a_flood_becomes_one_digest_per_person_and_quiet_hours_hold_it(serve, store, mail, monkeypatch):
    monkeypatch.setenv("TEST_TELEGRAM_TOKEN", TOKEN)
    telegram = TelegramApi(TOKEN)
    runner = await telegram.start()
    try:
        await add_user(store, "ivanov", "agent", email="ivanov@example.com", telegram="4242")
        await add_user(store, "petrova", "agent", email="petrova@example.com", quiet_hours="09:00-12:00")
        clock = Clock(MONDAY_10)
        r = await serve(compiled(rules(mail.port, telegram.port)), clock)
        notices = r.http.app[PEOPLE_KEY].notices
        for n in range(4):
            await store.put_customers([(f"+7903555020{n}", {"abc": "B", "manager": "ivanov"})])
            await missed(r.router, f"+7903555020{n}", f"2.{n}")
            if n == 0:
                await wait_for(lambda: len(mail.mails) == 1 and len(telegram.sent) == 1)
        await store.put_customers([("+79035550300", {"abc": "B", "manager": "petrova"})])
        await missed(r.router, "+79035550300", "3.0")
        await wait_for(lambda: notices.queued == 5)
        assert telegram.sent[0]["chat_id"] == "4242" and "+79035550200" in telegram.sent[0]["text"]
        clock.advance(5 * 60)
        await notices.sweep()
        assert len(mail.mails) == 1, "the next three wait for the digest: at most one message per 10 minutes"
        clock.advance(5 * 60)
        await notices.sweep()
        await wait_for(lambda: len(mail.mails) == 2 and len(telegram.sent) == 2)
        digest = mail.mails[1]
        assert digest["To"] == "ivanov@example.com" and digest["Subject"] == "callrouter: 3 notices for ivanov"
        assert all(f"+7903555020{n}" in digest.get_content() for n in (1, 2, 3))
        assert not any(m["To"] == "petrova@example.com" for m in mail.mails), "10:10, within her quiet hours"
        clock.advance(2 * 3600)
        await notices.sweep()
        await wait_for(lambda: any(m["To"] == "petrova@example.com" for m in mail.mails))
    finally:
        await runner.cleanup()


async def test_escalated_and_overdue_tasks_reach_their_new_owner(serve, store, mail, gateway):
    await add_user(store, "head", "head", email="head@example.com", holds=("head_of_sales",))
    await add_user(store, "ivanov", "agent", email="ivanov@example.com", holds=("duty",))
    clock = Clock(MONDAY_10)
    policy = ESCALATION_POLICY.replace("{port}", str(gateway.port))
    r = await serve(compiled(rules(mail.port, extra=policy)), clock)
    notices = r.http.app[PEOPLE_KEY].notices
    task = await missed(r.router, "+79161234500", "1.1")
    await wait_for(lambda: [m["To"] for m in mail.mails] == ["ivanov@example.com"])  # `duty` is his
    clock.advance(31 * 60)
    await notices.sweep()
    await wait_for(lambda: len(mail.mails) == 2)
    assert mail.mails[1]["To"] == "ivanov@example.com" and "is overdue" in mail.mails[1].get_content()
    await notices.sweep()
    assert len(mail.mails) == 2, "told once that it is overdue"
    clock.advance(30 * 60)
    await r.router.tick()  # an hour past the deadline: escalated to head_of_sales, whose tasks are head's
    await wait_for(lambda: len(mail.mails) == 3)
    assert mail.mails[2]["To"] == "head@example.com"
    assert f"Task {task['id']}" in mail.mails[2].get_content() and "escalated to you" in mail.mails[2].get_content()

