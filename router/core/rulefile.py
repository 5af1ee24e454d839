"""Reading rule files: YAML with line numbers, one file or a directory, errors as `file:line: message`.

This module is long because reading YAML with line numbers, folding a directory's files and
mapping every validation error back to `file:line` with "did you mean" are one pass over one tree.
"""

from __future__ import annotations

import difflib
import hashlib
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from router.core.calendar import CalendarDate
from router.core.calendarfile import MAX_BYTES as CALENDAR_MAX_BYTES
from router.core.calendarfile import dates_from_data, read_dates
from router.core.rules import Problem, Rule, RuleSet, cross_check

MoreChecks = Callable[[RuleSet], list[Problem]]
"""Checks a command adds to the rule file's own (`router check --sounds`), located like them."""

Path_ = tuple[str | int, ...]
Where = dict[Path_, tuple[str, int]]
"""Where each key and item of a document came from: path -> (file, line)."""
SINGLE_SECTIONS = ("version", "company", "identify", "fallback", "report", "risk", "directory", "retention",
                   "followup", "notify", "crm", "calendar", "wallboard")
NAMED_SECTIONS = ("targets", "managers", "types", "types_by_dnid", "types_by_choice", "menus")


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


@dataclass(frozen=True, slots=True)
class Limits:
    """What a rule path may hold. Past any of these the file is refused with `file:line`, before it
    can cost the router more than a bounded amount of time and memory."""

    max_bytes: int = 8 * 1024 * 1024
    """All rule files together (ROUTER_RULES_MAX_BYTES)."""
    max_rules: int = 100_000
    """ROUTER_RULES_MAX_RULES."""
    max_depth: int = 32
    """Nesting of mappings and lists; real rule files need about ten."""
    max_aliases: int = 100
    """`*alias` references; anchors repeat a few conditions, never thousands."""
    max_alias_values: int = 10_000
    """Values that aliases repeat, nested ones counted: no expansion bomb gets past this."""


DEFAULT_LIMITS = Limits()


class _Stop(Exception):
    """Reading stops: a limit was crossed (the problem is recorded)."""


_COMPLEX = object()
_SKIP = object()
_STR_TAG = "tag:yaml.org,2002:str"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when installed: the events come from C, one at a time."""


class _Frame:
    __slots__ = ("anchor", "key", "path", "size", "value")

    def __init__(self, value: dict[Any, Any] | list[Any], path: Path_ | None, anchor: str | None):
        self.value = value
        self.path = path  # None: inside a key that is not a plain word, discarded
        self.anchor = anchor
        self.key: Any = _SKIP if isinstance(value, list) else None
        self.size = 1


class _Reader:
    """Plain data and where each key and item came from, built from the parser's events.

    Built without recursion (any depth is refused cleanly), with aliases referring to the anchored
    value instead of copying it and counted against the limits.
    """

    def __init__(self, file: str, where: Where, problems: list[Located], limits: Limits):
        self.file = file
        self.where = where
        self.problems = problems
        self.limits = limits
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.aliases = 0
        self.repeated = 0
        self.root: Any = None
        self.documents = 0
        self.loader = yaml.SafeLoader("")

    def stop(self, line: int, message: str) -> _Stop:
        self.problems.append(Located(self.file, line, message))
        return _Stop()

    def read(self, text: str) -> Any:
        for ev in yaml.parse(text, Loader=_LOADER):
            if isinstance(ev, yaml.NodeEvent | yaml.CollectionEndEvent):
                self.event(ev)
            elif isinstance(ev, yaml.DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    line = ev.start_mark.line + 1 if ev.start_mark else 0
                    raise self.stop(line, "one YAML document per file: a second one starts here")
        return self.root

    def event(self, ev: yaml.NodeEvent | yaml.CollectionEndEvent) -> None:
        line = ev.start_mark.line + 1 if ev.start_mark else 0
        if isinstance(ev, yaml.CollectionEndEvent):
            frame = self.stack.pop()
            if frame.anchor is not None:
                self.anchors[frame.anchor] = (frame.value, frame.size)
            self.add(frame.value if frame.path is not None or not self.stack else _COMPLEX, frame.size, line)
            return
        path = self.child_path(line)
        if isinstance(ev, yaml.ScalarEvent):
            value = self.scalar(ev, line)
            if ev.anchor is not None:
                self.anchors[ev.anchor] = (value, 1)
            self.add(value, 1, line)
        elif isinstance(ev, yaml.AliasEvent):
            if ev.anchor not in self.anchors:
                raise self.stop(line, f"*{ev.anchor}: no anchor &{ev.anchor} above this line")
            value, size = self.anchors[ev.anchor]
            self.aliases += 1
            self.repeated += size
            if self.aliases > self.limits.max_aliases:
                raise self.stop(line, f"more than {self.limits.max_aliases} aliases (*name): write the values out")
            if self.repeated > self.limits.max_alias_values:
                raise self.stop(line, f"aliases repeat more than {self.limits.max_alias_values} values: "
                                      "write the values out")
            self.add(value, size, line)
        else:
            if len(self.stack) >= self.limits.max_depth:
                raise self.stop(line, f"nested more than {self.limits.max_depth} levels deep")
            value = {} if isinstance(ev, yaml.MappingStartEvent) else []
            self.stack.append(_Frame(value, path, ev.anchor))

    def child_path(self, line: int) -> Path_ | None:
        """The path of the node that starts here (None for a key or inside a discarded one)."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if top.path is None:
            return None
        if isinstance(top.value, list):
            path = (*top.path, len(top.value))
            self.where[path] = (self.file, line)
            return path
        if top.key is None:  # this node is a key
            return None
        return (*top.path, top.key) if top.key is not _SKIP else None

    def add(self, value: Any, size: int, line: int) -> None:
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        top.size += size
        if isinstance(top.value, list):
            top.value.append(value)
        elif top.key is None:  # the key of the next entry
            if value is _COMPLEX or isinstance(value, dict | list):
                if top.path is not None:
                    self.problems.append(Located(self.file, line, "a key must be a plain word"))
                top.key = _SKIP
            elif top.path is not None and value in top.value:
                self.problems.append(Located(self.file, line, f"{_dotted((*top.path, value))}: key given twice"))
                top.key = _SKIP
            else:
                top.key = value
                if top.path is not None:
                    self.where[(*top.path, value)] = (self.file, line)
        else:
            if top.key is not _SKIP:
                top.value[top.key] = value
            top.key = None

    def scalar(self, ev: yaml.ScalarEvent, line: int) -> Any:
        tag: str = ev.tag if ev.tag not in (None, "!") else self.loader.resolve(  # type: ignore[no-untyped-call]
            yaml.ScalarNode, ev.value, ev.implicit)
        if tag == _STR_TAG:
            return ev.value
        build = self.loader.yaml_constructors.get(tag)
        if build is None:
            raise self.stop(line, f"unknown tag {ev.tag}")
        try:
            node = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, ev.style)  # type: ignore[arg-type]
            return build(self.loader, node)
        except (yaml.YAMLError, ValueError, TypeError) as e:
            raise self.stop(line, f"{ev.value!r} is not a valid {tag.rsplit(':', 1)[-1]}: {e}") from None


def _parse_text(text: str, file: str, problems: list[Located], limits: Limits) -> tuple[Any, Where]:
    where: dict[Path_, tuple[str, int]] = {(): (file, 1)}
    reader = _Reader(file, where, problems, limits)
    before = len(problems)
    try:
        data = reader.read(text)
    except _Stop:
        return None, where
    except yaml.YAMLError as e:
        del problems[before:]  # what was read before the syntax error is not worth reporting
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(e, "problem", None) or str(e)
        if "nesting depth" in problem:  # libyaml's own limit (0.2.5+) can be met before ours is
            problems.append(Located(file, line, f"nested more than {limits.max_depth} levels deep"))
        else:
            problems.append(Located(file, line, f"not valid YAML: {problem}"))
        return None, where
    if data is None:
        problems.append(Located(file, 1, "the file is empty"))
        return None, where
    if not isinstance(data, dict):
        problems.append(Located(file, 1, "a rule file is a mapping (version:, targets:, …)"))
        return None, where
    return data, where


def _dotted(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _merge(doc: _Document, data: dict[str, Any], where: Where, file: str, problems: list[Located]) -> None:
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


def _locate(loc: tuple[str | int, ...], where: Where) -> tuple[Path_, tuple[str, int]]:
    """The longest known path along `loc`, and where it was written. A key that YAML read as a number
    (a menu's `1:`) is looked up as one; the path keeps the text the schema saw."""
    path: Path_ = ()
    found: Path_ = ()
    for part in loc:
        for key in (part, int(part) if isinstance(part, str) and part.isdigit() else None):
            if key is not None and (*found, key) in where:
                path, found = (*path, part), (*found, key)
                break
    return path, where.get(found) or where[()]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a field's type can hold, through Optional, unions, lists, dicts and Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def known_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The keys a mapping at `loc` (pydantic's error location in a RuleSet) may have."""
    models: list[type[BaseModel]] = [RuleSet]
    for part in loc:
        if isinstance(part, int) or not models:
            continue
        nxt: list[type[BaseModel]] = []
        for m in models:
            f = next((f for name, f in m.model_fields.items() if part in (name, f.alias)), None)
            if f is not None:
                nxt += _models_in(f.annotation)
        # a part that is no field (a target's or manager's name, a union's tag) keeps the models it maps to
        models = nxt if nxt or any(part in m.model_fields for m in models) else models
    return sorted({f.alias or name for m in models for name, f in m.model_fields.items()})


def _message(err: ErrorDetails) -> str:
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if err["type"] == "extra_forbidden":
        key = str(err["loc"][-1]) if err["loc"] else ""
        close = difflib.get_close_matches(key, known_keys(err["loc"][:-1]), n=1, cutoff=0.6)
        if close:
            return f"unknown key {key!r}: did you mean {close[0]!r}?"
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


RuleTexts = tuple[tuple[str, str], ...]
"""A rule path's files as (name, text) in the order they are read: a version of the rules, as the
store keeps a staged one (router/rollout.py)."""


def read_rule_files(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> RuleTexts:
    """The texts of a rule file or a directory's rule files, named as `path` names them; raise
    RuleFileError when a file cannot be read or they are too large together."""
    path = Path(path)
    try:
        files = files_of(path)
        sizes = [f.stat().st_size for f in files]
    except RuleFileError:
        raise
    except OSError as e:
        raise RuleFileError([Located(str(path), 0, f"cannot read: {e.strerror or e}")]) from None
    if sum(sizes) > limits.max_bytes:
        biggest = files[sizes.index(max(sizes))]
        raise RuleFileError([Located(str(biggest), 1, f"rules of {sum(sizes):,} bytes: over the limit of "
                                                      f"{limits.max_bytes:,} (ROUTER_RULES_MAX_BYTES)")])
    texts, problems = [], []
    for f in files:
        try:
            texts.append((str(f), f.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as e:
            problems.append(Located(str(f), 0, f"cannot read: {e}"))
    if problems:
        raise RuleFileError(problems)
    return tuple(texts)


def version_of(texts: RuleTexts) -> str:
    """A short name for one version of the rules: the first 12 hex digits of the SHA-256 of its files'
    names (without their folder) and texts. The same files give the same version on every router."""
    digest = hashlib.sha256()
    for name, text in texts:
        for part in (Path(name).name, text):
            raw = part.encode("utf-8")
            digest.update(len(raw).to_bytes(8, "big") + raw)
    return digest.hexdigest()[:12]


def load_rules(path: str | Path, limits: Limits = DEFAULT_LIMITS, more: MoreChecks | None = None) -> RuleSet:
    """Load and check a rule file or a directory of them; raise RuleFileError listing every problem.
    `more` adds checks of its own (`router check --sounds`: every menu prompt has its sound file)."""
    return load_rule_texts(str(path), read_rule_files(path, limits), limits, more)


def load_rule_texts(root: str, texts: RuleTexts, limits: Limits = DEFAULT_LIMITS,
                    more: MoreChecks | None = None) -> RuleSet:
    """The rules of files already read (`read_rule_files`, or a version the store kept), merged in order as a
    directory's files are; `root` names the whole in messages about it."""
    problems: list[Located] = []
    doc = _Document()
    doc.where[()] = (root, 1)
    if sum(len(text) for _, text in texts) > limits.max_bytes:
        raise RuleFileError([Located(root, 1, f"over the limit of {limits.max_bytes:,} bytes "
                                              "(ROUTER_RULES_MAX_BYTES)")])
    for name, text in texts:
        data, where = _parse_text(text, name, problems, limits)
        if data is not None:
            if len(texts) == 1:
                doc.where[()] = where[()]
            _merge(doc, data, where, name, problems)
        _release(where)
    if problems:
        raise RuleFileError(problems)
    try:
        return with_calendar_files(validate(doc.data, doc.where, limits, more), root, doc.where)
    finally:
        _release(doc.where, doc.data.get("rules"))


def with_calendar_files(rs: RuleSet, root: str, where: dict[Path_, tuple[str, int]]) -> RuleSet:
    """The rules with the dates of `calendar.files` (relative to the rule path's folder) added before the rule
    file's own (which win on the same date); RuleFileError with each file's problems at its lines."""
    cal = rs.calendar
    if not cal.files:
        return rs
    base = Path(root) if Path(root).is_dir() else Path(root).parent
    problems: list[Located] = []
    found = []
    for i, name in enumerate(cal.files):
        path = base / name
        file, line = where.get(("calendar", "files", i), where[()])
        if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
            dates, located = _calendar_yaml(path)
            problems += located
        else:
            dates, said = read_dates(path)
            problems += [Located(str(path), at, message) if path.is_file() else
                         Located(file, line, f"{path}: {message}") for at, message in said]
        found += dates
    if problems:
        raise RuleFileError(problems)
    more = cal.model_copy(update={"holidays": [d for d in found if d.kind == "holiday"] + cal.holidays,
                                  "workdays": [d for d in found if d.kind == "workday"] + cal.workdays})
    return rs.model_copy(update={"calendar": more})


def _calendar_yaml(path: Path) -> tuple[list[CalendarDate], list[Located]]:
    """A calendar YAML file's dates, its problems at their lines."""
    problems: list[Located] = []
    if path.stat().st_size > CALENDAR_MAX_BYTES:
        return [], [Located(str(path), 1, f"a calendar file may hold at most {CALENDAR_MAX_BYTES:,} bytes")]
    data, where = _parse_text(path.read_text(encoding="utf-8", errors="replace"), str(path), problems,
                              DEFAULT_LIMITS)
    if problems:
        return [], problems
    dates, said = dates_from_data(data)
    located = [(where.get(at, where[()]), message) for at, message in said]
    return dates, [Located(file, line, message) for (file, line), message in located]


def _release(where: Where, items: list[Any] | None = None) -> None:
    """Empty large containers a piece at a time: freed at once, they would hold the interpreter (and
    a loader thread would keep the event loop waiting) for as long as that takes."""
    pop = where.popitem
    for _ in range(len(where)):
        pop()
    if isinstance(items, list):
        while items:
            del items[-100:]


def load_rules_text(text: str, name: str = "<rules>", limits: Limits = DEFAULT_LIMITS) -> RuleSet:
    problems: list[Located] = []
    if len(text) > limits.max_bytes:
        raise RuleFileError([Located(name, 1, f"over the limit of {limits.max_bytes:,} bytes")])
    data, where = _parse_text(text, name, problems, limits)
    if problems:
        raise RuleFileError(problems)
    return validate(data, where, limits)


def validate(data: dict[str, Any], where: Where, limits: Limits = DEFAULT_LIMITS,
             more: MoreChecks | None = None) -> RuleSet:
    """The schema, rule by rule: each validation is short, so a thread doing this for fifty thousand
    rules lets the event loop in between."""
    rules = data.get("rules")
    if isinstance(rules, list) and len(rules) > limits.max_rules:
        raise RuleFileError([Located(*where.get(("rules", limits.max_rules), where[()]),
                                     f"more than {limits.max_rules:,} rules (ROUTER_RULES_MAX_RULES)")])
    per_rule = isinstance(rules, list)
    errors: list[tuple[Path_, ErrorDetails]] = []
    try:
        rs = RuleSet.model_validate({**data, "rules": []} if per_rule else data)
    except ValidationError as e:
        rs = None
        errors += [((), err) for err in e.errors(include_url=False)]
    checked: list[Rule] = []
    if isinstance(rules, list):
        for i, rule in enumerate(rules):
            try:
                checked.append(Rule.model_validate(rule))
            except ValidationError as e:
                errors += [(("rules", i), err) for err in e.errors(include_url=False)]
    if errors:
        problems = []
        for prefix, err in errors:
            loc = (*prefix, *err["loc"])
            path, (file, line) = _locate(loc, where)
            last = loc[-1] if loc else None
            if isinstance(last, str) and last.isidentifier() and (not path or path[-1] != last):
                path = (*path, last)
            shown = _dotted(path)
            problems.append(Located(file, line, f"{shown or 'file'}: {_message({**err, 'loc': loc})}"))
        raise RuleFileError(_unique(problems)) from None
    assert rs is not None
    if per_rule:
        rs = rs.model_copy(update={"rules": checked})
    located = []
    for p in cross_check(rs) + (more(rs) if more is not None else []):
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
