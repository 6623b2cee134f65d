"""Baselines for CI: stored measurements, and the drifts of a new session from them.

A baseline is a JSON file `{"version": 1, "measurements": {KEY: {...}}}` with one entry per
measurement, keyed `claim::device::tier::name`. Tolerances come from the claim code (the
measurement's `drift`, else its `tolerance`), as in pytest-regressions; the stored copy, and the
measurement's evidence kind, are for people reading the file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaling.report.results import ClaimResult, Measurement, Tolerance
from scaling.report.safe_io import atomic_write, clean, dumps

BASELINE_VERSION = 1
UPDATE_FLAG = "--scaling-update-baseline"


class BaselineError(ValueError):
    """A baseline file that is missing, unreadable or malformed."""


def key(claim: ClaimResult, m: Measurement) -> str:
    return f"{claim.id}::{claim.device}::{claim.tier}::{m.name}"


def load(path: Path) -> dict[str, dict[str, Any]]:
    """The entries of baseline `path`; BaselineError names the file and what is wrong."""
    path = Path(path)
    if not path.exists():
        raise BaselineError(f"baseline file {path} does not exist (create it with {UPDATE_FLAG})")
    try:
        data = clean(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError) as e:
        raise BaselineError(f"cannot read baseline file {path}: {e}") from None
    except json.JSONDecodeError as e:
        raise BaselineError(f"baseline file {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or data.get("version") != BASELINE_VERSION:
        raise BaselineError(
            f"baseline file {path} is not a scaling baseline (expected an object with "
            f"\"version\": {BASELINE_VERSION})"
        )
    entries = data.get("measurements")
    if not isinstance(entries, dict):
        raise BaselineError(f"baseline file {path} has no \"measurements\" object")
    for k, e in entries.items():
        if not isinstance(e, dict) or "value" not in e or not _is_value(e["value"]):
            raise BaselineError(f"baseline file {path}: entry {k!r} has no number or string \"value\"")
    return entries


def _is_value(v: Any) -> bool:
    return v is None or isinstance(v, (int, float, bool, str))


@dataclass(frozen=True)
class Drift:
    key: str
    claim: str
    measurement: str
    baseline: Any
    measured: Any
    tolerance: Tolerance

    def message(self, path: Path) -> str:
        old = "null (not a finite number)" if self.baseline is None else repr(self.baseline)
        new = repr(self.measured) + (" (not a finite number)" if _non_finite(self.measured) else "")
        return (
            f"{self.claim} [{self.key.split('::')[1]}]: {self.measurement!r} drifted from the "
            f"baseline {old} to {new} (tolerance {self.tolerance.describe()}); "
            f"if the change is intended, run with {UPDATE_FLAG} to update {path}"
        )


def _non_finite(v: Any) -> bool:
    return isinstance(v, float) and not math.isfinite(v)


def _drift(k: str, claim: ClaimResult, m: Measurement, old: Any) -> Drift | None:
    # the file stores a non-finite value as null (strict JSON): null against nan is no change
    new = None if _non_finite(m.value) else m.value
    if m.drift_tolerance().fails(old, new) is None:
        return None
    return Drift(k, claim.id, m.name, old, m.value, m.drift_tolerance())


def compare(entries: dict[str, dict[str, Any]], claims: list[ClaimResult]) -> tuple[list[Drift], list[str]]:
    """Drifts past tolerance, and the keys measured now that the baseline does not hold."""
    drifts, new = [], []
    for c in claims:
        for m in c.measurements:
            k = key(c, m)
            if k not in entries:
                new.append(k)
            elif (d := _drift(k, c, m, entries[k]["value"])) is not None:
                drifts.append(d)
    return drifts, new


def update(path: Path, claims: list[ClaimResult]) -> int:
    """Write this session's measurements into `path`, keeping entries it did not measure.

    Returns the number of entries written. An existing file that is malformed is refused
    (BaselineError) rather than overwritten.
    """
    path = Path(path)
    entries = load(path) if path.exists() else {}
    for c in claims:
        for m in c.measurements:
            tol = m.drift if m.drift is not None else m.tolerance
            entries[key(c, m)] = {"value": m.value, "tolerance": tol, "relative": m.relative,
                                  "unit": m.unit, "evidence": m.evidence}
    data = {"version": BASELINE_VERSION, "measurements": dict(sorted(entries.items()))}
    path.parent.mkdir(parents=True, exist_ok=True)
    # whole or not at all, keeping the file's permissions: a failed write keeps the old baseline
    atomic_write(path, dumps(data))
    return sum(len(c.measurements) for c in claims)
