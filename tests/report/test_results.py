"""scaling.report.results and files: verdict aggregation, measurement tolerances, JSON and Markdown output."""

from __future__ import annotations

import json

import pytest

from scaling.report import (
    ClaimResult,
    Measurement,
    Tolerance,
    build_report,
    load_report,
    worst_verdict,
    write_report,
)


def test_worst_verdict_orders_verdicts() -> None:
    """A claim is only as reproduced as its weakest test."""
    assert worst_verdict(["reproduced", "inconclusive"]) == "inconclusive"
    assert worst_verdict(["reproduced", "not_reproduced", "inconclusive"]) == "not_reproduced"
    assert worst_verdict(["reproduced"]) == "reproduced"


def test_worst_verdict_refuses_unknown() -> None:
    """An unknown verdict is a ValueError naming it."""
    with pytest.raises(ValueError, match="'maybe'"):
        worst_verdict(["maybe"])


@pytest.mark.parametrize("value, expected, tol, relative, within", [
    (1.05, 1.0, 0.1, False, True),
    (1.2, 1.0, 0.1, False, False),
    (105.0, 100.0, 0.05, True, True),
    (106.0, 100.0, 0.05, True, False),
    (3, 3, 0, False, True),
    (1.0, None, 0.1, False, None),
])
def test_measurement_within(value, expected, tol, relative, within) -> None:
    """`within` applies an absolute or relative tolerance, and is None without an expectation."""
    assert Measurement("m", value, expected, tol, relative).within is within


def test_report_round_trips_through_json(tmp_path) -> None:
    """write_report writes JSON that load_report reads back, and Markdown with every claim."""
    c = ClaimResult("a-claim", "A claim", "Doe 2020", "words", "cpu", "smoke", verdict="reproduced")
    c.measurements.append(Measurement("x", 1.5, 1.4, 0.2, unit="nats"))
    report = build_report([c], {"python": "3.11"}, "smoke")
    write_report(tmp_path, report)
    loaded = load_report(tmp_path)
    assert loaded["claims"][0]["measurements"][0]["within"] is True
    assert loaded["summary"] == {"reproduced": 1, "reproduced_unexpectedly": 0, "inconclusive": 0,
                                 "not_reproduced": 0, "error": 0}
    assert "| x | 1.5 nats | 1.4 | ±0.2 | yes | unknown |" in (tmp_path / "report.md").read_text()


def test_load_report_names_a_malformed_file(tmp_path) -> None:
    """A file that is not a report is a ValueError naming the file."""
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"nothing": 1}))
    with pytest.raises(ValueError, match="report.json"):
        load_report(path)


@pytest.mark.parametrize("tol, old, new, fails", [
    (Tolerance(0.1), 1.0, 1.1, False),
    (Tolerance(0.1), 1.0, 1.2, True),
    (Tolerance(0.05, relative=True), 100.0, 104.0, False),
    (Tolerance(0.05, relative=True), 100.0, 106.0, True),
    (Tolerance(0.1), "width", "width", False),
    (Tolerance(0.1), "width", "depth", True),
    (Tolerance(0.1), True, False, True),
    (Tolerance(0.1), 1.0, float("nan"), True),
])
def test_tolerance_fails_explains_or_returns_none(tol, old, new, fails) -> None:
    """Tolerance.fails returns a message naming both values when past the bound, else None."""
    msg = tol.fails(old, new)
    assert (msg is not None) is fails
    if fails:
        assert repr(new) in msg


def test_claim_evidence_is_its_strongest_measurement() -> None:
    """A claim's evidence is its strongest measurement's kind; counts per kind are in the report."""
    c = ClaimResult("c", "C", "src", "", "cpu", "smoke", verdict="reproduced",
                    declared_evidence="published-numbers")
    assert c.to_dict()["evidence"] == "published-numbers"  # nothing measured: the declared kind
    c.measurements += [Measurement("a", 1.0, evidence="simulated"), Measurement("b", 2.0, evidence="trained")]
    report = build_report([c], {}, "smoke")
    assert report["claims"][0]["evidence"] == "trained"
    assert report["by_evidence"]["trained"]["reproduced"] == 1


def test_report_from_before_evidence_kinds_loads(tmp_path) -> None:
    """A version-1 report (no evidence, headline or rule) loads with evidence "unknown" and renders."""
    old = {"version": 1, "tier": "smoke", "summary": {"reproduced": 1, "inconclusive": 0, "not_reproduced": 0},
           "claims": [{"id": "a", "title": "A", "source": "s", "quote": "", "device": "cpu", "tier": "smoke",
                       "verdict": "reproduced", "reasons": [], "duration_s": 1.0, "figures": [], "notes": [],
                       "tests": [], "measurements": [{"name": "x", "value": 1.0, "expected": 1.0,
                                                      "tolerance": 0.1, "relative": False, "unit": "",
                                                      "note": "", "drift": None, "within": True}]}],
           "environment": {"python": "3.11"}}
    (tmp_path / "report.json").write_text(json.dumps(old))
    report = load_report(tmp_path)
    assert report["claims"][0]["evidence"] == "unknown"
    assert report["claims"][0]["measurements"][0]["evidence"] == "unknown"
    write_report(tmp_path, report)
    assert "| [A](#a-cpu) | cpu | unknown | ✅ reproduced | x | 1 | 1 (±0.1) |" in (tmp_path / "report.md").read_text()


def test_markdown_escapes_html_and_table_characters(tmp_path) -> None:
    """A title, measurement name or note holding HTML reaches report.md as text, never as markup."""
    c = ClaimResult("c", "<script>alert(1)</script>", "src", "", "cpu", "smoke", verdict="reproduced",
                    notes=["<img src=x onerror=alert(1)>"])
    c.measurements.append(Measurement("a|b <b>", 1.0))
    write_report(tmp_path, build_report([c], {"python": "<i>3.11</i>"}, "smoke"))
    md = (tmp_path / "report.md").read_text()
    assert "<script>" not in md and "<img" not in md and "<b>" not in md and "<i>" not in md
    assert "&lt;script&gt;" in md and "a\\|b &lt;b&gt;" in md
