"""The README's commands stay true: Quick start works in a venv, CI runs its test command, every
`router …` line in it is one the command accepts."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from router.cli.main import parser
from tests.helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
ACTIVATE = ". .venv/bin/activate"


def sh_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", README, flags=re.S | re.M)


def quick_start() -> list[str]:
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"^```sh\n(.*?)^```", section, flags=re.S | re.M)
    assert block, "Quick start has a sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def steps(command: str) -> list[str]:
    return [s.strip() for s in command.split("&&")]


@pytest.mark.slow
def test_quick_start_is_two_commands_that_bash_can_read():
    commands = quick_start()
    assert len(commands) == 2
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash to parse the commands with")
    for c in commands:
        res = subprocess.run([bash, "-n", "-c", c], capture_output=True, text=True)
        assert res.returncode == 0, f"{c!r}: {res.stderr}"


def test_quick_start_installs_into_a_venv_never_into_the_system_python():
    demo, tests = (steps(c) for c in quick_start())
    assert "python3 -m venv .venv" in demo and demo[-1] == "router demo"
    for command in (demo, tests):
        pips = [i for i, s in enumerate(command) if s.startswith("pip install")]
        assert pips, command
        assert ACTIVATE in command and command.index(ACTIVATE) < pips[0], command
    assert any(s.startswith("apt-get install") and "python3-venv" in s for s in demo)


def test_ci_runs_the_readmes_test_command_in_its_venv():
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().replace("\\\n", " ").splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    readme = [s for s in steps(quick_start()[1]) if not s.startswith("apt-get")]
    assert readme == [ACTIVATE, "pip install '.[test]'", "pytest"]
    found = []
    for step in readme:
        words = shlex.split(step)
        at = next((i for i, line in enumerate(ci) if all(w in shlex.split(line) for w in words)), None)
        assert at is not None, f".ci/run does not run {step!r}"
        found.append(at)
    assert found == sorted(found), ".ci/run runs the README's steps in another order"
    assert any("python3 -m venv .venv" in line for line in ci)
    assert any(line.startswith("ruff check") for line in ci)


def router_lines() -> list[str]:
    out = []
    for block in sh_blocks():
        for line in block.splitlines():
            line = re.split(r" #| > | \| ", line, maxsplit=1)[0].strip()
            for part in steps(line):
                if part.startswith("router "):
                    out.append(part)
    return out


def test_every_router_command_in_the_readme_is_accepted():
    lines = router_lines()
    assert len(lines) >= 10
    for line in lines:
        try:
            parser().parse_args(shlex.split(line)[1:])
        except SystemExit as e:
            pytest.fail(f"README: {line!r} is not a command `router` accepts (exit {e.code})")


def test_readme_names_no_file_the_repository_lacks():
    for path in re.findall(r"`((?:rules|router|tests|bench|dialplans|asterisk)/[\w./-]+\.\w+)`", README):
        assert (ROOT / path).exists() or Path(path).suffix == "", path
