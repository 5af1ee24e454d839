"""The second CRM through the same operations: amoCRM's API v4 on a local server (tests/fake_crm.py), real
Redis and FastAGI, an injected clock."""

from __future__ import annotations

import pytest

from router.asterisk.agi import FastAGIServer
from router.asterisk.callsim import call
from router.crm.amocrm import TOKEN_ENV, URL_ENV
from router.crm.sync import attach
from router.service import Router
from tests.fake_crm import FakeAmoCrm
from tests.helpers import MANAGER_FIRST, MONDAY_10, Clock, answered, compiled, missed

OLGA, CONTACT, IVANOV, DUTY = "+79161234500", 4242, 8001, 8002
RULES = compiled(MANAGER_FIRST + """
followup: {deadline: 30m, owner: duty}
crm:
  type: amocrm
  rate: 50
  default_user: duty
  users:
    ivanov: {id: 8001}
    duty: {id: 8002}
  recording_url: https://pbx.example.com/rec/{date}/{linkedid}.wav
""")


@pytest.fixture
async def amo(monkeypatch):
    a = FakeAmoCrm()
    a.users = [{"id": IVANOV, "name": "Ivan", "rights": {"is_active": True}},
               {"id": DUTY, "name": "Duty", "rights": {"is_active": True}}]
    a.contacts[OLGA] = CONTACT
    await a.up()
    monkeypatch.setenv(URL_ENV, a.url)
    monkeypatch.setenv(TOKEN_ENV, FakeAmoCrm.TOKEN)
    yield a
    await a.down()


async def test_calls_and_a_task_kept_in_amocrm_through_the_same_operations(store, amo):
    await store.put_customers([(OLGA, {"name": "Olga", "manager": "ivanov"})])
    router = Router(RULES, store, clock=Clock(MONDAY_10), budget=2.0)
    attach(router)
    agi = FastAGIServer({"route": router.answer}, "127.0.0.1", 0)
    await agi.start()
    try:
        decision = (await call(agi.port, OLGA, uid=1)).variables["ROUTE_DECISION"]
        await router.on_outcome(missed(OLGA, "1.1", decision))
        await router.followups.drain()
        second = (await call(agi.port, OLGA, uid=2)).variables["ROUTE_DECISION"]
        await router.on_outcome(missed(OLGA, "1.2", second))
        await router.followups.drain()
        callback = answered(OLGA, "outbound", by="PJSIP/101")
        await router.on_outcome(callback)
        await router.followups.drain()
    finally:
        await agi.close()
        await router.followups.outbox.close()
    [task_id] = amo.tasks
    assert amo.methods() == ["GET /api/v4/users", "POST /api/v4/calls", "POST /api/v4/tasks", "POST /api/v4/calls",
                             "POST /api/v4/contacts/notes", "POST /api/v4/calls", f"PATCH /api/v4/tasks/{task_id}"]
    calls = [body["items"][0] for m, body in amo.log if m == "POST /api/v4/calls"]
    assert [(c["direction"], c["call_status"], c["responsible_user_id"], c["uniq"]) for c in calls] == [
        ("inbound", 6, IVANOV, decision), ("inbound", 6, IVANOV, second),
        ("outbound", 4, IVANOV, f"2.2:outbound:{OLGA}")]
    assert calls[2]["duration"] == 60 and calls[2]["link"] == "https://pbx.example.com/rec/2026/11/23/2.2.wav"
    assert "link" not in calls[0], "a missed call has no recording"
    task = amo.tasks[task_id]
    assert (task["entity_type"], task["entity_id"], task["responsible_user_id"]) == ("contacts", CONTACT, IVANOV)
    assert task["complete_till"] == int(MONDAY_10 + 1800) and task["is_completed"] is True
    note = next(body["items"][0] for m, body in amo.log if m.endswith("/notes"))
    assert note == {"entity_id": CONTACT, "note_type": "common",
                    "params": {"text": "missed call (caller hung up before anyone answered), rang 20.0 s"}}
