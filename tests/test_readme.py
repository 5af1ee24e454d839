"""The README and the guides in docs/ stay true: Quick start works in a venv, CI runs its test
command, every `router …` command they show is one the command accepts, and the files, settings,
HTTP routes and links they name exist."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from router.cli.main import parser
from tests.helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
GUIDES = sorted((ROOT / "docs").glob("*.md"))
DOCS = {"README.md": README} | {f"docs/{p.name}": p.read_text(encoding="utf-8") for p in GUIDES}
ACTIVATE = ". .venv/bin/activate"
REPO_DIRS = ("rules", "router", "tests", "bench", "dialplans", "asterisk", "docs")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)


def sh_blocks(text: str = README) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang == "sh"]


def quick_start() -> list[str]:
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"^```sh\n(.*?)^```", section, flags=re.S | re.M)
    assert block, "Quick start has a sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def steps(command: str) -> list[str]:
    return [s.strip() for s in command.split("&&")]


def test_there_are_guides_and_the_readme_maps_each():
    assert {p.name for p in GUIDES} >= {"operations.md", "asterisk.md", "rules.md", "followups-and-risk.md",
                                        "reports.md", "architecture.md"}
    for p in GUIDES:
        assert f"(docs/{p.name})" in README, f"README's map of docs/ lacks {p.name}"


def test_the_readme_is_a_front_door_not_a_manual():
    assert len(README.splitlines()) <= 200


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


def command_lines(text: str) -> list[str]:
    """Shell lines of the text: every line of a sh block, and `$ …` lines of any other block;
    continued lines joined, comments and redirections cut off, `&&` steps apart."""
    lines = []
    for lang, body in FENCE.findall(text):
        body = body.replace("\\\n", " ")
        for line in body.splitlines():
            if lang != "sh":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            line = re.split(r" #| > | \| ", line, maxsplit=1)[0].strip()
            lines += [s for s in steps(line) if s]
    return lines


def router_commands(text: str) -> list[list[str]]:
    """`router …` commands as argument lists (without `router`), environment assignments before them dropped."""
    out = []
    for line in command_lines(text):
        words = shlex.split(line)
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            words.pop(0)
        if words[:1] == ["router"]:
            out.append(words[1:])
    return out


def test_every_router_command_in_the_readme_and_the_guides_is_accepted():
    total = 0
    for name, text in DOCS.items():
        for args in router_commands(text):
            total += 1
            try:
                parser().parse_args(args)
            except SystemExit as e:
                pytest.fail(f"{name}: `router {shlex.join(args)}` is not a command `router` accepts (exit {e.code})")
    assert total >= 20


def test_router_commands_name_files_the_repository_has():
    for name, text in DOCS.items():
        for args in router_commands(text):
            for word in args:
                if word.split("/", 1)[0] in REPO_DIRS and "/" in word:
                    assert (ROOT / word).exists(), f"{name}: `router {shlex.join(args)}` names {word}, which is absent"


def sub_parser(words: list[str]):
    """The sub-parser a command's words lead to, and how many words named it."""
    p, used = parser(), 0
    while used < len(words):
        subs = [a for a in p._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subs or words[used] not in subs[0].choices:
            break
        p = subs[0].choices[words[used]]
        used += 1
    return p, used


def test_commands_written_in_the_text_use_options_that_exist():
    """`router …` in running text may hold placeholders (NUMBER, [--day …]): its command must exist
    and each --option it names must be one of that command's."""
    for name, text in DOCS.items():
        for span in re.findall(r"`(router [^`]+)`", text):
            words = span.split()[1:]
            p, used = sub_parser(words)
            assert used, f"{name}: `{span}` names no command of `router`"
            options = {o for a in p._actions for o in a.option_strings}
            for w in words[used:]:
                flag = w.strip("[]").split("=", 1)[0]
                if flag.startswith("--"):
                    assert flag in options, f"{name}: `{span}`: {flag} is not an option of that command"


def test_the_readme_and_the_guides_name_no_file_the_repository_lacks():
    dirs = "|".join(REPO_DIRS)
    for name, text in DOCS.items():
        for path in re.findall(rf"`((?:{dirs})/[\w./-]+\.\w+)`", text):
            assert (ROOT / path).exists() or Path(path).suffix == "", f"{name}: {path}"


def test_every_setting_the_guides_name_is_read_by_the_router_and_every_one_it_reads_is_documented():
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "router").rglob("*.py"))
    read = set(re.findall(r"[\"'](ROUTER_[A-Z_]+)[\"']", source))
    named = set(re.findall(r"\bROUTER_[A-Z_]*[A-Z]\b", "\n".join(DOCS.values())))
    assert named - read == set(), "settings the docs name that the router does not read"
    assert read - set(re.findall(r"\bROUTER_[A-Z_]*[A-Z]\b", DOCS["docs/operations.md"])) == set(), \
        "settings the router reads that docs/operations.md does not document"


def test_every_http_route_the_guides_name_is_served():
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "router" / "web").glob("*.py"))
    served = {re.sub(r"\{\w+\}", "{}", path) for path in re.findall(r"[\"'](/[\w./{}-]*)[\"']", source)}
    for name, text in DOCS.items():
        for method, path in re.findall(r"`(GET|POST|PUT|DELETE) (/[^`?\s\[]*)", text):
            assert re.sub(r"\{\w+\}", "{}", path) in served, f"{name}: {method} {path} is not a route of router/web"


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = heading.strip().lower()
    text = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


def test_links_between_the_readme_and_the_guides_lead_somewhere():
    for name, text in DOCS.items():
        here = (ROOT / name).parent
        prose = FENCE.sub("", text)
        for target in re.findall(r"\]\(([^)\s]+)\)", prose):
            if re.match(r"\w+://", target):
                continue
            file, _, anchor = target.partition("#")
            path = (here / file).resolve() if file else ROOT / name
            assert path.exists(), f"{name}: link to {target}: no such file"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", FENCE.sub("", path.read_text(encoding="utf-8")), flags=re.M)
                assert anchor in {slug(h) for h in headings}, f"{name}: link to {target}: no such heading"
