"""The day/night switch on the live page, in a real browser: its button flips routing from the next call,
and a flip made elsewhere (the API, *28 on a phone) reaches an open page live."""

from __future__ import annotations

import asyncio

import aiohttp

from router.asterisk.callsim import call
from router.core.decide import CompiledRules
from router.core.rulefile import load_rules_text
from tests.helpers import MONDAY_10, Clock, until

RULES = """
version: 1
company: {timezone: Europe/Moscow, default_region: RU}
targets:
  office: {queue: office}
  duty: {dial: PJSIP/900}
rules:
  - name: night switch
    when: {switch: night}
    route: [duty]
  - name: office
    route: [office]
fallback: [office]
"""


def text_of(browser, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.ID, element_id).text


async def test_the_pages_button_flips_the_switch_and_a_flip_elsewhere_reaches_the_page(serve, store, browser):
    from selenium.webdriver.common.by import By

    r = await serve(CompiledRules(load_rules_text(RULES)), Clock(MONDAY_10), token="page-token")
    await asyncio.to_thread(browser.get, f"http://127.0.0.1:{r.http_port}/?token=page-token")
    await until(browser, lambda d: text_of(d, "status") == "live")
    assert await asyncio.to_thread(text_of, browser, "switch-state") == "day mode"
    assert await asyncio.to_thread(text_of, browser, "switch-flip") == "switch to night"

    button = await asyncio.to_thread(browser.find_element, By.ID, "switch-flip")
    await asyncio.to_thread(button.click)
    await until(browser, lambda d: text_of(d, "switch-state").startswith("night mode (by supervisor page"))
    assert await asyncio.to_thread(text_of, browser, "switch-flip") == "switch to day"
    assert (await store.strategy())["switch"] == "night"
    night_call = await call(r.agi.port, "+79161234500", uid=1)
    assert night_call.variables["ROUTE_RULE"] == "night switch"

    async with aiohttp.ClientSession(headers={"Authorization": "Bearer page-token"}) as http, \
            http.post(f"http://127.0.0.1:{r.http_port}/api/switch",
                      json={"switch": "day", "by": "<b>duty</b> supervisor"}) as resp:
        assert resp.status == 200
    await until(browser, lambda d: text_of(d, "switch-state").startswith("day mode (by <b>duty</b> supervisor"))
    bold = await asyncio.to_thread(browser.find_elements, By.CSS_SELECTOR, "#switch-state b")
    assert bold == [], "who flipped it is shown as text, never as markup"
    day_call = await call(r.agi.port, "+79161234501", uid=2)
    assert day_call.variables["ROUTE_RULE"] == "office"
