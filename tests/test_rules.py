from __future__ import annotations

import textwrap

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from router.core.durations import parse_duration
from router.core.hours import HourWindow, parse_hour_window
from router.core.rulefile import RuleFileError, load_rules, load_rules_text
from tests.helpers import BASE_RULES, RULES_DIR, problems


def test_shipped_rules_load_and_use_every_condition_key():
    rs = load_rules(RULES_DIR)
    used = set()

    def walk(w):
        if w is None:
            return
        for name in type(w).model_fields:
            if getattr(w, name) is not None:
                used.add(name)
        for sub in (*(w.any or ()), *(w.all or ())):
            walk(sub)
        walk(w.not_)

    for r in rs.rules:
        walk(r.when)
    contract = {"kind", "abc", "known", "has_manager", "has_open_followup", "local_hours", "hours", "days",
                "dnid", "prefix", "tags", "calls_within", "any", "not_"}
    assert contract <= used, f"default.yaml does not show {contract - used}"
    assert {r.escalate for r in rs.rules} >= {"up", "down"}


def test_minimal_file_loads_with_defaults():
    rs = load_rules_text(BASE_RULES)
    assert rs.identify.repeat_within == 3600
    assert rs.rules[0].route == ["manager"]


def test_unknown_key_is_reported_with_its_line():
    text = BASE_RULES.replace("    when: {abc: A}", "    when: {abc: A, colour: red}")
    assert problems(text) == ["r.yaml:10: rules[0].when.colour: unknown key (check the spelling; see "
                              "rules/default.yaml for every key)"]


def test_unknown_target_in_route_is_reported_with_its_line():
    text = BASE_RULES.replace("route: [support]", "route: [suport]")
    out = problems(text)
    assert len(out) == 1 and out[0].startswith("r.yaml:14: rules[1].route[0]:") and "'suport'" in out[0]


def test_unknown_escalation_target_is_reported():
    out = problems(BASE_RULES.replace("up: management}", "up: bosses}"))
    assert out[0].startswith("r.yaml:7: managers.ivanov.up:") and "'bosses'" in out[0]


@pytest.mark.parametrize("bad", ["90", "1.5h", "-1h", "0s", "1y", "soon"])
def test_bad_duration_is_an_error(bad):
    text = BASE_RULES.replace("company:", f"identify: {{repeat_within: '{bad}'}}\ncompany:")
    out = problems(text)
    assert out[0].startswith("r.yaml:2: identify.repeat_within: bad duration"), out


@pytest.mark.parametrize("value,seconds", [("90s", 90), ("30m", 1800), ("1h", 3600), ("7d", 604800), ("2w", 1209600)])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("bad", ["25:00-07:00", "22:00", "22:00-22:00", "9-18", "22:60-07:00", "24:30-01:00"])
def test_bad_hour_window_is_an_error(bad):
    text = BASE_RULES.replace("    when: {abc: A}", f"    when: {{abc: A, local_hours: '{bad}'}}")
    out = problems(text)
    assert out[0].startswith("r.yaml:10: rules[0].when.local_hours:") and "hour window" in out[0], out


def test_hour_window_wraps_midnight():
    w = parse_hour_window("22:00-07:00")
    assert w.contains(23 * 60) and w.contains(3 * 60) and not w.contains(12 * 60) and not w.contains(7 * 60)
    assert parse_hour_window("09:00-18:00") == HourWindow(540, 1080)


def test_duplicate_key_is_an_error():
    text = BASE_RULES.replace("  support: {queue: support, timeout: 120}\n",
                              "  support: {queue: support, timeout: 120}\n  support: {queue: other}\n")
    assert problems(text) == ["r.yaml:5: targets.support: key given twice"]


def test_target_needs_exactly_one_kind():
    out = problems(BASE_RULES.replace("support: {queue: support, timeout: 120}", "support: {queue: s, ivr: x}"))
    assert out[0].startswith("r.yaml:4: targets.support:") and "exactly one of queue, dial, ivr" in out[0]


def test_ivr_context_with_a_separator_asterisk_would_split_on_is_an_error():
    out = problems(BASE_RULES.replace("support: {queue: support, timeout: 120}", "support: {ivr: 'menu,s'}"))
    assert out[0].startswith("r.yaml:4: targets.support.ivr:") and "letters, digits" in out[0], out


def test_fallback_cannot_use_manager_step():
    out = problems(BASE_RULES.replace("fallback: [support]", "fallback: [manager]"))
    assert out[0].startswith("r.yaml:15: fallback[0]:")


def test_unknown_time_zone_is_an_error():
    out = problems(BASE_RULES.replace("Europe/Moscow", "Mars/Olympus"))
    assert out[0].startswith("r.yaml:2: company.timezone:") and "Mars/Olympus" in out[0]


def test_invalid_yaml_names_the_line():
    out = problems(BASE_RULES + "rules: [\n")
    assert out[0].startswith("r.yaml:") and "not valid YAML" in out[0]


def test_every_problem_is_reported_not_just_the_first():
    text = BASE_RULES.replace("route: [support]", "route: [nope]").replace("{abc: A}", "{abc: Z}")
    assert len(problems(text)) >= 1
    text2 = BASE_RULES.replace("route: [support]", "route: [nope]").replace("up: management}", "up: nobody}")
    assert len(problems(text2)) == 2


def test_directory_merges_files_in_name_order(tmp_path):
    (tmp_path / "10-base.yaml").write_text(BASE_RULES)
    (tmp_path / "20-more.yaml").write_text(textwrap.dedent("""\
        version: 1
        targets:
          vip: {queue: vip, priority: 50}
        rules:
          - name: vips
            when: {tags: vip}
            route: [vip]
        """))
    rs = load_rules(tmp_path)
    assert [r.name for r in rs.rules] == ["A customers", "everyone else", "vips"]
    assert "vip" in rs.targets


def test_directory_reports_the_second_definition_with_both_places(tmp_path):
    (tmp_path / "a.yaml").write_text(BASE_RULES)
    (tmp_path / "b.yaml").write_text("version: 1\ntargets:\n  support: {queue: other}\n")
    with pytest.raises(RuleFileError) as e:
        load_rules(tmp_path)
    assert str(e.value) == f"{tmp_path}/b.yaml:3: targets.support is already defined at {tmp_path}/a.yaml:4"


def test_error_in_second_file_names_that_file_and_line(tmp_path):
    (tmp_path / "a.yaml").write_text(BASE_RULES)
    (tmp_path / "b.yaml").write_text("version: 1\nrules:\n  - name: x\n    route: [nowhere]\n")
    with pytest.raises(RuleFileError) as e:
        load_rules(tmp_path)
    assert str(e.value).startswith(f"{tmp_path}/b.yaml:4: rules[2].route[0]:")


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 100) | st.sampled_from(
        ["A", "new", "support", "manager", "1h", "7d", "22:00-07:00", "PJSIP/101", "up", "x"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["version", "rules", "targets", "managers", "when", "route", "name", "queue", "abc",
                         "kind", "fallback", "escalate", "any", "not", "local_hours", "calls_within", "days"]),
        children, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(yaml_values)
def test_loader_never_fails_other_than_with_located_problems(doc):
    text = yaml.safe_dump(doc)
    try:
        load_rules_text(text, "h.yaml")
    except RuleFileError as e:
        assert e.problems and all(str(p).startswith("h.yaml:") for p in e.problems)


def test_a_followup_or_notify_section_in_two_files_is_an_error_naming_both(tmp_path):
    (tmp_path / "a.yaml").write_text("version: 1\ntargets: {s: {queue: s}}\nfallback: [s]\nnotify: {retry_for: 1h}\n")
    (tmp_path / "b.yaml").write_text("version: 1\nnotify: {retry_for: 2h}\nfollowup: {owner: x}\n")
    (tmp_path / "c.yaml").write_text("version: 1\nfollowup: {owner: y}\n")
    with pytest.raises(RuleFileError) as e:
        load_rules(tmp_path)
    text = str(e.value)
    assert f"{tmp_path / 'b.yaml'}:2: notify is already defined at {tmp_path / 'a.yaml'}:4" in text
    assert f"{tmp_path / 'c.yaml'}:2: followup is already defined at {tmp_path / 'b.yaml'}:3" in text
