"""scaling.report.baseline: loading, comparing and updating stored measurements."""

from __future__ import annotations

import json

import pytest

from scaling.report import baseline
from scaling.report import ClaimResult, Measurement


def claim_with(*measurements: Measurement) -> ClaimResult:
    c = ClaimResult("c", "C", "src", "", "cpu", "smoke")
    c.measurements.extend(measurements)
    return c


def test_update_then_compare_has_no_drift(tmp_path) -> None:
    """Measurements written by update compare clean against themselves."""
    path = tmp_path / "b.json"
    claims = [claim_with(Measurement("n", 124439808), Measurement("a", 0.5, 0.5, 0.1))]
    baseline.update(path, claims)
    assert baseline.compare(baseline.load(path), claims) == ([], [])


def test_drift_uses_the_drift_tolerance(tmp_path) -> None:
    """A move past `drift` (not `tolerance`) is a drift; its message names the update flag."""
    path = tmp_path / "b.json"
    baseline.update(path, [claim_with(Measurement("loss", 2.00, 2.0, 0.5, drift=0.02))])
    drifts, new = baseline.compare(baseline.load(path), [claim_with(Measurement("loss", 2.05, 2.0, 0.5, drift=0.02))])
    assert len(drifts) == 1 and new == []
    msg = drifts[0].message(path)
    assert "'loss'" in msg and "2.0" in msg and "2.05" in msg and baseline.UPDATE_FLAG in msg


def test_exact_counts_drift_on_any_change(tmp_path) -> None:
    """A measurement without a tolerance is compared exactly (up to float rounding)."""
    path = tmp_path / "b.json"
    baseline.update(path, [claim_with(Measurement("n", 100))])
    drifts, _ = baseline.compare(baseline.load(path), [claim_with(Measurement("n", 101))])
    assert [d.measurement for d in drifts] == ["n"]


def test_new_measurements_are_listed(tmp_path) -> None:
    """Measurements the baseline lacks are listed, not treated as drift."""
    path = tmp_path / "b.json"
    baseline.update(path, [claim_with(Measurement("a", 1.0))])
    drifts, new = baseline.compare(baseline.load(path), [claim_with(Measurement("a", 1.0), Measurement("b", 2.0))])
    assert drifts == [] and new == ["c::cpu::smoke::b"]


def test_update_refuses_a_malformed_file(tmp_path) -> None:
    """update never overwrites a file that is not a baseline."""
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(baseline.BaselineError, match="b.json"):
        baseline.update(path, [claim_with(Measurement("a", 1.0))])
    assert json.loads(path.read_text()) == {"version": 99}


def test_labels_compare_exactly(tmp_path) -> None:
    """A string measurement (a label such as a family name) drifts on any change."""
    path = tmp_path / "b.json"
    baseline.update(path, [claim_with(Measurement("family", "width"))])
    drifts, _ = baseline.compare(baseline.load(path), [claim_with(Measurement("family", "depth"))])
    assert [(d.baseline, d.measured) for d in drifts] == [("width", "depth")]


def test_baseline_entries_carry_evidence(tmp_path) -> None:
    """Each stored entry names its measurement's evidence kind, for people reading the file."""
    path = tmp_path / "b.json"
    baseline.update(path, [claim_with(Measurement("a", 1.0, evidence="trained"))])
    assert baseline.load(path)["c::cpu::smoke::a"]["evidence"] == "trained"


def test_nan_is_stored_as_null_and_nan_again_is_no_drift(tmp_path) -> None:
    """A NaN is stored as null (strict JSON); NaN again is no drift, a finite value against it is."""
    path = tmp_path / "b.json"
    baseline.update(path, [claim_with(Measurement("x", float("nan")))])
    assert "NaN" not in path.read_text()
    entries = baseline.load(path)
    assert entries["c::cpu::smoke::x"]["value"] is None
    assert baseline.compare(entries, [claim_with(Measurement("x", float("nan")))]) == ([], [])
    (d,), _ = baseline.compare(entries, [claim_with(Measurement("x", 0.5))])
    assert "null (not a finite number)" in d.message(path)
    baseline.update(path, [claim_with(Measurement("y", 0.5))])
    (d,), _ = baseline.compare(baseline.load(path), [claim_with(Measurement("y", float("nan")))])
    assert "nan (not a finite number)" in d.message(path)


def test_update_keeps_the_file_permissions(tmp_path) -> None:
    """Updating a baseline keeps its permission bits (it used to become 0600)."""
    path = tmp_path / "b.json"
    baseline.update(path, [claim_with(Measurement("a", 1.0))])
    path.chmod(0o644)
    baseline.update(path, [claim_with(Measurement("a", 2.0))])
    assert path.stat().st_mode & 0o777 == 0o644
