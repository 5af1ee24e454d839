"""The Call button on a person's page, in a real browser: one click rings his phone (the AMI simulator answers the
Originate), a refused number says which pattern refused it, and the preview worklist offers the next task."""

from __future__ import annotations

import asyncio
import os

from router.asterisk.amisim import AMIServer
from tests.helpers import MONDAY_10, RULES_TEXT, Clock, add_user, compiled, dial_target, missed, sign_in_on_page, until

PREVIEW_RULES = RULES_TEXT + """
callbacks:
  worklist:
    - {owner: ivanov, mode: preview}
"""


async def test_an_agent_calls_a_task_back_from_his_page_and_sees_a_refusal_named(serve, store, browser, ami: AMIServer,
                                                                                  tmp_path):
    from selenium.webdriver.common.by import By

    await store.put_customers([("+79161234500", {"name": "Olga", "manager": "ivanov"}),
                               ("+78091234567", {"name": "Premium line", "manager": "ivanov"})])
    await add_user(store, "ivanov", "agent")
    clock = Clock(MONDAY_10)
    r = await serve(compiled(PREVIEW_RULES), clock, originate=dial_target(ami))
    first = await r.router.followups.missed(missed("+79161234500", "1"), clock())
    clock.advance(60)
    premium = await r.router.followups.missed(missed("+78091234567", "2"), clock())
    await sign_in_on_page(browser, r.http_port, "ivanov")
    await until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'#tasks tr[data-id="{premium}"] button.call'))
    offered = await until(browser, lambda d: "+79161234500" in d.find_element(By.ID, "next").text)
    assert offered

    button = await asyncio.to_thread(browser.find_element, By.CSS_SELECTOR, f'#tasks tr[data-id="{first}"] button.call')
    await asyncio.to_thread(button.click)
    said = await until(browser, lambda d: d.find_element(By.CSS_SELECTOR, f'#tasks tr[data-id="{first}"] .said').text)
    assert said == "ringing PJSIP/101; when answered, +79161234500 is dialled"
    button = await asyncio.to_thread(browser.find_element, By.CSS_SELECTOR,
                                     f'#tasks tr[data-id="{premium}"] button.call')
    await asyncio.to_thread(button.click)
    refused = await until(browser, lambda d: d.find_element(By.CSS_SELECTOR,
                                                            f'#tasks tr[data-id="{premium}"] .said.refused').text)
    assert "refused by callbacks.deny 'premium'" in refused
    shot = os.environ.get("PAGE_SCREENSHOT") or str(tmp_path / "callbacks.png")
    assert await asyncio.to_thread(browser.save_screenshot, shot)
    await r.router.callbacks.wait()
    [originate] = [a for a in ami.actions if a.get("Action") == "Originate"]
    assert originate["Channel"] == "PJSIP/101"


async def test_the_live_page_calls_a_follow_up_back_for_the_person_named(serve, store, browser, ami: AMIServer,
                                                                         tmp_path):
    from selenium.webdriver.common.by import By

    clock = Clock(MONDAY_10)
    r = await serve(compiled(PREVIEW_RULES), clock, token="page-token", originate=dial_target(ami))
    task_id = await r.router.followups.missed(missed("+79161234500", "1"), clock())
    await asyncio.to_thread(browser.get, f"http://127.0.0.1:{r.http_port}/?token=page-token")
    me = await until(browser, lambda d: d.find_element(By.ID, "me"))
    await asyncio.to_thread(me.send_keys, "petrova")
    button = await until(browser, lambda d: d.find_element(By.CSS_SELECTOR,
                                                           f'#followups tr[data-id="{task_id}"] button.call'))
    await asyncio.to_thread(button.click)
    said = await until(browser, lambda d: d.find_element(By.CSS_SELECTOR,
                                                         f'#followups tr[data-id="{task_id}"] .said').text)
    assert said == "ringing PJSIP/102; when answered, +79161234500 is dialled"
    shot = os.environ.get("PAGE_SCREENSHOT_LIVE") or str(tmp_path / "live.png")
    assert await asyncio.to_thread(browser.save_screenshot, shot)
    await r.router.callbacks.wait()
