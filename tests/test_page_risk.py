"""The live page's risk list and escalated follow-ups, in a real headless browser."""

from __future__ import annotations

import asyncio
import os

import aiohttp
import pytest

from tests.helpers import (
    DAY,
    ESCALATION_POLICY,
    HOUR,
    MONDAY_10,
    RISK_NUMBER,
    RISK_RULES_TEXT,
    Clock,
    compiled,
    missed,
    put_at_risk,
    until,
)


@pytest.mark.slow
async def test_page_lists_who_is_at_risk_and_the_escalated_follow_ups(serve, store, browser, tmp_path):
    from selenium.webdriver.common.by import By

    clock = Clock(MONDAY_10)
    await store.put_customers([(RISK_NUMBER, {"name": "<i>Anna</i>", "manager": "ivanov"})])
    r = await serve(compiled(RISK_RULES_TEXT + ESCALATION_POLICY.replace("{port}", "9")), clock)
    async with aiohttp.ClientSession() as s, s.post(
            f"http://127.0.0.1:{r.http_port}/api/events",
            json=[{"id": "r1", "number": RISK_NUMBER, "kind": "rating", "at": MONDAY_10 - DAY, "value": 1},
                  {"id": "v1", "number": RISK_NUMBER, "kind": "technician_visit", "at": MONDAY_10 - 2 * DAY}]) as resp:
        assert (await resp.json())["new"] == 2
    await r.router.on_outcome(missed("+79169998877", "1"))
    clock.advance(HOUR)
    await r.router.tick()
    await asyncio.to_thread(browser.get, f"http://127.0.0.1:{r.http_port}/")
    await until(browser, lambda d: d.find_element(By.ID, "status").text == "live")

    def first_row(d):
        """The row's text, read again if the list was redrawn meanwhile (it is on every follow-up event)."""
        from selenium.common.exceptions import StaleElementReferenceException

        try:
            rows = d.find_elements(By.CSS_SELECTOR, "#risk tbody tr[data-number]")
            return rows[0].text if rows else ""
        except StaleElementReferenceException:
            return ""

    text = await until(browser, first_row)
    assert RISK_NUMBER in text and "<i>Anna</i>" in text, "names are shown as text, never as markup"
    assert "low_rating +3: rating 1 on 2026-11-22" in text and "technician_visit +2" in text
    assert "ivanov" in text and "manager ivanov" in text
    levels = await asyncio.to_thread(lambda: browser.find_element(By.ID, "escalated").text)
    assert "Level 1 · 1" in levels and "+79169998877" in levels and "head_of_sales" in levels
    badges = await asyncio.to_thread(browser.execute_script,
                                     "return [...document.querySelectorAll('#followups .level')].map(b => b.text"
                                     "Content)")
    assert badges == ["L1"]
    shot = os.environ.get("RISK_PAGE_SCREENSHOT") or str(tmp_path / "risk.png")  # set it to keep a picture
    assert await asyncio.to_thread(browser.save_screenshot, shot)

    def click(css: str) -> None:
        browser.find_element(By.CSS_SELECTOR, css).click()

    me = await asyncio.to_thread(browser.find_element, By.ID, "me")
    await asyncio.to_thread(me.send_keys, "petrova")
    await asyncio.to_thread(click, "#risk button.take")
    await until(browser, lambda d: "petrova" in first_row(d))
    note = await asyncio.to_thread(browser.find_element, By.CSS_SELECTOR, "#risk input.note")
    await asyncio.to_thread(note.send_keys, "called, offered a free speed upgrade")
    await asyncio.to_thread(click, "#risk button.comment")
    await until(browser, lambda d: "3 notes" in first_row(d))
    await asyncio.to_thread(click, "#risk button.close")
    await until(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#risk button.close"))
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{r.http_port}/metrics") as resp:
        text = await resp.text()
    assert "callrouter_at_risk 1" in text and "callrouter_escalations_total 1" in text
    assert "callrouter_risk_entered_total 1" in text
    [task] = [t for t in await r.router.followups.worklist("closed") if t.get("kind") == "retention"]
    log = [c["text"] for c in (await store.task(task["id"]))["log"]]
    assert task["owner"] == "petrova" and task["closed_reason"] == "closed by hand by petrova"
    assert "petrova: called, offered a free speed upgrade" in log and "taken by petrova" in log


@pytest.mark.slow
async def test_long_lists_show_a_page_and_the_next_on_demand(serve, store, browser, tmp_path):
    from selenium.webdriver.common.by import By

    clock = Clock(MONDAY_10)
    r = await serve(compiled(RISK_RULES_TEXT), clock)
    await put_at_risk(store, 130, MONDAY_10)  # each with an open retention task: 130 follow-ups too
    await asyncio.to_thread(browser.get, f"http://127.0.0.1:{r.http_port}/")
    await until(browser, lambda d: d.find_element(By.ID, "status").text == "live")

    def rows(table: str) -> int:
        """The table's rows of items (not its "Show more" row)."""
        return len(browser.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr:not(.more)"))

    await until(browser, lambda d: rows("risk") == 100 and rows("followups") == 100)
    counts = await asyncio.to_thread(lambda: browser.find_element(By.ID, "counts").text)
    assert "ivanov 130 0" in counts, "the counts are of every follow-up, not of the page shown"
    shot = os.environ.get("PAGED_PAGE_SCREENSHOT") or str(tmp_path / "paged.png")
    await asyncio.to_thread(browser.execute_script, "document.querySelector('#risk button.more').scrollIntoView()")
    assert await asyncio.to_thread(browser.save_screenshot, shot)
    await asyncio.to_thread(lambda: browser.find_element(By.CSS_SELECTOR, "#risk button.more").click())
    await until(browser, lambda d: rows("risk") == 130)
    assert not await asyncio.to_thread(browser.find_elements, By.CSS_SELECTOR, "#risk button.more")
    numbers = await asyncio.to_thread(browser.execute_script,
                                      "return [...document.querySelectorAll('#risk tr[data-number]')]"
                                      ".map(tr => tr.dataset.number)")
    assert len(set(numbers)) == 130, "the second page adds the next 30, none twice"
    await asyncio.to_thread(lambda: browser.find_element(By.CSS_SELECTOR, "#followups button.more").click())
    await until(browser, lambda d: rows("followups") == 130)
