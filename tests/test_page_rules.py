"""The rules page in a real browser: a day replayed on the edited file, coverage, a rollout staged and rolled back."""

from __future__ import annotations

import asyncio
import os

from router.asterisk.callsim import call
from router.server import start
from router.service import Router
from tests.helpers import BASE_RULES, MONDAY, MONDAY_10, Clock, until

HOSTILE = "<img src=x onerror=alert(1)>"


async def test_the_rules_page_replays_shows_coverage_and_stages_a_rollout(store, browser, tmp_path):
    from selenium.webdriver.common.by import By

    path = tmp_path / "rules.yaml"
    path.write_text(BASE_RULES)
    await store.put_customers([("+79035550101", {"abc": "A", "manager": "ivanov"})])
    clock = Clock(MONDAY_10)
    running = await start(Router.from_path(path, store, clock=clock), ("127.0.0.1", 0), ("127.0.0.1", 0),
                          token="page-token")
    try:
        for uid, number in enumerate(("+79035550101", "+79161110000", "+79161110001"), 1):
            await call(running.agi.port, number, uid=uid)
            clock.advance(60)
        await running.router.log.flush()
        path.write_text(BASE_RULES.replace("name: everyone else", f"name: {HOSTILE}")
                        .replace("route: [support]\nfallback", "route: [management]\nfallback"))

        await asyncio.to_thread(browser.get, f"http://127.0.0.1:{running.http_port}/rules?token=page-token")
        await until(browser, lambda d: d.find_element(By.ID, "status").text == "ready")
        state = await asyncio.to_thread(lambda: browser.find_element(By.ID, "rollout-state").text)
        assert state == f"no rollout: version {running.router.rules.version} in force"

        await asyncio.to_thread(browser.execute_script, f"document.getElementById('day').value = '{MONDAY}'")
        button = await asyncio.to_thread(browser.find_element, By.CSS_SELECTOR, "#replay-form button")
        await asyncio.to_thread(button.click)
        await until(browser, lambda d: "would change" in d.find_element(By.ID, "replay-summary").text)
        summary = await asyncio.to_thread(lambda: browser.find_element(By.ID, "replay-summary").text)
        assert summary == f"{MONDAY}: 3 calls logged; 2 would change (2 going elsewhere), 1 unchanged"
        groups = await asyncio.to_thread(lambda: browser.find_element(By.ID, "replay-groups").text)
        assert f"everyone else {HOSTILE}" in groups, "rule names are shown as text, never as markup"
        assert "queue support → queue management" in groups

        button = await asyncio.to_thread(browser.find_element, By.CSS_SELECTOR, "#coverage-form button")
        await asyncio.to_thread(button.click)
        await until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#coverage tbody tr"))
        rows = await asyncio.to_thread(lambda: [r.text for r in browser.find_elements(By.CSS_SELECTOR,
                                                                                      "#coverage tbody tr")])
        assert rows[:2] == ["A customers 1 1", "everyone else 2 2"]

        button = await asyncio.to_thread(browser.find_element, By.CSS_SELECTOR, "#stage button")
        await asyncio.to_thread(button.click)
        await until(browser, lambda d: d.find_element(By.ID, "rollout-state").text.startswith("staged"))
        assert running.router.rollouts.staged is not None and running.router.rollouts.staged.share == 10
        shot = os.environ.get("PAGE_SCREENSHOT") or str(tmp_path / "rules.png")  # set it to keep a picture
        assert await asyncio.to_thread(browser.save_screenshot, shot)
        button = await asyncio.to_thread(browser.find_element, By.ID, "rollback")
        await asyncio.to_thread(button.click)
        await until(browser, lambda d: d.find_element(By.ID, "rollout-state").text.startswith("last rollout rolled"))
        assert running.router.rollouts.staged is None
    finally:
        await running.stop()
