"""Tests for scaling.report.compare: the difference between two claim reports."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.report.compare import compare_reports, render_markdown, render_text
from scaling.report import ClaimResult, Measurement, build_report


def report(commit="aaaa1111", alpha=0.34, verdict="reproduced", extra_claim=False, tier="smoke"):
    """A small report whose alpha measurement and verdict can be varied."""
    claims = [
        ClaimResult("chinchilla", "Chinchilla fit", "Hoffmann 2022, eq. 10", "L = E + ...", "cpu", tier,
                    verdict=verdict, measurements=[
                        Measurement("alpha", alpha, expected=0.34, tolerance=0.02, drift=0.01),
                        Measurement("loss", 2.0, expected=2.0, tolerance=0.1, relative=True, unit="nats"),
                        Measurement("flag", True)]),
        ClaimResult("params", "Params", "Kaplan 2020", "", "cpu", tier, verdict="reproduced",
                    measurements=[Measurement("total", 124439808, expected=124439808, tolerance=0)]),
    ]
    if extra_claim:
        claims.append(ClaimResult("emergence", "Emergence", "Wei 2022", "", "cpu", tier))
    return json.loads(json.dumps(build_report(claims, {"git_commit": commit}, tier)))


def test_identical_reports_have_no_differences():
    """A report compared with itself shows no changes and counts every measurement unchanged."""
    diff = compare_reports(report(), report())
    assert diff.empty and diff.n_common == 2 and diff.n_unchanged_measurements == 4
    assert "No differences." in render_text(diff)


def test_verdict_change_and_moved_measurement():
    """A worse verdict is a regression; a moved value carries its absolute and relative change."""
    diff = compare_reports(report(), report("bbbb2222", alpha=0.37, verdict="not_reproduced"))
    (v,) = diff.verdict_changes
    assert (v.claim, v.old, v.new, v.regressed) == ("chinchilla", "reproduced", "not_reproduced", True)
    assert diff.regressions == (v,)
    (m,) = diff.moved
    assert m.name == "alpha" and m.old == 0.34 and m.new == 0.37
    assert m.absolute == pytest.approx(0.03) and m.relative == pytest.approx(0.03 / 0.34)
    assert m.beyond_drift is True  # drift band 0.01 < 0.03
    assert (diff.old_label, diff.new_label) == ("aaaa1111", "bbbb2222")


def test_improvement_is_not_a_regression():
    """not_reproduced -> reproduced is a verdict change but not a regression."""
    diff = compare_reports(report(verdict="not_reproduced"), report())
    assert len(diff.verdict_changes) == 1 and diff.regressions == ()


def test_small_move_within_drift_band():
    """A move smaller than the drift tolerance is listed but flagged within drift."""
    (m,) = compare_reports(report(), report(alpha=0.345)).moved
    assert m.beyond_drift is False


def test_relative_drift_uses_old_value_like_the_baseline_gate():
    """A relative tolerance bounds the move by a fraction of the old value (as scaling.report.baseline does)."""
    old, new = report(), report()
    new["claims"][0]["measurements"][1]["value"] = 2.15  # +7.5% with a 10% relative band
    (m,) = compare_reports(old, new).moved
    assert m.beyond_drift is False and m.relative == pytest.approx(0.075)
    new["claims"][0]["measurements"][1]["value"] = 2.25
    assert compare_reports(old, new).moved[0].beyond_drift is True


def test_claims_and_measurements_added_and_removed():
    """Claims present in only one report, and measurements in only one claim, are listed."""
    old, new = report(), report(extra_claim=True)
    params = next(c for c in new["claims"] if c["id"] == "params")
    params["measurements"] = [{"name": "embedding", "value": 38597376, "unit": ""}]
    diff = compare_reports(old, new)
    assert diff.claims_added == (("emergence", "cpu"),) and diff.claims_removed == ()
    assert compare_reports(new, old).claims_removed == (("emergence", "cpu"),)
    statuses = {(m.claim, m.name): m.status for m in diff.moved}
    assert statuses == {("params", "embedding"): "added", ("params", "total"): "removed"}


def test_non_numeric_change_has_no_ratio():
    """A boolean measurement that flips is a change without absolute or relative size."""
    old, new = report(), report()
    new["claims"][0]["measurements"][2]["value"] = False
    (m,) = compare_reports(old, new).moved
    assert (m.old, m.new, m.absolute, m.relative, m.beyond_drift) == (True, False, None, None, None)


def test_renderings_name_changes_and_tiers():
    """Text and Markdown name the claim, both values, the change, and a tier mismatch."""
    diff = compare_reports(report(), report(alpha=0.37, verdict="inconclusive", tier="standard"))
    text, md = render_text(diff), render_markdown(diff)
    for out in (text, md):
        assert "chinchilla" in out and "0.34" in out and "0.37" in out and "+8.82%" in out
        assert "smoke → standard" in out
    assert "WORSE" in text and "| `chinchilla` |" in md
    json.dumps(diff.to_dict())  # JSON-ready


@settings(max_examples=50, deadline=None)
@given(a=st.floats(-1e6, 1e6, allow_nan=False), b=st.floats(-1e6, 1e6, allow_nan=False))
def test_change_is_antisymmetric(a, b):
    """Swapping old and new negates the absolute change and keeps which measurement moved."""
    old, new = report(), report()
    old["claims"][0]["measurements"][0]["value"] = a
    new["claims"][0]["measurements"][0]["value"] = b
    fwd, back = compare_reports(old, new).moved, compare_reports(new, old).moved
    assert len(fwd) == len(back) == (0 if a == b else 1)
    if fwd:
        assert fwd[0].absolute == -back[0].absolute


def test_nan_measurement_is_flagged():
    """A value that becomes nan is listed beyond drift, with no absolute or relative size."""
    old, new = report(), report()
    new["claims"][0]["measurements"][0]["value"] = float("nan")
    (m,) = compare_reports(old, new).moved
    assert (m.absolute, m.relative, m.beyond_drift) == (None, None, True)
    assert "beyond drift" in render_text(compare_reports(old, new))


def test_evidence_change_is_listed_and_carried() -> None:
    """A claim whose evidence kind changes is listed even with the same verdict; moves carry their kind."""
    old, new = report(), report(alpha=0.5)
    for c in new["claims"]:
        c["evidence"] = "trained"
        for m in c["measurements"]:
            m["evidence"] = "trained"
    diff = compare_reports(old, new)
    (v,) = [v for v in diff.verdict_changes if v.claim == "chinchilla"]
    assert (v.old_evidence, v.evidence, v.regressed) == ("unknown", "trained", False)
    assert {m.evidence for m in diff.moved} == {"trained"}
    assert "evidence unknown → trained" in render_text(diff)
    assert "| trained |" in render_markdown(diff)
