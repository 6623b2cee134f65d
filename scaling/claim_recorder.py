"""What a claim test records (`ClaimRecorder`, the `claim` fixture's object) and how one test's
outcome becomes a verdict. The pytest plugin wires both in; the report knows nothing of pytest.

A test whose check does not apply here (ground truth known only for the synthetic source, say)
calls `claim.not_applicable(reason)`: it is skipped and listed, and the claim's verdict is left
to its other tests. A plain `pytest.skip` means "could not decide" and makes the claim
inconclusive.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scaling.report.results import NOT_APPLICABLE, VERDICTS, ClaimResult, Measurement, check_evidence


class NotApplicable(pytest.skip.Exception):
    """Raised by `claim.not_applicable`: a skip that leaves the claim's verdict to its other tests."""


class ClaimRecorder:
    """What one test records about its claim: measurements, figures, notes, a verdict."""

    def __init__(self, result: ClaimResult, state, evidence: str) -> None:
        self._result = result
        self._state = state
        self._evidence = evidence
        self._n_start = len(result.measurements)  # what this test measures comes after
        self.verdict_set: tuple[str, str] | None = None

    @property
    def measured(self) -> int:
        """How many measurements this test has recorded."""
        return len(self._result.measurements) - self._n_start

    @property
    def id(self) -> str:
        return self._result.id

    @property
    def device(self) -> str:
        return self._result.device

    def measure(self, name: str, value, *, expected=None, tolerance=None, relative=False,
                unit="", note="", drift=None, evidence=None):
        """Record a measurement (tolerance absolute unless `relative`); returns `value`.

        `evidence` overrides the marker's kind for this number (e.g. a published constant
        recorded beside trained results is "published-numbers").
        """
        if any(m.name == name for m in self._result.measurements):
            raise ValueError(f"claim {self.id!r} already has a measurement named {name!r}")
        evidence = self._evidence if evidence is None else check_evidence(evidence, "measure(evidence=)")
        if hasattr(value, "item"):  # numpy / torch scalars
            value = value.item()
        if hasattr(expected, "item"):
            expected = expected.item()
        self._result.measurements.append(Measurement(
            name, value, expected, None if tolerance is None else float(tolerance), relative,
            unit, note, None if drift is None else float(drift), evidence))
        return value

    def figure(self, fig, name: str) -> Path | None:
        """Save a matplotlib figure as PNG in the report directory (if any) and close it."""
        import matplotlib.pyplot as plt  # deferred: heavy, and only claims with figures need it

        path = None
        if self._state.report_dir is not None:
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{self.id}-{self.device}-{name}").strip("-")
            rel = Path("figures") / f"{slug}.png"
            path = self._state.report_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=110, bbox_inches="tight")
            if str(rel) not in self._result.figures:
                self._result.figures.append(str(rel))
        plt.close(fig)
        return path

    def note(self, text: str) -> None:
        """Add a paragraph of evidence or explanation to the claim's report section."""
        self._result.notes.append(text)

    def environment(self, key: str, value) -> None:
        """Add an entry to the report's environment block (e.g. a corpus fingerprint)."""
        self._state.environment_extra[key] = value

    def not_applicable(self, reason: str) -> None:
        """Skip this test because it does not apply here (e.g. ground truth known only for the
        synthetic source): listed in the report, it leaves the claim's verdict to its other
        tests, where a plain `pytest.skip` makes the claim inconclusive."""
        raise NotApplicable(reason)

    def verdict(self, verdict: str, reason: str) -> None:
        """Set this test's verdict: reproduced, not_reproduced or inconclusive, with its reason."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)} (got {verdict!r})")
        self.verdict_set = (verdict, reason)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def outcome_verdict(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo,
                    recorder: ClaimRecorder) -> tuple[str, str]:
    """(verdict, reason) of one test's decisive phase: what happened, named honestly."""
    xfail = getattr(report, "wasxfail", None)
    excinfo = call.excinfo
    if report.skipped and xfail is None:
        why = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        if excinfo is not None and excinfo.errisinstance(NotApplicable):
            return NOT_APPLICABLE, f"{item.name} does not apply: {_one_line(why)}"
        return "inconclusive", f"skipped: {why}"
    strict_xpass = report.failed and str(report.longrepr).startswith("[XPASS(strict)]")
    if strict_xpass or (report.passed and xfail is not None):
        expected = str(report.longrepr)[len("[XPASS(strict)]"):].strip() if strict_xpass else xfail
        return "reproduced_unexpectedly", (
            f"{item.name} was marked xfail ({_one_line(expected) or 'no reason given'}) but passed; "
            "remove the marker")
    if recorder.verdict_set is not None:
        return recorder.verdict_set
    if report.failed or xfail is not None:
        if (excinfo is not None and recorder.measured == 0
                and not excinfo.errisinstance((AssertionError, pytest.fail.Exception))):
            return "error", f"{item.name} raised before measuring anything: {_one_line(excinfo.exconly())}"
        return "not_reproduced", f"{item.name} failed"
    return "reproduced", ""
