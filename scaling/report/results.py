"""Claim results: the verdict vocabulary, the one tolerance rule, measurements and claims.

The pytest plugin gathers a `ClaimResult` per (claim, device, tier); this module knows nothing
of pytest, nor of how a report is rendered (`markdown`, `html`) or written (`files`).
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy

# The verdict vocabulary, best to worst: name -> (label, icon for HTML, mark for Markdown/terminal).
# `reproduced_unexpectedly`: a test marked xfail passed (the run fails, so the marker goes);
# `error`: a test raised before it measured anything, so nothing about the claim was decided.
VERDICT_STYLE = {
    "reproduced": ("reproduced", "✓", "✅"),
    "reproduced_unexpectedly": ("reproduced unexpectedly", "!", "⚠️"),
    "inconclusive": ("inconclusive", "?", "❔"),
    "not_reproduced": ("not reproduced", "✗", "❌"),
    "error": ("error", "⚠", "💥"),
}
VERDICTS = tuple(VERDICT_STYLE)
# A test's own verdict when it declared that it does not apply (e.g. ground truth known only
# for the synthetic source): it is listed, but does not count towards the claim's verdict.
NOT_APPLICABLE = "not_applicable"

# What a number rests on, strongest first: models trained here; a refit of released
# measurements; counted or measured here without training; draws from a known law; arithmetic
# on published constants. "unknown" is what a report from before evidence kinds shows.
EVIDENCE_KINDS = ("trained", "published-data", "measured", "simulated", "published-numbers")
UNKNOWN_EVIDENCE = "unknown"
REPORT_VERSION = 2
EXACT = 1e-9  # relative tolerance for measurements that name none: they are exact counts


def verdict_label(verdict: str, style: str = "label") -> str:
    """`verdict` for people: its label ("not reproduced"), its "icon" or its "mark" with the label."""
    label, icon, mark = VERDICT_STYLE.get(verdict, (verdict, "", ""))
    return {"label": label, "icon": icon, "mark": f"{mark} {label}".strip()}[style]


def verdict_rank(verdict: str) -> int:
    """Position in the vocabulary, best first; an unknown verdict ranks below all."""
    return VERDICTS.index(verdict) if verdict in VERDICTS else len(VERDICTS)


def worst_verdict(verdicts) -> str:
    """The worst of `verdicts` (a claim is only as reproduced as its weakest test); tests that
    do not apply are left out, and with nothing left the claim is inconclusive."""
    verdicts = [v for v in verdicts if v != NOT_APPLICABLE]
    for v in verdicts:
        if v not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)} (got {v!r})")
    return max(verdicts, key=VERDICTS.index) if verdicts else "inconclusive"


FIGURES_DIR = "figures"  # a report embeds figures from this folder of its directory only


def check_figure_entry(entry: Any) -> str | None:
    """Why `entry` (a claim's `figures` item) may not be embedded, or None: it must be a
    relative path inside the report's own figures/ folder, with no `..`."""
    if not isinstance(entry, str) or not entry:
        return f"figure entry {entry!r} is not a path"
    parts = PurePosixPath(entry.replace("\\", "/")).parts
    if entry.startswith(("/", "\\")) or (parts and ":" in parts[0]) or ".." in parts:
        return f"figure entry {entry!r} is absolute or leaves the report directory"
    if len(parts) < 2 or parts[0] != FIGURES_DIR:
        return f"figure entry {entry!r} is not inside the report's {FIGURES_DIR}/ folder"
    return None


def check_evidence(kind: str, what: str = "evidence") -> str:
    """`kind` if it is an evidence kind; ValueError naming `what` and the kinds otherwise."""
    if kind not in EVIDENCE_KINDS:
        raise ValueError(f"{what} must be one of {', '.join(EVIDENCE_KINDS)} (got {kind!r})")
    return kind


def strongest_evidence(kinds) -> str:
    """The strongest of `kinds` (trained > published-data > measured > simulated >
    published-numbers); "unknown" when none is a known kind."""
    known = [k for k in kinds if k in EVIDENCE_KINDS]
    return min(known, key=EVIDENCE_KINDS.index) if known else UNKNOWN_EVIDENCE


def as_number(x: Any) -> float | None:
    """`x` as a float when it is a number (not a bool), else None."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x)


@dataclass(frozen=True)
class Tolerance:
    """How far a value may lie from a reference: absolute, or a fraction of |reference|.

    The one rule behind a measurement's `within`, the baseline's drift and a report
    comparison (after pytest-benchmark's `RegressionCheck.fails`).
    """

    value: float
    relative: bool = False

    @classmethod
    def for_drift(cls, drift: float | None, tolerance: float | None, relative: bool) -> Tolerance:
        """A measurement's drift tolerance: `drift`, else `tolerance`, else an exact count."""
        tol = drift if drift is not None else tolerance
        return cls(EXACT, True) if tol is None else cls(float(tol), bool(relative))

    def describe(self) -> str:
        return f"±{100 * self.value:.3g}% relative" if self.relative else f"±{self.value:g}"

    def fails(self, old: Any, new: Any) -> str | None:
        """Why `new` is not within tolerance of `old`, or None when it is.

        Labels, flags and missing values match exactly.
        """
        a, b = as_number(old), as_number(new)
        if a is None or b is None:
            return None if old == new else f"{old!r} became {new!r}"
        if a == b or (a != a and b != b):  # equal, or nan both times: no drift
            return None
        if a != a or b != b:
            return f"{old!r} became {new!r} (one of them is not a number)"
        bound = self.value * abs(a) if self.relative else self.value
        diff = abs(b - a)
        if not diff <= bound * (1 + 1e-12):  # also true for nan and inf
            return f"{new!r} is {diff:.4g} from {old!r}, beyond {self.describe()}"
        return None


@dataclass
class Measurement:
    name: str
    value: float | int | bool | str | None
    expected: float | int | bool | None = None
    tolerance: float | None = None
    relative: bool = False  # tolerance is a fraction of `expected` (else absolute)
    unit: str = ""
    note: str = ""
    drift: float | None = None  # baseline tolerance (same kind); None -> `tolerance`
    evidence: str = UNKNOWN_EVIDENCE  # one of EVIDENCE_KINDS

    @property
    def within(self) -> bool | None:
        """Whether the value lies within tolerance of the expectation; None when either is absent."""
        if self.expected is None or self.tolerance is None or self.value is None:
            return None
        return Tolerance(self.tolerance, self.relative).fails(self.expected, self.value) is None

    def drift_tolerance(self) -> Tolerance:
        """The tolerance a baseline applies: `drift`, else `tolerance`, else exact."""
        return Tolerance.for_drift(self.drift, self.tolerance, self.relative)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["within"] = self.within
        return d


@dataclass
class ClaimResult:
    id: str
    title: str
    source: str
    quote: str
    device: str
    tier: str
    verdict: str = "inconclusive"
    reasons: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    measurements: list[Measurement] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # paths relative to the report directory
    notes: list[str] = field(default_factory=list)
    tests: list[dict[str, str]] = field(default_factory=list)  # nodeid, outcome, verdict
    declared_evidence: str = UNKNOWN_EVIDENCE  # the marker's kind, for claims that measure nothing
    headline: str | None = None  # the name of the measurement the claim is about
    rule: str = ""  # the decision rule, as the claim module states it

    @property
    def evidence(self) -> str:
        """The strongest kind among the measurements (the declared kind when there are none)."""
        return strongest_evidence([m.evidence for m in self.measurements] or [self.declared_evidence])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["declared_evidence"]
        d["evidence"] = self.evidence
        d["measurements"] = [m.to_dict() for m in self.measurements]
        d["duration_s"] = round(self.duration_s, 3)
        return d


def headline_measurement(claim: dict[str, Any]) -> dict[str, Any] | None:
    """The measurement a summary row shows: the claim's named headline; for a report without
    one, the first outside its tolerance, else the first with a published value, else the first."""
    ms = claim.get("measurements") or []
    if claim.get("headline"):
        return next((m for m in ms if m.get("name") == claim["headline"]), None)
    for pick in (lambda m: m.get("within") is False, lambda m: m.get("expected") is not None,
                 lambda m: True):
        for m in ms:
            if pick(m):
                return m
    return None


def _git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_info(devices, cwd: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Versions, device names and the git commit, for the report's environment block."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "devices": {},
        "git_commit": _git_commit(cwd),
    }
    try:
        import torch  # deferred: heavy, and the fitting claims need no torch

        env["torch"] = torch.__version__
        if "cuda" in devices and torch.cuda.is_available():
            env["devices"]["cuda"] = torch.cuda.get_device_name(0)
    except ImportError:  # the fitting claims need no torch
        env["torch"] = None
    env["devices"]["cpu"] = _cpu_name()
    env.update(extra or {})
    return env


def build_report(claims: list[ClaimResult], environment: dict[str, Any], tier: str) -> dict[str, Any]:
    """The report as a JSON-ready dict, claims in a stable order."""
    ordered = sorted(claims, key=lambda c: (c.id, c.device))
    dicts = [c.to_dict() for c in ordered]
    return {
        "version": REPORT_VERSION,
        "tier": tier,
        "summary": verdict_counts(dicts),
        "by_evidence": counts_by_evidence(dicts),
        "claims": dicts,
        "environment": environment,
    }


def verdict_counts(claims: list[dict[str, Any]]) -> dict[str, int]:
    """How many claims got each verdict, every verdict listed."""
    return {v: sum(c.get("verdict") == v for c in claims) for v in VERDICTS}


def counts_by_evidence(claims: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Verdict counts per evidence kind (kinds present only, strongest first)."""
    kinds = [*EVIDENCE_KINDS, UNKNOWN_EVIDENCE]
    present = sorted({c.get("evidence", UNKNOWN_EVIDENCE) for c in claims},
                     key=lambda k: kinds.index(k) if k in kinds else len(kinds))
    return {k: verdict_counts([c for c in claims if c.get("evidence", UNKNOWN_EVIDENCE) == k])
            for k in present}
