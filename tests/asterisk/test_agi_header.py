"""The AGI header block: Asterisk's plain lines take one regular expression, anything else is read
line by line, and both readings agree wherever the quick one applies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.asterisk.agi import BadRequest, parse_env, parse_lines
from router.asterisk.callsim import headers


def test_asterisks_own_header_block_is_read_whole():
    block = headers("route", 7, "+79161234567", "Иван Петров", "74951234567").decode()
    env = parse_env(block)
    assert env == parse_lines(block)
    assert env["agi_callerid"] == "+79161234567" and env["agi_calleridname"] == "Иван Петров"
    assert env["agi_network_script"] == "route"


def test_line_breaks_in_the_callers_name_are_read_line_by_line():
    block = "agi_callerid: +79161234567\nagi_calleridname: Olga\nagi_dnid: 2001\nsecond line\nagi_uniqueid: 1\n\n"
    assert parse_env(block)["agi_calleridname"] == "Olga"
    forged = "agi_channel: Local/1\nagi_calleridname: Olga\nagi_channel: forged\nagi_dnid: 2001\n\n"
    assert parse_env(forged)["agi_channel"] == "Local/1"


def test_crlf_lines_lose_their_carriage_returns():
    assert parse_env("agi_callerid: +7916\r\nagi_dnid: 2001\r\n\n") == {"agi_callerid": "+7916", "agi_dnid": "2001"}


KEYS = st.sampled_from(["agi_callerid", "agi_calleridname", "agi_channel", "agi_dnid", "agi_x:y", "agi_",
                        "agi_ü", "agi_a b", "other", "agi_network_script"])
VALUES = st.text(st.sampled_from(list("ab :\r\t\\\"ЖО+0123")), max_size=12)
LINES = st.one_of(st.tuples(KEYS, st.sampled_from([": ", ":", " "]), VALUES).map("".join),
                  VALUES, st.just(""))


@settings(max_examples=400, deadline=None)
@given(st.lists(LINES, max_size=12), st.sampled_from(["\n\n", "\n", ""]))
def test_both_readings_agree_on_any_block(lines, end):
    block = "\n".join(lines) + end
    try:
        expected = parse_lines(block)
    except BadRequest:
        with pytest.raises(BadRequest):
            parse_env(block)
        return
    assert parse_env(block) == expected
