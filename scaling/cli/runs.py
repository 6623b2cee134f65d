"""The runs CSV of `scaling fit`: reading it, finding its columns by alias, parsing its values.

One home for the CSV rules that every fit (power, chinchilla, isoflop) shares; errors are
`InputError`s naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

# CSV column aliases (compared after lower-casing and turning spaces and dashes into '_');
# 'model_size' and 'training_flop' are the headers of Epoch's Chinchilla Fig. 4 extraction.
ALIASES = {
    "N": ("n", "params", "n_params", "parameters", "model_size"),
    "D": ("d", "tokens", "n_tokens", "training_tokens"),
    "C": ("c", "compute", "flops", "training_flop", "training_flops"),
    "loss": ("loss", "l", "eval_loss", "val_loss"),
}


class InputError(ValueError):
    """Bad user input (a file, a column, a value); the message is the whole story."""



def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def read_runs(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of a CSV; InputError for a missing, empty or header-less file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = [r for r in reader if any((v or "").strip() for v in r.values())]
            header = list(reader.fieldnames or [])
    except FileNotFoundError:
        raise InputError(f"runs file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"cannot read runs file {path}: {' '.join(str(e).split())}") from None
    if not header:
        raise InputError(f"runs file {path} is empty (expected a header row naming the columns)")
    seen: dict[str, str] = {}
    for h in header:
        if h and _key(h) in seen:  # csv.DictReader would silently keep the last one
            raise InputError(f"runs file {path} has the column {h!r} twice"
                             + (f" (as {seen[_key(h)]!r} and {h!r})" if seen[_key(h)] != h else ""))
        seen[_key(h)] = h
    return header, rows


def find_column(path: Path, header: list[str], what: str, explicit: str | None = None,
                required: bool = True) -> str | None:
    """The header name holding `what` (N, D, C, loss), by alias or as given by `explicit`."""
    keys = {_key(h): h for h in header if h}
    wanted = (_key(explicit),) if explicit else ALIASES[what]
    for alias in wanted:
        if alias in keys:
            return keys[alias]
    if not required:
        return None
    names = f"{explicit!r}" if explicit else f"one of {', '.join(ALIASES[what])}"
    raise InputError(f"runs file {path} has no column {names} for {what} "
                     f"(found: {', '.join(h for h in header if h)})")


def column(path: Path, rows: list[dict[str, str]], name: str):
    out = []
    for i, r in enumerate(rows, start=2):  # line 1 is the header
        i = getattr(r, "line", i)  # rows kept by --where know their own line
        text = (r.get(name) or "").strip()
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"runs file {path}, line {i}, column {name!r}: could not parse "
                             f"{text!r} as a number") from None
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"runs file {path}, line {i}, column {name!r}: must be a positive "
                             f"number (got {text})")
        out.append(value)
    return np.array(out)


def need_rows(path: Path, rows: list, k: int) -> None:
    if len(rows) < k:
        raise InputError(f"runs file {path} has {len(rows)} data rows; the fit needs at least {k}")
