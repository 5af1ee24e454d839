"""What the real Asterisk does with the router's one AGI command, and the simulator agrees."""

from __future__ import annotations

import asyncio
import re

from router.asterisk import mset
from router.asterisk.agi import AGISession, FastAGIServer
from router.asterisk.callsim import Channel
from tests.live.stack import HOSTILE, needs_asterisk

pytestmark = needs_asterisk


async def probe(ami, commands: list[str]) -> list[tuple[str, list[str]]]:
    """Run `commands` in a FastAGI session of a real call; each command with Asterisk's reply lines."""
    transcript: list[tuple[str, list[str]]] = []
    done = asyncio.get_running_loop().create_future()

    async def session(s: AGISession) -> None:
        try:
            for line in commands:
                s.conn.write(line.encode() + b"\n")
                transcript.append((line, [(await s.conn.readline()).decode().rstrip("\n")]))
        finally:
            done.set_result(True)

    server = FastAGIServer({"probe": session}, port=0)
    await server.start()
    port = server.port
    try:
        await ami.call("100", "+79990000001", context="live-agi", PROBE_AGI=f"agi://127.0.0.1:{port}/probe")
        async with asyncio.timeout(15):
            await done
    finally:
        await server.close()
    return transcript


async def test_quotes_backslashes_commas_pipes_semicolons_and_cyrillic_survive_one_mset(ami):
    lines = mset.commands(HOSTILE.items())
    gets = [f"GET VARIABLE {name}" for name in HOSTILE]
    transcript = await probe(ami, [*lines, *gets])
    assert len(lines) == 1 and transcript[0][1] == ["200 result=0"]
    read_back = {cmd.split()[-1]: reply[0] for cmd, reply in transcript[1:]}
    for name, value in HOSTILE.items():
        assert read_back[name] == f"200 result=1 ({mset.clean(value)})", name
    assert read_back["ROUTE_TZ"] == "200 result=1 (line break EXEC Hangup)"


async def test_the_simulator_answers_mset_and_reads_back_as_asterisk_did(ami):
    lines = mset.commands(HOSTILE.items())
    commands = [*lines, *(f"GET VARIABLE {name}" for name in HOSTILE), "GET VARIABLE NEVER_SET"]
    transcript = await probe(ami, commands)
    chan = Channel()
    assert [(cmd, chan.reply(cmd)) for cmd, _ in transcript] == transcript


async def test_an_answer_sent_with_the_end_of_the_session_is_applied_and_the_agi_succeeds(live, ami):
    """The router does not wait for the reply to its last command: Asterisk still runs it, reads the end,
    leaves AGISTATUS SUCCESS and logs nothing about the session."""
    rule = "ночная смена"  # read back through UserEvent's own arguments: no commas or quotes here
    [line] = mset.commands([("ROUTE_RULE", rule)])

    async def session(s: AGISession) -> None:
        s.end_with(line)

    server = FastAGIServer({"probe": session}, port=0)
    await server.start()
    port = server.port
    try:
        for n in range(20):
            number = f"+7999100{n:04d}"  # not probe()'s number: its call may still be ending
            await ami.call("100", number, context="live-agi", PROBE_AGI=f"agi://127.0.0.1:{port}/probe")
            event = await ami.wait_for(lambda e, number=number: e.get("UserEvent") == "probe"
                                       and e.get("CallerIDNum") == number)
            assert (event.get("Status"), event.get("Rule")) == ("SUCCESS", rule), dict(event)
    finally:
        await server.close()
    # in a call, Asterisk logs `WARNING[thread][C-callid] file.c:`; ast_carefulwrite (utils.c) logs failed writes
    problems = [x for x in live.asterisk.messages().splitlines()
                if re.search(r"(WARNING|ERROR)\[\d+\](\[C-[0-9a-f]+\])? (res_agi|utils)\.c", x)]
    assert problems == [], "\n".join(problems)
