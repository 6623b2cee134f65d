"""Tests for the CI gate: the committed smoke baseline, `make test` using it, and the shipped
GitHub Actions workflow (which cannot run here, so its YAML is checked for what it must do)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from scaling.report import baseline

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "claims/baseline-smoke.json"
WORKFLOW = ROOT / ".github" / "workflows" / "claims.yml"


@pytest.fixture(scope="module")
def steps() -> list[dict]:
    """The steps of the workflow's one job."""
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    (job,) = data["jobs"].values()
    return job["steps"]


def _runs(steps: list[dict]) -> str:
    return "\n".join(s.get("run", "") for s in steps)


def _recipe(target: str) -> str:
    """The commands of one Makefile target."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    m = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, flags=re.M)
    assert m, f"Makefile has no target {target!r}"
    return m.group(1)


def test_committed_baseline_is_a_strict_json_smoke_baseline():
    """The committed baseline loads, is strict JSON (no NaN), and holds smoke-tier measurements only."""
    entries = baseline.load(ROOT / BASELINE)
    assert entries and all(k.split("::")[2] == "smoke" for k in entries)

    def no_constants(name):
        raise AssertionError(f"{BASELINE} holds {name}, which is not JSON")

    json.loads((ROOT / BASELINE).read_text(encoding="utf-8"), parse_constant=no_constants)


def test_make_test_gates_on_the_baseline_and_make_baseline_rewrites_it():
    """`make test` compares with the committed baseline; `make baseline` rewrites it from a fresh store."""
    assert "BASELINE ?= " + BASELINE in (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--scaling-baseline=$(BASELINE)" in _recipe("test")
    regen = _recipe("baseline")
    assert "--scaling-update-baseline" in regen and "--scaling-tier=smoke" in regen
    assert "--scaling-store=" in regen and "rm -f $(BASELINE)" in regen


def test_workflow_runs_on_pushes_and_pull_requests():
    """The workflow triggers on pushes and pull requests."""
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    on = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert "push" in on and "pull_request" in on


def test_workflow_installs_the_pinned_torch(steps):
    """The install step pins torch to the version pyproject.toml pins, then installs the package."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (pin,) = [d for d in pyproject["project"]["dependencies"] if d.startswith("torch")]
    runs = _runs(steps)
    assert f"pip install {pin}" in runs and "pip install -e" in runs


def test_workflow_runs_the_smoke_tier_against_the_baseline(steps):
    """One step runs the claims at the smoke tier with the committed baseline and writes a report."""
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert data["env"]["BASELINE"] == BASELINE and (ROOT / BASELINE).exists()
    (claims,) = [s["run"] for s in steps if "--scaling-tier=smoke" in s.get("run", "")]
    assert '--scaling-baseline="$BASELINE"' in claims and "--scaling-report=" in claims
    assert "--scaling-update-baseline" not in _runs(steps)  # CI never rewrites its own gate


def test_workflow_compares_uploads_and_summarizes(steps):
    """It compares with the previous report, uploads the report always, and writes the step summary."""
    runs = _runs(steps)
    assert re.search(r"scaling report .*--compare previous-report", runs)
    assert "gh run download" in runs and "claims-report" in runs
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()" and upload["with"]["name"] == "claims-report"
    (summary,) = [s for s in steps if "$GITHUB_STEP_SUMMARY" in s.get("run", "")]
    assert summary["if"] == "always()" and "report.md" in summary["run"]
