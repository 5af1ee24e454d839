"""The live page in a real browser (Debian's chromium, headless, driven by chromedriver)."""

from __future__ import annotations

import asyncio
import os

from router.asterisk.callsim import call
from tests.helpers import MONDAY_10, RULES_TEXT, Clock, compiled, missed, until


async def test_page_shows_decisions_live_and_closes_a_follow_up(serve, store, browser, tmp_path):
    from selenium.webdriver.common.by import By

    clock = Clock(MONDAY_10)
    await store.put_customers([("+79035550101", {"abc": "A", "manager": "ivanov", "name": "<b>Olga</b>"})])
    r = await serve(compiled(RULES_TEXT), clock, token="page-token")
    await r.router.followups.on_outcome(missed("+79161234500", "1"))
    clock.advance(40 * 60)
    await r.router.followups.on_outcome(missed("+79169998877", "2"))
    await asyncio.to_thread(browser.get, f"http://127.0.0.1:{r.http_port}/?token=page-token")
    await until(browser, lambda d: d.find_element(By.ID, "status").text == "live")

    await call(r.agi.port, "+79035550101", "<script>alert(1)</script>", uid=1)
    row = await until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#decisions tbody tr"))
    text = await asyncio.to_thread(lambda: row[0].text)
    assert "+79035550101" in text and "A customers reach their manager" in text and "dial PJSIP/101" in text
    assert "<b>Olga</b>" in text, "names are shown as text, never as markup"

    overdue = await asyncio.to_thread(browser.find_elements, By.CSS_SELECTOR, "#followups tr.overdue")
    assert len(overdue) == 1 and "+79161234500" in await asyncio.to_thread(lambda: overdue[0].text)
    counts = await asyncio.to_thread(lambda: browser.find_element(By.ID, "counts").text)
    assert "unassigned 2 1" in counts
    shot = os.environ.get("PAGE_SCREENSHOT") or str(tmp_path / "page.png")  # set it to keep a picture
    assert await asyncio.to_thread(browser.save_screenshot, shot)

    button = await asyncio.to_thread(browser.find_element, By.CSS_SELECTOR, "#followups tr.overdue button.close")
    await asyncio.to_thread(button.click)
    await until(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#followups tr.overdue"))
    closed = await r.router.followups.worklist("closed")
    assert [t["number"] for t in closed] == ["+79161234500"]
    assert closed[0]["closed_reason"] == "closed by hand by supervisor page"
