"""`router check --ami` against a real Asterisk with PJSIP: its QueueSummary and PJSIPShowEndpoints as they are."""

from __future__ import annotations

import asyncio
from pathlib import Path

from router.cli.main import main
from tests.live.sip.stack import SIP_TEST
from tests.live.stack import TESTER_SECRET

HERE = Path(__file__).resolve().parent

pytestmark = SIP_TEST


async def test_every_queue_and_endpoint_the_sip_rules_name_exists_on_the_real_asterisk(sip, capsys, tmp_path):
    url = f"ami://tester:{TESTER_SECRET}@127.0.0.1:{sip.stack.asterisk.ami_port}"
    assert await asyncio.to_thread(main, ["check", str(HERE / "rules.yaml"), "--ami", url]) == 0
    assert "every queue and PJSIP endpoint it names exists" in capsys.readouterr().out
    broken = tmp_path / "rules.yaml"
    broken.write_text((HERE / "rules.yaml").read_text().replace("PJSIP/111", "PJSIP/1111")
                      .replace("queue: new-connection", "queue: new-conection"))
    assert await asyncio.to_thread(main, ["check", str(broken), "--ami", url]) == 1
    out = capsys.readouterr().out
    assert "queue 'new-conection' is not known to the connected Asterisk (did you mean 'new-connection'?" in out
    assert "PJSIP endpoint '1111' is not known" in out


async def test_the_routers_own_ami_user_checks_queues_and_says_it_cannot_check_endpoints(sip):
    log = sip.stack.router_log()
    assert "PJSIP endpoints not checked: Asterisk refused PJSIPShowEndpoints" in log
    assert "is not known to the connected Asterisk" not in log, "the shipped queues and the tests' rules agree"
