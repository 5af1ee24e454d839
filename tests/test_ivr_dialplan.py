"""The menus as the dialplan Asterisk runs: what `router ivr dialplan` writes, and what the shipped file holds."""

from __future__ import annotations

import re

from router.asterisk import variables as V
from router.cli.main import main
from router.core.rulefile import load_rules, load_rules_text
from router.ivr.dialplan import AGI_URL, WALK, dialplan, menu_context_lines, write
from tests.helpers import MENU_RULES_TEXT, ROOT, RULES_DIR

MENUS = load_rules_text(MENU_RULES_TEXT)
SHIPPED = (ROOT / "dialplans" / "callrouter-ivr.conf").read_text()


def extension(lines: list[str], exten: str) -> list[str]:
    """The applications of one extension, in order."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"exten => {exten},1,"))
    out = [lines[start].split(",", 2)[2]]
    for line in lines[start + 1:]:
        if not line.startswith(" same => "):
            break
        out.append(line.split(",", 1)[1])
    return out


def test_the_shipped_file_is_what_router_ivr_dialplan_writes_for_the_shipped_rules(capsys):
    assert main(["ivr", "dialplan", str(RULES_DIR)]) == 0
    assert capsys.readouterr().out == SHIPPED, "run: router ivr dialplan rules/ > dialplans/callrouter-ivr.conf"
    assert dialplan(load_rules(RULES_DIR)) == SHIPPED


def test_the_menus_ask_the_router_where_the_shipped_dialplan_does_and_walk_its_answer_the_same_way():
    shipped = (ROOT / "dialplans" / "callrouter.conf").read_text()
    assert f"AGI({AGI_URL})" in shipped and WALK in shipped


def test_a_key_leaves_the_menu_with_an_event_and_asks_the_router_again():
    lines = menu_context_lines("main", MENUS.menus["main"])
    assert lines[0] == "[callrouter-menu-main]"
    assert extension(lines, "s") == ["Answer()", "Set(CALLROUTER_MENU_TRIES=0)", "UserEvent(callrouter,Menu: main)",
                                     "Background(custom/main-menu)", "WaitExten(5)"]
    assert " same => n(prompt),Background(custom/main-menu)" in lines
    assert extension(lines, "3") == ["UserEvent(callrouter,Menu: main,Key: 3)", "Set(ROUTE_1_TYPE=)",
                                     f"AGI({AGI_URL},menu=main,key=3,choice=new-connection,dnid=${{ROUTE_DNID}})", WALK]
    assert extension(lines, "2")[2] == f"AGI({AGI_URL},menu=main,key=2,dnid=${{ROUTE_DNID}})", "no choice"
    assert extension(lines, "5") == ["UserEvent(callrouter,Menu: main,Key: 5)", "Goto(callrouter-menu-contract,s,1)"]
    assert extension(lines, "9") == ["UserEvent(callrouter,Menu: main,Key: 9)", "Goto(s,prompt)"]


def test_timeouts_and_wrong_keys_count_tries_then_go_where_the_menu_says():
    lines = menu_context_lines("main", MENUS.menus["main"])
    assert extension(lines, "t") == ["Set(CALLROUTER_MENU_TRIES=$[${CALLROUTER_MENU_TRIES} + 1])",
                                     "GotoIf($[${CALLROUTER_MENU_TRIES} < 3]?s,prompt)",
                                     "UserEvent(callrouter,Menu: main,Key: timeout)", "Set(ROUTE_1_TYPE=)",
                                     f"AGI({AGI_URL},menu=main,key=timeout,dnid=${{ROUTE_DNID}})", WALK]
    assert extension(lines, "i")[1] == "Playback(custom/invalid-key)"
    assert extension(lines, "i")[3] == "UserEvent(callrouter,Menu: main,Key: invalid)"


def test_an_input_menu_reads_digits_and_asks_with_them_and_a_wrong_number_is_a_try():
    lines = menu_context_lines("contract", MENUS.menus["contract"])
    digits = "${CALLROUTER_DIGITS}"
    assert extension(lines, "s")[3:] == [
        "Read(CALLROUTER_DIGITS,custom/enter-contract,8,,1,10)", f'GotoIf($["{digits}" = ""]?t,1)',
        "MSet(ROUTE_1_TYPE=,ROUTE_INPUT=)",
        f"AGI({AGI_URL},menu=contract,key=input,contract={digits},dnid=${{ROUTE_DNID}})",
        'GotoIf($["${ROUTE_INPUT}" = "wrong"]?i,1)', "UserEvent(callrouter,Menu: contract,Key: input)", WALK]
    assert extension(lines, "t")[1:] == ["GotoIf($[${CALLROUTER_MENU_TRIES} < 2]?s,prompt)",
                                         "UserEvent(callrouter,Menu: contract,Key: timeout)",
                                         "Goto(callrouter-menu-main,s,1)"]


def test_every_variable_the_generated_dialplan_uses_is_named_in_variables_py():
    text = dialplan(MENUS) + SHIPPED
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", text)) | set(re.findall(r"[(,]([A-Z][A-Z0-9_]*)=", text))
    named = {V.MENU_TRIES, V.MENU_DIGITS, V.INPUT, V.DNID, V.step_type(1), V.step_dest(1), "CALLROUTER_AGI"}
    assert used == named


def test_writing_the_file_replaces_it_at_once_and_says_when_nothing_changed(tmp_path, capsys):
    out = tmp_path / "callrouter-ivr.conf"
    assert write(out, "a\n") and out.read_text() == "a\n"
    assert not write(out, "a\n")
    assert [p.name for p in tmp_path.iterdir()] == ["callrouter-ivr.conf"], "no temporary file left behind"
    rules = tmp_path / "r.yaml"
    rules.write_text(MENU_RULES_TEXT)
    assert main(["ivr", "dialplan", str(rules), "-o", str(out)]) == 0
    assert out.read_text() == dialplan(MENUS)
    assert "2 menus; now: asterisk -rx \"dialplan reload\"" in capsys.readouterr().err
    assert main(["ivr", "dialplan", str(rules), "-o", str(out)]) == 0
    assert "(unchanged)" in capsys.readouterr().err
    rules.write_text(MENU_RULES_TEXT.replace('"9": repeat', '"9": repaet'))
    assert main(["ivr", "dialplan", str(rules), "-o", str(out)]) == 1
    assert "nothing written" in capsys.readouterr().err and out.read_text() == dialplan(MENUS)
