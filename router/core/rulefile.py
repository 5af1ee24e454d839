"""Reading rule files: YAML with line numbers, one file or a directory, errors as `file:line: message`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from router.core.rules import RuleSet, cross_check

Path_ = tuple[str | int, ...]
SINGLE_SECTIONS = ("version", "company", "identify", "fallback", "report")
NAMED_SECTIONS = ("targets", "managers", "types", "types_by_dnid")


@dataclass(frozen=True, slots=True)
class Located:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class RuleFileError(Exception):
    """Every problem found in a rule file or directory; the rules in force stay as they are."""

    def __init__(self, problems: list[Located]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


class _Document:
    """Plain data plus where each key and item came from."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.where: dict[Path_, tuple[str, int]] = {}


def _build(node: yaml.Node, path: Path_, file: str, where: dict, problems: list[Located], ctor) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Located(file, line, "a key must be a plain word"))
                continue
            key = ctor.construct_object(key_node)
            if key in out:
                problems.append(Located(file, line, f"{_dotted((*path, key))}: key given twice"))
                continue
            where[(*path, key)] = (file, line)
            out[key] = _build(value_node, (*path, key), file, where, problems, ctor)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            where[(*path, i)] = (file, item.start_mark.line + 1)
            items.append(_build(item, (*path, i), file, where, problems, ctor))
        return items
    return ctor.construct_object(node)


def _parse_text(text: str, file: str, problems: list[Located]) -> tuple[Any, dict]:
    where: dict[Path_, tuple[str, int]] = {(): (file, 1)}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark else 1
        problems.append(Located(file, line, f"not valid YAML: {getattr(e, 'problem', None) or e}"))
        return None, where
    if node is None:
        problems.append(Located(file, 1, "the file is empty"))
        return None, where
    data = _build(node, (), file, where, problems, yaml.SafeLoader(""))
    if not isinstance(data, dict):
        problems.append(Located(file, node.start_mark.line + 1, "a rule file is a mapping (version:, targets:, …)"))
        return None, where
    return data, where


def _dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _merge(doc: _Document, data: dict, where: dict, file: str, problems: list[Located]) -> None:
    """Fold one file into the document: sections once, names unique, rules in file order."""
    offset = len(doc.data.get("rules", []))
    for key, value in data.items():
        if key == "rules":
            if not isinstance(value, list):
                problems.append(Located(*where[(key,)], "rules: a list of rules is expected"))
                continue
            doc.data.setdefault("rules", []).extend(value)
        elif key in NAMED_SECTIONS and isinstance(value, dict):
            section = doc.data.setdefault(key, {})
            for name, entry in value.items():
                if name in section:
                    first = doc.where[(key, name)]
                    problems.append(Located(*where[(key, name)], f"{key}.{name} is already defined at "
                                                                 f"{first[0]}:{first[1]}"))
                    continue
                section[name] = entry
        elif key in doc.data and key in SINGLE_SECTIONS and key != "version":
            first = doc.where[(key,)]
            problems.append(Located(*where[(key,)], f"{key} is already defined at {first[0]}:{first[1]}"))
            continue
        elif key == "version" and "version" in doc.data and doc.data["version"] != value:
            problems.append(Located(*where[(key,)], f"version {value!r} differs from the other files"))
            continue
        else:
            doc.data[key] = value
    for path, loc in where.items():
        if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
            path = ("rules", path[1] + offset, *path[2:])
        doc.where.setdefault(path, loc)


def _locate(loc: tuple, where: dict) -> tuple[Path_, tuple[str, int]]:
    path: Path_ = ()
    for part in loc:
        if (*path, part) in where:
            path = (*path, part)
    return path, where.get(path) or where[()]


def _message(err: dict) -> str:
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see rules/default.yaml for every key)"
    if err["type"] in ("literal_error", "enum"):
        return f"{msg}, not {err['input']!r}"
    if err["type"] == "missing":
        return f"{err['loc'][-1]!s} is required"
    return msg


def files_of(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not found:
            raise RuleFileError([Located(str(path), 0, "no .yaml rule files in this directory")])
        return found
    return [path]


def load_rules(path: str | Path) -> RuleSet:
    """Load and check a rule file or a directory of them; raise RuleFileError listing every problem."""
    path = Path(path)
    problems: list[Located] = []
    doc = _Document()
    doc.where[()] = (str(path), 1)
    try:
        files = files_of(path)
    except RuleFileError:
        raise
    except OSError as e:
        raise RuleFileError([Located(str(path), 0, f"cannot read: {e.strerror or e}")]) from None
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            problems.append(Located(str(f), 0, f"cannot read: {e}"))
            continue
        data, where = _parse_text(text, str(f), problems)
        if data is not None:
            if len(files) == 1:
                doc.where[()] = where[()]
            _merge(doc, data, where, str(f), problems)
    if problems:
        raise RuleFileError(problems)
    return validate(doc.data, doc.where)


def load_rules_text(text: str, name: str = "<rules>") -> RuleSet:
    problems: list[Located] = []
    data, where = _parse_text(text, name, problems)
    if problems:
        raise RuleFileError(problems)
    return validate(data, where)


def validate(data: dict, where: dict) -> RuleSet:
    try:
        rs = RuleSet.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors(include_url=False):
            path, (file, line) = _locate(err["loc"], where)
            last = err["loc"][-1] if err["loc"] else None
            if isinstance(last, str) and last.isidentifier() and (not path or path[-1] != last):
                path = (*path, last)
            shown = _dotted(path)
            problems.append(Located(file, line, f"{shown or 'file'}: {_message(err)}"))
        raise RuleFileError(_unique(problems)) from None
    located = []
    for p in cross_check(rs):
        _, (file, line) = _locate(p.path, where)
        located.append(Located(file, line, f"{_dotted(p.path)}: {p.message}"))
    if located:
        raise RuleFileError(located)
    return rs


def _unique(problems: list[Located]) -> list[Located]:
    seen, out = set(), []
    for p in problems:
        if (p.file, p.line, p.message) not in seen:
            seen.add((p.file, p.line, p.message))
            out.append(p)
    return out
