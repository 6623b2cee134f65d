"""A user's conftest.py overrides the `model_family` fixture, and the claims' grids follow it."""

from __future__ import annotations

import pytest

# pytester's in-process runs drop the modules a run imported; torch cannot be imported twice
# in one process, so import what the plugin and the inner tests use up front.
import matplotlib.pyplot  # noqa: F401,E402
import torch  # noqa: F401,E402

import scaling.experiments  # noqa: F401,E402

USER_CONFTEST = '''
import pytest
from scaling.family import ModelFamily
from scaling.model import GPTConfig


def deep_narrow(dial, n_ctx, vocab_size):
    return GPTConfig(n_layer=dial, d_model=24, n_head=3, n_ctx=n_ctx, vocab_size=vocab_size)


@pytest.fixture(scope="session")
def model_family():
    return ModelFamily("deep-narrow", deep_narrow, dials=tuple(range(1, 41)))
'''

CLAIM_LIKE = '''
import pytest
from scaling.experiments import isoflop_jobs, kaplan_jobs
from scaling.schedule import default_lr


def default_rule(n, tokens):
    """The trainer's default rate as an LR(N, D) rule (the grids' plans do not depend on the rate)."""
    return default_lr(n)


pytestmark = pytest.mark.claim("family-demo", title="The claims train the chosen family",
                               source="the README: your own model family or corpus")


def test_grids_use_the_family(claim, device, tier, scaling_source, model_family):
    plan, pairs = kaplan_jobs(model_family, scaling_source, tier.name, tier.seeds, device, default_rule)
    depths = sorted({job.config.n_layer for _, job in pairs})
    widths = sorted({job.config.d_model for _, job in pairs})
    grid, budgets, iso = isoflop_jobs(model_family, scaling_source, tier.name, device, default_rule)
    claim.measure("family", model_family.name)
    claim.measure("sweep depths", ",".join(map(str, depths)))
    claim.measure("sweep widths", ",".join(map(str, widths)))
    claim.measure("isoflop widths", ",".join(sorted({str(j.config.d_model) for _, j in iso})))
'''


def _measurements(pytester: pytest.Pytester) -> dict[str, str]:
    import json

    report = json.loads((pytester.path / "out" / "report.json").read_text())
    (c,) = report["claims"]
    return {m["name"]: m["value"] for m in c["measurements"]}


def test_conftest_override_reaches_the_claim_grids(pytester: pytest.Pytester) -> None:
    """A conftest `model_family` (a depth dial at width 24) replaces the default in every grid."""
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(test_claim=CLAIM_LIKE)
    result = pytester.runpytest("--scaling-device=cpu", "--scaling-report=out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    got = _measurements(pytester)
    assert got["family"] == "deep-narrow"
    assert got["sweep widths"] == "24" and got["isoflop widths"] == "24"
    assert len(got["sweep depths"].split(",")) >= 6  # the sweep's sizes are depths now


def test_without_override_the_default_family_is_used(pytester: pytest.Pytester) -> None:
    """With no conftest, the plugin's fixture gives `default_model_family()` (a width dial)."""
    from scaling.family import default_model_family

    pytester.makepyfile(test_claim=CLAIM_LIKE)
    result = pytester.runpytest("--scaling-device=cpu", "--scaling-report=out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    got = _measurements(pytester)
    default = default_model_family()
    assert got["family"] == default.name
    assert got["sweep depths"] == str(default.config(16, n_ctx=32, vocab_size=64).n_layer)
    assert len(got["sweep widths"].split(",")) >= 6
