"""Shared fixtures of the empirical claims (the plugin provides claim, device, tier, model_family...)."""

from __future__ import annotations

import matplotlib
import pytest

from scaling.experiments import budget_tier
from scaling.family import default_model_family
from scaling.pytest_plugin import DEFAULT_SOURCE
from scaling.trained import Experiments

# Figures are files for the report, never windows: pick the non-interactive backend once,
# before any claim module imports pyplot.
matplotlib.use("Agg")


@pytest.fixture
def expect_xfail(request, tier, device, scaling_source, model_family):
    """A function taking {budget tier: reason}: marks the calling test xfail(strict) at those tiers.

    For claims whose outcome was measured to differ between tiers (e.g. a budget too small to
    decide at smoke): the expectation is strict, so a change in either direction is noticed.
    The key is the budget row actually used (`standard` on CUDA runs the `full` budgets); a
    key "tier:device" (e.g. "smoke:cpu") limits an expectation to the device it was measured on.

    An expectation records a measurement, so it applies only where that measurement was made:
    the suite's reference setup, the default --scaling-source and the default `model_family`
    (compared by name). Elsewhere (another source, an overridden family) none applies and the
    decision rules decide unaided: a claim that holds passes, one that does not fails with its
    evidence. This is not a branch on a source's name but on where the record was measured.
    """
    reference = scaling_source == DEFAULT_SOURCE and model_family.name == default_model_family().name

    def apply(reasons: dict[str, str]) -> None:
        if not reference:
            return
        row = budget_tier(tier.name, device)
        reason = reasons.get(f"{row}:{device.split(':')[0]}") or reasons.get(row)
        if reason:
            request.applymarker(pytest.mark.xfail(strict=True, reason=reason))

    return apply


@pytest.fixture(scope="session")
def experiments(model_family, scaling_source, tier, store_path) -> Experiments:
    """The session's trained grids (family, source, tier and store bound once; see scaling.trained)."""
    return Experiments(model_family, scaling_source, tier.name, tier.seeds, store_path)
