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


async def test_a_deadline_on_another_day_shows_its_date_and_todays_only_its_time(serve, browser):
    import time
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from selenium.webdriver.common.by import By

    now = time.time()  # the browser's today is the real one
    clock = Clock(now)
    r = await serve(compiled(RULES_TEXT), clock)
    await r.router.followups.on_outcome(missed("+79161234500", "1", ended_at=now))  # due in 30 min: today
    clock.advance(3 * 86400)
    await r.router.followups.on_outcome(missed("+79169998877", "2", ended_at=now))  # due in three days
    await asyncio.to_thread(browser.get, f"http://127.0.0.1:{r.http_port}/")
    rows = await until(browser, lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, "#followups tbody tr")
                                           if r.get_attribute("data-id")][:2] if len(
        d.find_elements(By.CSS_SELECTOR, "#followups tbody tr[data-id]")) == 2 else [])
    cells = {await asyncio.to_thread(lambda row=row: row.text.split()[0]):
             await asyncio.to_thread(lambda row=row: row.find_element(By.CSS_SELECTOR, ".deadline").text)
             for row in rows}
    zone = ZoneInfo("Europe/Moscow")
    soon, later = datetime.fromtimestamp(now + 1800, zone), datetime.fromtimestamp(now + 3 * 86400 + 1800, zone)
    if soon.date() == datetime.fromtimestamp(now, zone).date():  # not when the test runs at 23:45 Moscow time
        assert cells["+79161234500"].removesuffix(" overdue") == soon.strftime("%H:%M")
    assert later.strftime("%H:%M") in cells["+79169998877"] and str(later.day) in cells["+79169998877"]
    assert cells["+79169998877"] != later.strftime("%H:%M"), "another day's deadline carries its date"
