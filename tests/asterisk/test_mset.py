"""ROUTE_* values reach the channel intact through AGI's and MSet's parsers (the simulator parses as
Asterisk 22 does; tests/live proves the same values on a real Asterisk)."""

from __future__ import annotations

import pytest

from router.asterisk import mset
from router.asterisk.callsim import Channel, parse_args, separate_args

HOSTILE = ['O"Brien, Jr. \\ (sales) [A]', "Иван «VIP» Петров", "a|b;c", "x=y=z", "", "\\", '"', ",", "trail\\",
           "((", "]]", "${CALLERID(num)}", "tab\there"]


def test_hostile_values_come_back_as_they_were_sent():
    pairs = [(f"ROUTE_{i}_DEST", v) for i, v in enumerate(HOSTILE)]
    lines = mset.commands(pairs)
    chan = Channel()
    assert len(lines) == 1 and chan.reply(lines[0]) == ["200 result=0"]
    assert chan.variables == dict(pairs)


def test_a_line_break_cannot_start_a_second_command_and_becomes_a_space():
    [line] = mset.commands([("ROUTE_RULE", "night\nHANGUP\r\nEXEC System rm")])
    assert "\n" not in line and "\r" not in line
    chan = Channel()
    chan.reply(line)
    assert chan.variables == {"ROUTE_RULE": "night HANGUP EXEC System rm"}


def test_the_whole_argument_is_one_agi_word():
    [line] = mset.commands([("A", 'x y "z"'), ("B", "1")])
    assert parse_args(line)[:2] == ["EXEC", "MSet"] and len(parse_args(line)) == 3


@pytest.mark.parametrize("value", ["\\" * 1000, "ж" * 600, "a," * 500])
def test_lines_stay_under_asterisks_2k_command_buffer(value):
    pairs = [(f"ROUTE_{n}_DEST", value) for n in range(1, 6)]
    lines = mset.commands(pairs)
    assert all(len(line.encode()) + 1 <= 2048 for line in lines)
    chan = Channel()
    for line in lines:
        chan.reply(line)
    assert set(chan.variables) == {name for name, _ in pairs}
    assert all(mset.clean(value).startswith(v[:100]) for v in chan.variables.values())


def test_long_chains_split_below_msets_99_pairs():
    pairs = [(f"ROUTE_{n}_TIMEOUT", n) for n in range(1, 151)]
    lines = mset.commands(pairs)
    assert len(lines) == 2
    chan = Channel()
    for line in lines:
        chan.reply(line)
    assert chan.variables == {name: str(v) for name, v in pairs}


def test_separate_args_reads_like_asterisk():
    assert separate_args('a,"b,c",d\\,e,(f,g)') == ["a", "b,c", "d,e", "(f,g)"]
    assert separate_args("a,") == ["a", ""]
    assert separate_args("N=v=w", "=", 2) == ["N", "v=w"]
    assert separate_args("N=\\x", "=", 2) == ["N", "\\x"]  # the value after the first `=` is taken as it stands
