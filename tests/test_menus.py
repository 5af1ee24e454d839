"""Menus in the rule file: what `router check` accepts and refuses, where, and what one engine decides for a
caller who pressed a key or typed a number."""

from __future__ import annotations

import textwrap

import pytest

from router.asterisk.routevars import route_variables
from router.asterisk.variables import agi_asked
from router.cli.main import main
from router.core.decide import decide
from router.core.identify import profile
from router.core.menus import NOT_ASKED, Asked, luhn_valid
from router.core.phones import normalise
from router.core.rulefile import RuleFileError, load_rules
from router.core.snapshot import Snapshot
from tests.helpers import CONTRACT, MENU_RULES_TEXT, MONDAY_10, RULES_DIR, compiled, problems

MENUS = compiled(MENU_RULES_TEXT)


def broken(old: str, new: str) -> list[str]:
    assert old in MENU_RULES_TEXT, old
    return problems(MENU_RULES_TEXT.replace(old, new, 1))


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_shipped_rules_have_the_self_service_menu_and_an_input_menu():
    rs = load_rules(RULES_DIR)
    main_menu = rs.menus["main"]
    assert [o.name() for o in main_menu.options.values()] == ["support", "payment", "new connection",
                                                              "menu contract", "repeat", "operator"]
    assert rs.targets["self_service"].menu == "main"
    assert rs.menus["contract"].input is not None and rs.menus["contract"].input.checksum == "luhn"


@pytest.mark.parametrize(("old", "new", "where", "said"), [
    ('"9": repeat', '"9": repaet', '"9": repaet', "menus.main.options.9: unknown action 'repaet': did you mean "
                                                  "'repeat'?"),
    ("    timeout: 10\n", "    timout: 10\n", "timout: 10", "menus.contract.timout: unknown key 'timout': did you "
                                                             "mean 'timeout'?"),
    ('"1": {target: support}', '"1": {target: suport}', '"1": {target: suport}',
     "menus.main.options.1.target: unknown target or manager 'suport' (did you mean 'support'?"),
    ('"5": {menu: contract}', '"5": {menu: contrat}', '"5": {menu: contrat}',
     "menus.main.options.5.menu: unknown menu 'contrat' (did you mean 'contract'?"),
    ("self_service:   {menu: main}", "self_service:   {menu: mian}", "self_service:   {menu: mian}",
     "targets.self_service.menu: unknown menu 'mian' (did you mean 'main'?"),
    ('"3": {choice: new-connection, label: new connection}', '"3": {choice: new-conection}',
     '"3": {choice: new-conection}', "menus.main.options.3.choice: choice 'new-conection' (did you mean "
                                     "'new-connection'?): no rule's `when: {choice: …}`"),
    ('"2": {target: support, type: payment, label: payment}', '"2": {target: support, type: paymnt}',
     '"2": {target: support, type: paymnt}', "menus.main.options.2.type: unknown call type 'paymnt'"),
    ('"0": operator', '"0": operator\n      "12": hangup', '"12": hangup',
     "menus.main.options.12: key '12': a menu's keys are 0-9, * and #"),
    ("    operator: operators\n    options:", "    options:", '"0": operator',
     "menus.main.options.0: operator: menu 'main' names no operator"),
    ("    on_timeout: {menu: main}", "    on_timeout: repeat", "on_timeout: repeat",
     "menus.contract.on_timeout: repeat would keep the caller in the menu for ever"),
    ("    input: {field: contract, length: 8, checksum: luhn}",
     "    input: {field: contract, length: 8, checksum: luhn}\n    options: {'1': hangup}", "  contract:",
     "menus.contract: a menu has either options: (one key each) or input: (digits), not both or neither"),
    ("length: 8,", "length: 30,", "length: 30", "length 30-30: between 1 and 20 digits"),
    ('"1": {target: support}', '"1": {target: support, choice: x}', '"1": {target: support, choice: x}',
     "an option does one thing: choice and target given together"),
    ("prompts: [custom/main-menu]", "prompts: [custom/main-menu&rm]", "prompts: [custom/main-menu&rm]",
     "menus.main.prompts[0]: sound 'custom/main-menu&rm': a file name as Playback takes it"),
])
def test_router_check_refuses_a_broken_menu_at_its_line(old, new, where, said):
    found = broken(old, new)
    text = MENU_RULES_TEXT.replace(old, new, 1)
    assert any(p.startswith(f"r.yaml:{line_of(text, where)}: ") and said in p for p in found), found


def test_a_menu_named_in_two_files_of_a_rule_directory_names_both_places(tmp_path):
    (tmp_path / "a.yaml").write_text(MENU_RULES_TEXT)
    (tmp_path / "b.yaml").write_text(textwrap.dedent("""\
        version: 1
        menus:
          billing:
            prompts: [custom/billing]
            options: {"1": hangup}
          main:
            prompts: [custom/other]
            options: {"1": hangup}
        """))
    with pytest.raises(RuleFileError) as e:
        load_rules(tmp_path)
    assert [str(p) for p in e.value.problems] == [f"{tmp_path / 'b.yaml'}:6: menus.main is already defined at "
                                                  f"{tmp_path / 'a.yaml'}:{line_of(MENU_RULES_TEXT, '  main:')}"]
    (tmp_path / "b.yaml").write_text("version: 1\nmenus:\n  billing:\n    prompts: [custom/billing]\n"
                                     "    options: {'1': hangup}\n")
    assert set(load_rules(tmp_path).menus) == {"main", "contract", "billing"}, "menus merge across files"


def test_luhn_and_what_a_typed_number_is_refused_for():
    assert luhn_valid("79927398713") and luhn_valid(CONTRACT) and not luhn_valid("12345678")
    typed = MENUS.rs.menus["contract"].input
    assert typed.problem(CONTRACT) == ""
    assert typed.problem("1234567") == "7 digits, 8 expected"
    assert typed.problem("12345678") == "the check digit does not match (Luhn)"
    assert typed.problem("1234*674") == "not digits"


def caller(number: str = "+79161234500", customer: dict | None = None, asked: Asked = NOT_ASKED, dnid: str = "",
           state: dict | None = None):
    snap = Snapshot(customer or {}, state or {}, [], None, frozenset())
    return profile(normalise(number, "RU"), number, "", dnid, snap, MENUS.rs, MONDAY_10, asked=asked)


def test_a_first_ask_routes_to_the_menu_context():
    d = decide(MENUS, caller(customer={"abc": "B"}), frozenset(), MONDAY_10)
    assert [(s.type, s.dest) for s in d.steps] == [("ivr", "callrouter-menu-main")]


def test_a_choice_is_decided_by_the_rules_with_the_strategy_priority_and_the_type():
    d = decide(MENUS, caller(asked=Asked("main", "3", "new-connection")), frozenset(), MONDAY_10)
    assert d.rule == "new connection chosen in the menu" and d.type == "new_connection" and d.prospect
    assert [s.dest for s in d.steps] == ["new-connection", "operators"] and d.priority == 10
    assert "IVR choice: new-connection" in d.reasons and "menu main: key 3" in d.reasons


def test_a_target_option_is_decided_before_the_rules_even_for_an_a_customer():
    a_customer = {"abc": "A", "manager": "ivanov"}
    d = decide(MENUS, caller(customer=a_customer, asked=Asked("main", "2")), frozenset(), MONDAY_10)
    assert (d.rule, d.type, [s.dest for s in d.steps]) == ("menu main: 2", "payment", ["support"])
    assert d.reasons[0] == "menu main: 2 → support (the menu's option)"
    operator = decide(MENUS, caller(asked=Asked("main", "0")), frozenset(), MONDAY_10)
    assert [s.dest for s in operator.steps] == ["operators"] and operator.rule == "menu main: 0"
    timed_out = decide(MENUS, caller(asked=Asked("main", "timeout")), frozenset(), MONDAY_10)
    assert [s.dest for s in timed_out.steps] == ["operators"], "on_timeout defaults to the operator"


def test_a_menu_key_the_rules_no_longer_have_is_routed_by_the_rules_and_the_reasons_say_so():
    d = decide(MENUS, caller(customer={"abc": "A", "manager": "ivanov"}, asked=Asked("main", "7")), frozenset(),
               MONDAY_10)
    assert d.rule == "A customers reach their manager"
    assert ("menu main has no key 7 in the rules: was the menus' dialplan written from older rules? (router ivr "
            "dialplan)") in d.reasons


def test_agi_arguments_of_a_second_ask_are_kept_to_plain_words_and_digits():
    env = {"agi_arg_1": "menu=main", "agi_arg_2": "key=input", "agi_arg_3": "contract=1234;5\n678*#",
           "agi_arg_4": 'choice=a"b c'}
    assert agi_asked(env) == Asked("main", "input", "abc", "12345678*#")
    assert not agi_asked({}) and agi_asked({"agi_arg_1": "choice=x"})


def test_check_with_sounds_names_each_missing_prompt_and_the_near_one(tmp_path, capsys):
    rules = tmp_path / "r.yaml"
    rules.write_text(MENU_RULES_TEXT)
    sounds = tmp_path / "sounds"
    (sounds / "en" / "custom").mkdir(parents=True)
    (sounds / "custom").mkdir()
    (sounds / "en" / "custom" / "main-menu.gsm").write_bytes(b"x")
    (sounds / "custom" / "enter_contract.wav").write_bytes(b"x")
    assert main(["check", str(rules), "--sounds", str(sounds)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{rules}:{line_of(MENU_RULES_TEXT, 'invalid_prompt')}: menus.main.invalid_prompt: no sound "
                   f"file custom/invalid-key.* under {sounds}",
                   f"{rules}:{line_of(MENU_RULES_TEXT, 'custom/enter-contract')}: menus.contract.prompts[0]: no "
                   f"sound file custom/enter-contract.* under {sounds}; did you mean 'custom/enter_contract'?"]
    (sounds / "custom" / "invalid-key.ulaw").write_bytes(b"x")
    (sounds / "custom" / "enter-contract.wav").write_bytes(b"x")
    assert main(["check", str(rules), "--sounds", str(sounds)]) == 0
    assert "OK — 4 rules, 5 targets, 1 managers, 2 menus" in capsys.readouterr().out
    assert main(["check", str(rules), "--sounds", str(tmp_path / "nowhere")]) == 2


def test_simulate_with_keys_shows_the_menu_path_and_each_decision(tmp_path, capsys):
    rules = tmp_path / "r.yaml"
    rules.write_text(MENU_RULES_TEXT)
    base = ["simulate", "--rules", str(rules), "--caller", "+79031112233", "--at", "2026-11-23T10:00"]
    assert main([*base, "--keys", "3"]) == 0
    out = capsys.readouterr().out
    assert "1. ivr   callrouter-menu-main" in out
    assert "menu main: key 3 → new connection: the router is asked again" in out
    assert "rule: new connection chosen in the menu   priority 10" in out
    assert main([*base, "--keys", "7", "t", "5", "1234", "t", "0"]) == 0
    out = capsys.readouterr().out
    for said in ("menu main: key 7 → try 1 of 3: the prompts again",
                 "menu main: no key (timeout) → try 2 of 3: the prompts again", "menu main: key 5 → menu contract",
                 "menu contract: typed 1234: wrong number (4 digits, 8 expected) → try 1 of 2: the prompts again",
                 "menu contract: no key (timeout) → menu main", "menu main: key 0 → operator: the router is asked "
                 "again", "rule: menu main: 0"):
        assert said in out, out
    assert main([*base, "--keys", "5", CONTRACT]) == 0
    assert "wrong number (no store given (--store): the number cannot be looked up)" in capsys.readouterr().out


def test_a_rule_that_would_send_a_caller_back_into_a_menu_is_passed_over_after_one():
    typed = Asked("contract", "input", "", CONTRACT)
    d = decide(MENUS, caller(customer={"abc": "B"}, asked=typed), frozenset(), MONDAY_10)
    assert (d.rule, [s.dest for s in d.steps]) == ("fallback", ["support"])
    assert d.reasons[0] == ("no rule matched (rule 'everyone else chooses in the menu' passed over: it sends callers "
                            "to a menu, and this one has just left menu contract) → fallback")
    first = decide(MENUS, caller(customer={"abc": "B"}), frozenset(), MONDAY_10)
    assert first.rule == "everyone else chooses in the menu", "a first ask reaches the menu"


def test_a_called_number_the_menu_passes_back_cannot_add_an_agi_argument():
    d = decide(MENUS, caller(customer={"abc": "B"}, dnid='8800,choice=new-connection)"x'), frozenset(), MONDAY_10)
    assert ("ROUTE_DNID", "8800choicenewconnectionx") in route_variables(d, "Europe/Moscow")
    assert agi_asked({"agi_arg_1": "menu=main", "agi_arg_2": "dnid=+7(495)123,45"}).dnid == "+749512345"
