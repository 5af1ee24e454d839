"""How many chose what: callers through the menus, followed on AMI (the menus' UserEvents played by the simulated
PBX), counted per menu and option in the day's report."""

from __future__ import annotations

import asyncio

from router.asterisk.callsim import call
from router.asterisk.pbxsim import Attempt, Press, SimulatedPBX
from router.reports.reader import report
from router.reports.report import text
from router.reports.tally import tally_menus
from tests.helpers import MENU_RULES_TEXT, MONDAY, MONDAY_10, Clock, ami_target, compiled, open_report, outcomes

MENUS = compiled(MENU_RULES_TEXT)
SUPPORT_LINE = "88006008200"


def test_the_outcome_says_which_menus_the_caller_left_by_which_key_and_where_they_hung_up():
    async def hung_up_typing(pbx: SimulatedPBX) -> None:
        caller = await pbx.arrive("+79161230001", "d-1")
        assert await pbx.in_menus(caller, [Press("main", "5"), Press("contract", "")])

    [o] = outcomes(hung_up_typing)
    assert (o["result"], o["by"], o["menus"], o["menu_left"]) == ("answered", "ivr:callrouter-menu-main",
                                                                  [["main", "5"]], "contract")

    async def chose_3(pbx: SimulatedPBX) -> None:
        caller = await pbx.arrive("+79161230002", "d-1")
        assert not await pbx.in_menus(caller, [Press("main", "9"), Press("main", "3")])
        await pbx.routed(caller, "d-2")
        await pbx.walk(caller, "d-2", [Attempt("queue", "new-connection", "answer", 5, 60, member="PJSIP/201")])

    [o] = outcomes(chose_3)
    assert (o["result"], o["by"], o["decision"], o["menus"]) == ("answered", "PJSIP/201", "d-2",
                                                                 [["main", "9"], ["main", "3"]])
    assert "menu_left" not in o and "ivr" not in o


def test_a_call_counts_once_per_menu_and_way_out_and_its_type_under_the_last_menu_it_left():
    assert tally_menus([["main", "9"], ["main", "3"]], "", "new_connection") == {
        "mn|main|in": 1, "mn|main|k|9": 1, "mn|main|k|3": 1, "mt|main|new_connection": 1}
    assert tally_menus([["main", "5"]], "contract", "support") == {
        "mn|main|in": 1, "mn|main|k|5": 1, "mn|contract|in": 1, "mn|contract|left": 1}
    assert tally_menus([], "", "support") == {}


async def place_menu_calls(serve, store, ami):
    """Six callers on the support line, each through the menu as `ways` says: two press 3 (one is answered,
    one gives up in the queue), one presses 2, one waits to the last timeout, one hangs up typing a contract
    number, one hangs up listening. The router, its AMI listener and the report are the real ones."""
    clock = Clock(MONDAY_10)
    r = await serve(MENUS, clock, token="tk", ami=ami_target(ami))
    await asyncio.wait_for(r.ami.synced.wait(), 30)
    pbx = SimulatedPBX(ami, speed=1e6)
    ways = [  # (presses, then: how the chain the router answers ends, or None when the caller hung up in a menu)
        ([Press("main", "3")], "answer:5:60"), ([Press("main", "3")], "hangup:30:0"),
        ([Press("main", "2")], "answer:8:120"), ([Press("main", "timeout")], "answer:3:30"),
        ([Press("main", "5"), Press("contract", "")], None), ([Press("main", "")], None)]
    decided: list[str] = []
    for n, (presses, fate) in enumerate(ways, 1):
        number = f"+7916123{n:04d}"
        first = await call(r.agi.port, number, uid=n, dnid=SUPPORT_LINE)
        caller = await pbx.arrive(number, first.variables["ROUTE_DECISION"])
        if await pbx.in_menus(caller, presses):
            continue
        last = presses[-1]
        args = (f"menu={last.menu}", f"key={last.key}", *(("choice=new-connection",) if last.key == "3" else ()))
        again = await call(r.agi.port, number, uid=n, dnid=SUPPORT_LINE, args=args)
        decided.append(again.variables["ROUTE_DECISION"])
        await r.router.log.flush()  # the decision's facts are in the store before its call ends, as in a real call
        await pbx.routed(caller, decided[-1])
        result, ring, talk = fate.split(":")
        kind, dest = again.chain()[0][:2]
        await pbx.walk(caller, decided[-1], [Attempt(kind, dest, result, float(ring), float(talk),
                                                     member="PJSIP/201")])
    await r.router.log.flush()
    async with asyncio.timeout(30):
        while await store.r.xlen(store.k.outcomes) < len(ways) or r.ami.pending:
            await asyncio.sleep(0.05)
    return r, decided


async def test_the_report_counts_per_menu_and_option_what_callers_did(serve, store, ami):
    r, decided = await place_menu_calls(serve, store, ami)
    clock = r.router.clock
    day = await report(store, MENUS, [MONDAY], clock())
    main_menu, contract = day["menus"]
    assert (main_menu["menu"], main_menu["label"], main_menu["entered"]) == ("main", "self-service menu", 6)
    assert {o["key"]: (o["label"], o["callers"]) for o in main_menu["options"]} == {
        "1": ("support", 0), "2": ("payment", 1), "3": ("new connection", 2), "5": ("menu contract", 1),
        "9": ("repeat", 0), "0": ("operator", 0)}
    assert (main_menu["timed_out"], main_menu["invalid"], main_menu["left"]) == (1, 0, 1)
    assert {t["type"]: t["calls"] for t in main_menu["types"]} == {"new_connection": 2, "payment": 1, "": 1}
    assert (contract["entered"], contract["left"], contract["identified"]) == (1, 1, 0)
    assert day["inbound"]["missed"] == 1, "the caller who hung up in a menu is no missed call; the queue's is"
    printed = text(day)
    assert ("  self-service menu: 6 entered; 1 support 0, 2 payment 1, 3 new connection 2, 5 menu contract 1, "
            "9 repeat 0, 0 operator 0; timed out 1, wrong keys 0, hung up 1") in printed
    assert "    calls from it by type: new connection 2, no type 1, payment question 1" in printed

    await r.router.set_call_type(decided[2], "support", "head")
    corrected = (await report(store, MENUS, [MONDAY], clock()))["menus"][0]["types"]
    assert {t["type"]: t["calls"] for t in corrected} == {"new_connection": 2, "support": 1, "": 1}, \
        "a corrected type moves the menu's count"


async def test_the_report_page_shows_each_menu(serve, store, ami, browser, tmp_path):
    from selenium.webdriver.common.by import By

    r, _ = await place_menu_calls(serve, store, ami)
    await open_report(browser, r.http_port, MONDAY, "tk")
    rows = await asyncio.to_thread(lambda: [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in
                                            browser.find_elements(By.CSS_SELECTOR, "#menus table[data-menu=main] tr")])
    assert rows[:4] == [["self-service menu", "callers"], ["entered the menu", "6"], ["key 1: support", "0"],
                        ["key 2: payment", "1"]]
    assert ["hung up in the menu", "1"] in rows and ["calls from it typed new connection", "2"] in rows
    await asyncio.to_thread(browser.execute_script, "document.getElementById('menus-section').scrollIntoView()")
    assert await asyncio.to_thread(browser.save_screenshot, str(tmp_path / "menus.png"))
