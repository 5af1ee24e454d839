"""A rule file cannot cost the router unbounded time or memory: every limit is a `file:line` error."""

from __future__ import annotations

import time

import pytest

from router.core.rulefile import Limits, RuleFileError, load_rules, load_rules_text
from tests.helpers import BASE_RULES, alias_bomb, problems


def test_an_alias_bomb_is_refused_at_once_naming_the_line():
    t0 = time.perf_counter()
    out = problems(alias_bomb(9))
    assert time.perf_counter() - t0 < 1.0
    assert len(out) == 1 and out[0].startswith("r.yaml:") and "aliases" in out[0]
    assert int(out[0].split(":")[1]) > BASE_RULES.count("\n")


def test_a_few_aliases_are_fine():
    text = BASE_RULES.replace("  - name: everyone else\n    route: [support]",
                              "  - name: everyone else\n    when: &weekday {days: [mon, tue]}\n    route: [support]\n"
                              "  - name: again\n    when: *weekday\n    route: [support]")
    rs = load_rules_text(text)
    assert rs.rules[1].when == rs.rules[2].when


def test_deep_nesting_is_refused_with_its_line_not_a_crash():
    out = problems(BASE_RULES + "x: " + "[" * 5000 + "]" * 5000 + "\n")
    assert out == [f"r.yaml:{BASE_RULES.count(chr(10)) + 1}: nested more than 32 levels deep"]


def test_deep_block_nesting_is_refused_too():
    deep = "".join(" " * i + f"k{i}:\n" for i in range(200))
    assert "nested more than 32 levels deep" in problems(BASE_RULES + deep)[0]


def test_too_many_rules_are_refused_at_the_first_one_over():
    text = BASE_RULES + "".join(f"  - name: r{i}\n    route: [support]\n" for i in range(5))
    text = text.replace("fallback: [support]\n", "") + "fallback: [support]\n"
    out = problems(text.replace("rules:\n", "rules:\n", 1), Limits(max_rules=4))
    assert len(out) == 1 and "more than 4 rules (ROUTER_RULES_MAX_RULES)" in out[0]
    assert out[0].startswith("r.yaml:")


def test_an_oversized_rule_path_is_refused_without_reading_it(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text(BASE_RULES + "#" * 2000 + "\n")
    with pytest.raises(RuleFileError) as e:
        load_rules(f, Limits(max_bytes=1000))
    size = f.stat().st_size
    assert str(e.value) == f"{f}:1: rules of {size:,} bytes: over the limit of 1,000 (ROUTER_RULES_MAX_BYTES)"


@pytest.mark.parametrize("text,expected", [
    ("x: *nowhere\n", "*nowhere: no anchor &nowhere above this line"),
    ("x: !!python/object:os.system ls\n", "unknown tag tag:yaml.org,2002:python/object:os.system"),
    ("x: !!int abc\n", "'abc' is not a valid int"),
    ("---\nversion: 1\n---\nversion: 1\n", "one YAML document per file"),
    ("? [a, b]\n: 1\n", "a key must be a plain word"),
])
def test_odd_yaml_gets_a_located_problem(text, expected):
    out = problems(text)
    assert out[0].startswith("r.yaml:") and expected in out[0], out
