"""The FastAGI simulator speaks like the real Asterisk 22.10.1 in tests/fixtures/asterisk/agi."""

from __future__ import annotations

import pytest

from tests.asterisk import AGI_RECORDINGS, Channel, exchanges, headers, parse_args

SESSIONS = sorted(p.name.removesuffix(".env.raw") for p in AGI_RECORDINGS.glob("*.env.raw"))
ROUTE_SESSIONS = [s for s in SESSIONS if "_route" in s]
SIMULATED = ("SET VARIABLE", "GET VARIABLE", "VERBOSE", "ANSWER", "CHANNEL STATUS", "FOOBAR", "HANGUP",
             "STREAM FILE", "EXEC")


def keys_of(block: bytes) -> list[str]:
    return [line.split(b":", 1)[0].decode() for line in block.split(b"\n") if line]


def test_recordings_are_present():
    assert len(SESSIONS) == 10 and len(ROUTE_SESSIONS) == 6


@pytest.mark.parametrize("name", SESSIONS)
def test_header_block_has_asterisks_keys_in_asterisks_order(name):
    recorded, _ = exchanges(name)
    recorded_keys = [k for k in keys_of(recorded) if not k.startswith("agi_arg_")]
    ours = keys_of(headers("route", 1, "+79201234567", "Ivan"))
    assert ours == recorded_keys
    assert recorded.endswith(b"\n\n") and headers("route", 1, "+7").endswith(b"\n\n")


@pytest.mark.parametrize("name", SESSIONS)
def test_simulated_channel_replies_as_asterisk_did(name):
    env, steps = exchanges(name)
    channel = next(v for k, v in (line.split(": ", 1) for line in env.decode().splitlines() if ": " in line)
                   if k == "agi_channel")
    chan = Channel(variables={"PRESET_VAR": "preset value", "CHANNEL": channel})
    compared = 0
    for command, replies in steps:
        expected = [r for r in replies if r != "HANGUP"]
        if command.upper().startswith(SIMULATED):
            assert chan.reply(command) == expected, command
            compared += 1
        if "HANGUP" in replies:
            chan.hung_up = True
    assert compared >= 3


def test_quoted_value_reads_back_unescaped_as_in_the_recording():
    _, steps = exchanges("agi_004_fixture")
    set_cmd = next(c for c, _ in steps if c.startswith("SET VARIABLE FIXTURE_NOTE"))
    get_reply = next(r for c, r in steps if c == "GET VARIABLE FIXTURE_NOTE")
    assert parse_args(set_cmd)[3] == "hello \"quoted\" world with spaces"
    assert get_reply == ['200 result=1 (hello "quoted" world with spaces)']


def test_empty_quoted_value_is_an_argument():
    assert parse_args('SET VARIABLE ROUTE_FALLBACK ""') == ["SET", "VARIABLE", "ROUTE_FALLBACK", ""]


def test_hangup_arrives_unprompted_after_a_reply_in_the_recording():
    _, steps = exchanges("agi_005_hangup-test_idle")
    assert steps[0][1] == ["200 result=1", "HANGUP"]


def test_one_mset_sets_every_value_as_the_real_asterisk_read_them_back():
    _, steps = exchanges("agi_010_mset_hostile_values")
    chan = Channel()
    assert steps[0][0].startswith('EXEC MSet "') and steps[0][1] == ["200 result=0"]
    assert [(c, chan.reply(c)) for c, _ in steps] == steps
    assert chan.variables["ROUTE_RULE"] == 'O"Brien, Jr. \\ (sales) [A] | night; =x'
