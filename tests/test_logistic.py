"""Tests for scaling.fit.logistic: the emergence shape fit and its residual-bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from scaling.fit.logistic import Logistic, fit_logistic, fit_logistic_seeds

SIZES = np.linspace(3.2, 5.0, 9)  # log10 N of a 9-size sweep over 1.8 decades


def _runs(f, seeds=3, noise=0.02, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    x = np.repeat(SIZES, seeds)
    return x, f(x) + rng.normal(0, noise, x.size)


def test_fit_recovers_a_planted_logistic():
    """A logistic with a known midpoint and width is recovered from noiseless points."""
    law = Logistic(x0=4.0, w=0.15, lo=0.1, hi=0.9)
    x = np.linspace(3.0, 5.0, 21)
    fit = fit_logistic(x, law(x))
    assert fit.x0 == pytest.approx(4.0, abs=1e-4) and fit.w == pytest.approx(0.15, rel=1e-3)
    assert fit.rise_decades == pytest.approx(2 * np.log(9) * 0.15, rel=1e-3)


def test_a_falling_metric_is_a_logistic_with_hi_below_lo():
    """A metric that falls with N (a loss) fits with hi < lo and a positive width."""
    law = Logistic(x0=4.2, w=0.1, lo=1.7, hi=0.05)
    x = np.linspace(3.0, 5.0, 15)
    fit = fit_logistic(x, law(x))
    assert fit.hi < fit.lo and fit.x0 == pytest.approx(4.2, abs=1e-3)


def test_a_step_between_sizes_is_narrow_and_a_power_law_is_wide():
    """A jump between two adjacent sizes has a rise far under half a decade; N^-0.4 one far over it."""
    step = fit_logistic_seeds(*_runs(lambda x: (x > 4.1).astype(float)), resamples=50, level=0.95)
    assert step.rise.high < 0.5 and 4.1 < step.law.x0 < 4.325  # between the bracketing sizes
    power = fit_logistic_seeds(*_runs(lambda x: 1.7 * 10 ** (-0.4 * (x - 3.0))), resamples=50, level=0.95)
    assert power.rise.low > 0.5


def test_bad_input_names_the_problem():
    """Mismatched or too-short inputs, non-finite values and too few resamples are ValueErrors."""
    with pytest.raises(ValueError, match="same length"):
        fit_logistic([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        fit_logistic([1, 2, 3, 4], [0, np.nan, 1, 1])
    with pytest.raises(ValueError, match="resamples"):
        fit_logistic_seeds(*_runs(lambda x: x), resamples=1, level=0.9)


def test_a_per_seed_lottery_is_not_called_sharp():
    """Runs that each learn the task or not, with a probability rising over 1.9 decades of N, are never
    called sharp at 7 sizes × 3 seeds: a size whose 3 seeds happen to agree must not look noiseless."""
    rng = np.random.default_rng(2)
    x = np.repeat(np.linspace(np.log10(1.5e3), 5.0, 7), 3)
    p = 1.0 / (1.0 + np.exp(-(x - 4.23) / 0.435))  # 10-90% over 4.39 · 0.435 = 1.9 decades
    for _ in range(8):
        learned = rng.random(x.size) < p
        y = np.where(learned, 1.0, np.where(rng.random(x.size) < 0.4, 0.1, 0.01))  # done, one digit off, none
        fit = fit_logistic_seeds(x, y, resamples=60, level=0.95)
        assert fit.rise.high > 0.5, f"lottery {np.round(y, 2)} called sharp: rise {fit.rise}"
