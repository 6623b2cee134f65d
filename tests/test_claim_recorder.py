"""Honest verdicts for one claim test's outcome (scaling.claim_recorder), through pytester runs."""

from __future__ import annotations

import json

import pytest

# pytester's in-process runs drop the modules a run imported; torch cannot be imported twice
# in one process, so import what the plugin imports up front.
import torch  # noqa: F401,E402

HEAD = '''
import pytest

RULE = "alpha within 0.01 of 0.076 (the paper's interval)"
pytestmark = pytest.mark.claim("demo", title="Demo", source="Doe 2020", evidence="trained",
                               headline="alpha", rule=RULE)
'''


def run_claim(pytester: pytest.Pytester, body: str, *args: str) -> tuple[pytest.RunResult, dict]:
    """Run a one-module claim and return the result and the claim's report entry."""
    pytester.makepyfile(test_demo=HEAD + body)
    result = pytester.runpytest("--scaling-device=cpu", "--scaling-report=out", "-p", "no:cacheprovider", *args)
    (c,) = json.loads((pytester.path / "out" / "report.json").read_text())["claims"]
    return result, c


def test_strict_xfail_that_passes_is_reproduced_unexpectedly(pytester: pytest.Pytester) -> None:
    """A strict xfail whose test passes is reported reproduced_unexpectedly, and the run fails."""
    result, c = run_claim(pytester, '''
@pytest.mark.xfail(strict=True, reason="too small a scale")
def test_law(claim):
    claim.measure("alpha", 0.076, expected=0.076, tolerance=0.01)
''')
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert c["verdict"] == "reproduced_unexpectedly"
    assert any("too small a scale" in r and "remove the marker" in r for r in c["reasons"])


def test_non_strict_xpass_still_fails_the_run(pytester: pytest.Pytester) -> None:
    """A non-strict xfail that passes is reproduced_unexpectedly too, and the plugin fails the run."""
    result, c = run_claim(pytester, '''
@pytest.mark.xfail(strict=False, reason="not expected here")
def test_law(claim):
    claim.measure("alpha", 0.076, expected=0.076, tolerance=0.01)
''')
    assert c["verdict"] == "reproduced_unexpectedly"
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_error_before_measuring_is_error_with_message(pytester: pytest.Pytester) -> None:
    """A test that raises before any measurement is `error` with the exception's message."""
    _, c = run_claim(pytester, '''
def test_law(claim):
    raise ValueError("model family too coarse for the grid (got 3 sizes)")
''')
    assert c["verdict"] == "error"
    assert any("ValueError: model family too coarse for the grid (got 3 sizes)" in r for r in c["reasons"])


def test_fixture_error_before_the_claim_fixture_is_error(pytester: pytest.Pytester) -> None:
    """A fixture that fails before `claim` is made still reports the claim, as `error`."""
    _, c = run_claim(pytester, '''
@pytest.fixture
def family():
    raise ValueError("no such family")

def test_law(family, claim):
    claim.measure("alpha", 0.076)
''')
    assert c["verdict"] == "error" and "no such family" in " ".join(c["reasons"])


def test_failed_assertion_after_measuring_is_not_reproduced(pytester: pytest.Pytester) -> None:
    """A failed assertion on a measured number stays not_reproduced (the claim was tested)."""
    _, c = run_claim(pytester, '''
def test_law(claim):
    alpha = claim.measure("alpha", 0.2, expected=0.076, tolerance=0.01)
    assert abs(alpha - 0.076) <= 0.01
''')
    assert c["verdict"] == "not_reproduced"


def test_not_applicable_skip_leaves_the_verdict_to_other_tests(pytester: pytest.Pytester) -> None:
    """claim.not_applicable skips without lowering a decided claim; a plain skip still does."""
    body = '''
def test_law(claim):
    claim.measure("alpha", 0.076, expected=0.076, tolerance=0.01)

def test_ground_truth(claim):
    claim.not_applicable("ground truth is known only for the synthetic source")
'''
    result, c = run_claim(pytester, body)
    result.assert_outcomes(passed=1, skipped=1)
    assert c["verdict"] == "reproduced"
    assert [t["verdict"] for t in c["tests"]] == ["reproduced", "not_applicable"]
    _, c = run_claim(pytester, body.replace('claim.not_applicable(', 'pytest.skip('))
    assert c["verdict"] == "inconclusive"


def test_marker_fields_reach_the_report(pytester: pytest.Pytester) -> None:
    """evidence, headline and rule come from the marker; measure(evidence=) overrides per number."""
    _, c = run_claim(pytester, '''
def test_law(claim):
    claim.measure("alpha", 0.076, expected=0.076, tolerance=0.01)
    claim.measure("published alpha", 0.076, evidence="published-numbers")
''')
    assert (c["evidence"], c["headline"]) == ("trained", "alpha")
    assert [m["evidence"] for m in c["measurements"]] == ["trained", "published-numbers"]
    assert c["rule"].startswith("alpha within 0.01")
    md = (pytester.path / "out" / "report.md").read_text()
    assert "**Decision rule**" in md and "> alpha within 0.01 of 0.076" in md
    assert "Decision rule" in (pytester.path / "out" / "report.html").read_text()


def test_unknown_evidence_kind_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """A claim marker with an unknown evidence kind is a usage error naming the test and the kinds."""
    pytester.makepyfile(test_demo='''
import pytest

@pytest.mark.claim("demo", title="Demo", source="x", evidence="vibes")
def test_law(claim):
    pass
''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_demo.py::test_law*evidence*trained*'vibes'*"])
