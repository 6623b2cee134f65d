"""Tests for scaling.cli.text: the one number parser of every CLI option, tables, strict JSON."""

from __future__ import annotations

import argparse
import json
from fractions import Fraction

import pytest

from scaling.cli.text import comma_list, integer, parse_number, positive, print_json, real, table


@pytest.mark.parametrize("text, value", [
    ("1e21", Fraction(10) ** 21), ("6.4e13", Fraction(64 * 10 ** 12)), ("1_000", 1000),
    ("2m", 2_000_000), ("2M", 2_000_000), ("300k", 300_000), ("70B", 70 * 10 ** 9), ("1.4T", 14 * 10 ** 11),
    ("5g", 5 * 10 ** 9), ("0.5", Fraction(1, 2)), (".5k", 500), ("-3", -3), (" 12 ", 12),
    ("9007199254740993", 2 ** 53 + 1),
])
def test_parse_number_accepts_the_union_of_both_old_parsers(text, value):
    """Suffixes in either case, underscores and exponents all parse, exactly."""
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "lots", "1e", "1__0", "_1", "1.2.3", "2x", "1e999999999",
                                  "1" * 500, "nan", "inf", "0x10", "١٢", "１２"])
def test_parse_number_refuses_non_numbers_and_absurd_magnitudes(text):
    """Anything that is not a plain decimal number (or is past float64's range) is refused by value."""
    with pytest.raises(argparse.ArgumentTypeError):
        parse_number(text)


def test_integer_is_exact_and_range_checked():
    """A whole number never passes through a float, and its range is named in the error."""
    assert integer(1)("9007199254740993") == 9007199254740993
    assert integer(1)("1.5k") == 1500
    with pytest.raises(argparse.ArgumentTypeError, match=r"whole number.*'1.5'"):
        integer()("1.5")
    with pytest.raises(argparse.ArgumentTypeError, match=r">= 0.*'-1'"):
        integer(0)("-1")
    with pytest.raises(argparse.ArgumentTypeError, match=r"<= 10"):
        integer(0, 10)("11")


def test_real_is_finite_and_range_checked():
    """A float option refuses values beyond float64 and outside its range."""
    assert positive("2.5e-3") == pytest.approx(0.0025)
    for bad in ("0", "-1", "1e308k"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive(bad)
    with pytest.raises(argparse.ArgumentTypeError, match=r"> 0 and <= 1"):
        real(0, 1, low_open=True)("1.5")


def test_comma_list_parses_each_item():
    """A comma list applies the item parser to each non-empty item."""
    assert comma_list(integer(1))("16, 24,32,") == [16, 24, 32]
    with pytest.raises(argparse.ArgumentTypeError):
        comma_list(integer(1))(",")


def test_table_aligns_and_rules():
    """Columns align; `rule` underlines the header."""
    assert table([("a", "bb"), ("ccc", "d")], right={1}, rule=True).splitlines() == [
        "a    bb", "---  --", "ccc   d"]


def test_print_json_is_strict(capsys):
    """Non-finite floats print as null: the output is JSON, never NaN or Infinity."""
    print_json({"a": float("nan"), "b": [float("inf"), 1.5]})
    assert json.loads(capsys.readouterr().out) == {"a": None, "b": [None, 1.5]}
