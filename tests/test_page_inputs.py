"""The live page shows the company, the last agent, the CRM fields and the strategy (headless Chromium)."""

from __future__ import annotations

import asyncio

import aiohttp

from router.asterisk.callsim import call
from tests.fake_services import OLGA, FakeCrm, crm_rules
from tests.helpers import MONDAY_10, Clock, answered_by, until


async def test_page_shows_company_last_agent_crm_and_the_strategy_switch(serve, store, browser):
    from selenium.webdriver.common.by import By

    crm = FakeCrm()
    await crm.start()
    try:
        crm.contacts["+79035550201"] = {**OLGA, "status": "debtor"}
        await store.put_company("acme", {"name": "ACME Holding", "abc": "B", "manager": "ivanov"},
                                [(749512300000000, 749512399999999)])
        await store.record_outcome(answered_by("+74951234567", "PJSIP/102", MONDAY_10 - 3600))
        await store.open_task("+74951234567", {"id": "fu-p", "number": "+74951234567", "owner": "ivanov",
                                               "state": "open", "deadline": MONDAY_10 + 1800}, {"text": "missed"})
        r = await serve(crm_rules(crm.port), Clock(MONDAY_10))
        await asyncio.to_thread(browser.get, f"http://127.0.0.1:{r.http_port}/")
        await until(browser, lambda d: d.find_element(By.ID, "status").text == "live")
        header = await asyncio.to_thread(lambda: browser.find_element(By.ID, "strategy").text)
        assert header == "strategy: expansion"

        await call(r.agi.port, "+74951234567", uid=1)
        await until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#decisions tbody tr .company"))
        row = await asyncio.to_thread(lambda: browser.find_element(By.CSS_SELECTOR, "#decisions tbody tr").text)
        assert "company ACME Holding" in row and "last agent PJSIP/102" in row and "task owner ivanov" in row

        await call(r.agi.port, "+79035550201", uid=2)
        await until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#decisions tbody tr .crm"))
        row = await asyncio.to_thread(lambda: browser.find_element(By.CSS_SELECTOR, "#decisions tbody tr").text)
        assert "CRM" in row and "status debtor" in row and "debtors go to collections" in row

        async with aiohttp.ClientSession() as s, s.post(f"http://127.0.0.1:{r.http_port}/api/strategy",
                                                        json={"strategy": "retention", "by": "head"}) as resp:
            assert resp.status == 200
        await until(browser, lambda d: "retention" in d.find_element(By.ID, "strategy").text)
        header = await asyncio.to_thread(lambda: browser.find_element(By.ID, "strategy").text)
        assert header.startswith("strategy: retention (by head")
    finally:
        await crm.close()
