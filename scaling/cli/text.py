"""Text in and out of the `scaling` command: the one number parser behind every option,
sizes the way papers quote them, aligned tables, strict JSON.

Numbers are parsed exactly (as a `Fraction`) before they become a float or an int, so a
whole number is never rounded through a float: '9007199254740993' stays 2**53 + 1.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from scaling.report.format import text_table

# Suffixes, either case ('2m' and '2M' are both 2e6): the size units of the papers.
SUFFIX_EXPONENT = {"": 0, "k": 3, "m": 6, "b": 9, "g": 9, "t": 12}
_DIGITS = r"\d+(?:_\d+)*"  # Python's rule: single underscores between digits ('1_000')
_NUMBER = re.compile(rf"\s*([-+]?)({_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})"
                     rf"(?:[eE]([-+]?\d+))?\s*([kKmMbBgGtT]?)\s*", re.ASCII)  # ASCII digits only
# A decimal exponent far past float64's range (~1e308) is refused before building the exact
# value, so '1e999999999' cannot make a billion-digit integer.
_MAX_EXPONENT = 400
_MAX_LENGTH = 100  # characters; longer is not a number anyone typed
EXAMPLES = "e.g. 1e21, 5.76e23, 1_000, 300k, 2M, 70B, 1.4T"


def parse_number(text: str) -> Fraction:
    """The exact value of '1e21', '6.4e13', '1_000', or with a suffix: '300k', '2m', '70B', '1.4T'.

    ArgumentTypeError (argparse prefixes the option's name) for anything else, and for
    magnitudes past float64's range.
    """
    m = _NUMBER.fullmatch(text) if isinstance(text, str) and len(text) <= _MAX_LENGTH else None
    if m is None:
        raise argparse.ArgumentTypeError(f"could not parse {text!r} as a number ({EXAMPLES})")
    sign, mantissa, exponent, suffix = m.groups()
    mantissa = mantissa.replace("_", "")
    power = int(exponent or 0) + SUFFIX_EXPONENT[suffix.lower()]
    whole = mantissa.split(".")[0].lstrip("0")
    if abs(power) > _MAX_EXPONENT or len(whole) + power > _MAX_EXPONENT:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range (beyond 1e308)")
    value = Fraction(mantissa) * Fraction(10) ** power
    return -value if sign == "-" else value


def _bounds(low, high, low_open: bool = False, high_open: bool = False) -> str:
    left = "" if low is None else (f"> {low:g}" if low_open else f">= {low:g}")
    right = "" if high is None else (f"< {high:g}" if high_open else f"<= {high:g}")
    return " and ".join(s for s in (left, right) if s)


def real(low: float | None = None, high: float | None = None, *,
         low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite float within [low, high], either end open on request."""
    def parse(text: str) -> float:
        exact = parse_number(text)
        try:
            value = float(exact)
        except OverflowError:
            value = math.inf
        out = not math.isfinite(value)
        out = out or (low is not None and (value <= low if low_open else value < low))
        out = out or (high is not None and (value >= high if high_open else value > high))
        if out:
            rng = _bounds(low, high, low_open, high_open) or "finite"
            raise argparse.ArgumentTypeError(f"must be a number {rng} (got {text!r})")
        return value

    parse.__name__ = "number"  # argparse names the type in its fallback message
    return parse


def integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an exact whole number within [low, high]; '1e3', '2M', '50_257' work."""
    def parse(text: str) -> int:
        exact = parse_number(text)
        rng = _bounds(low, high, False)
        if exact.denominator != 1:
            raise argparse.ArgumentTypeError(
                f"must be a whole number{' ' + rng if rng else ''} (got {text!r})")
        value = int(exact)
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a whole number {rng} (got {text!r})")
        return value

    parse.__name__ = "integer"
    return parse


def comma_list(parse: Callable[[str], Any]) -> Callable[[str], list]:
    """An argparse type: a comma-separated list of `parse`'s values ('16,24,32', '5e5,2M')."""
    def parse_list(text: str) -> list:
        items = [t for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"could not parse {text!r} as a comma-separated list")
        return [parse(t) for t in items]

    parse_list.__name__ = "list"
    return parse_list


positive = real(0, low_open=True)  # a count or budget: > 0, finite
MAX_SEED = 2**32 - 1  # numpy's and torch's generators both take it; a larger seed adds nothing
SEED = integer(0, MAX_SEED)


def human(x: float) -> str:
    """1.24e8 -> '124M', 1.4e12 -> '1.4T': the way papers quote sizes."""
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def safe(text: object) -> str:
    """`text` for a terminal: control characters (ANSI escapes from an input file, say) shown
    as Python escapes ('\\x1b'), so a file cannot move the cursor or recolour the screen."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1


def table(rows: list[tuple[str, ...]], right: set[int] = frozenset(), rule: bool = False) -> str:
    """`scaling.report.format.text_table` of the rows passed through `safe`; `rule` underlines
    the header row with dashes."""
    rows = [tuple(safe(c) for c in r) for r in rows]
    if rule:
        rows.insert(1, tuple("-" * max(len(r[i]) for r in rows) for i in range(len(rows[0]))))
    return text_table(rows, right)


def print_json(data: Any) -> None:
    """Print strict JSON: a non-finite float (an undefined interval, say) is `null`, never
    `NaN` or `Infinity`, which JSON does not have."""
    print(json.dumps(_finite_or_null(data), indent=2, default=str, allow_nan=False))


def _finite_or_null(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite_or_null(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite_or_null(v) for v in x]
    return x
