from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.core.phones import normalise, score


@pytest.mark.parametrize("raw", [
    "+79035550101", "89035550101", "8 903 555-01-01", "+7 (903) 555-01-01", "7-903-555-01-01",
    "sip:+79035550101@trunk.example", '"Olga" <sip:89035550101@10.0.0.1:5060>', "tel:+79035550101",
    "0079035550101", " +7.903.555.01.01 ",
])
def test_russian_formats_normalise_to_one_e164(raw):
    n = normalise(raw, "RU")
    assert (n.key, n.e164) == ("+79035550101", True)


@pytest.mark.parametrize("raw", ["", "anonymous", "Anonymous", "unknown", "restricted", "<unknown>", "abc",
                                 "+7903;5550101"])
def test_withheld_or_garbage_caller_id_is_anonymous(raw):
    assert normalise(raw, "RU").anonymous


def test_internal_extension_keeps_its_digits():
    n = normalise("101", "RU")
    assert (n.key, n.e164) == ("101", False)


def test_fixed_line_number_gives_its_zone():
    assert normalise("+74232123456", "RU").zone == "Asia/Vladivostok"
    assert normalise("84951234567", "RU").zone == "Europe/Moscow"


def test_mobile_number_gives_no_single_zone():
    assert normalise("+79147000123", "RU").zone is None


def test_default_region_reads_national_numbers():
    assert normalise("(415) 555-0100", "US").key == "+14155550100"


def test_score_is_the_number_as_integer():
    assert score("+79035550101") == 79035550101
    assert score("101") is None and score("") is None


@given(st.text(max_size=60))
def test_any_caller_id_gives_a_safe_key(raw):
    n = normalise(raw, "RU")
    assert re.fullmatch(r"(\+\d{7,15})?|\d{1,20}", n.key), n
    if n.e164:
        assert normalise(n.key, "RU").key == n.key


@given(st.from_regex(r"\+7[3489][0-9]{9}", fullmatch=True))
def test_e164_numbers_are_stable(raw):
    assert normalise(raw, "RU").key == raw
