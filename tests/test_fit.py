"""Tests for scaling.fit (and its parts: objective, batched L-BFGS, bootstrap)."""

import itertools
import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from scaling.fit import (
    FitError,
    FitStatus,
    extrapolation_error,
    fit_chinchilla,
    fit_power_law,
    hoffmann_grid,
)
from scaling.fit.bootstrap import Interval, percentile_interval
from scaling.fit.lbfgs import minimize_batched, multistart
from scaling.fit.objective import LSEObjective, huber
from scaling.laws import ChinchillaLaw, PowerLaw

PLANTED = ChinchillaLaw(E=1.8, A=480.0, B=2000.0, alpha=0.35, beta=0.37)


def _grid_data(law, noise=0.0, seed=0):
    """Losses of the law on a 6 x 6 grid of sizes and token counts (log-normal noise)."""
    N, D = (a.ravel() for a in np.meshgrid(np.logspace(7, 10, 6), np.logspace(9, 12, 6)))
    L = law.predict(N, D) * np.exp(noise * np.random.default_rng(seed).standard_normal(N.size))
    return N, D, L


def _small_grid():
    """Every 4th Hoffmann start: enough to find the optimum, fast enough for unit tests."""
    return hoffmann_grid()[::4]


# --- the objective --------------------------------------------------------------------------

def _fd_gradient(obj, theta, h=1e-6):
    g = np.zeros_like(theta)
    for j in range(theta.shape[1]):
        step = np.zeros_like(theta)
        step[:, j] = h
        g[:, j] = (obj(theta + step, np.arange(len(theta)))[0]
                   - obj(theta - step, np.arange(len(theta)))[0]) / (2 * h)
    return g


@pytest.mark.parametrize("irreducible, q, delta, weighted", [
    (True, 2, 1e-3, False), (True, 2, None, True), (True, 1, 1e-3, True), (False, 1, None, False),
    (False, 1, 1e-3, False),
])
def test_analytic_gradient_matches_finite_differences(irreducible, q, delta, weighted):
    """The objective's analytic gradient agrees with central differences for every form."""
    rng = np.random.default_rng(1)
    n = 30
    X = rng.normal(size=(n, q))
    T = rng.normal(0.5, 0.3, size=n)
    P = 2 * q + int(irreducible)
    weights = rng.integers(0, 3, size=(4, n)).astype(float) if weighted else None
    # wide delta: at delta=1e-3 a central difference straddles Huber's kink at |r| = delta
    obj = LSEObjective(X, T, irreducible=irreducible, delta=None if delta is None else 0.3,
                       weights=weights, data_index=np.arange(4) if weighted else None)
    theta = rng.normal(0.0, 0.5, size=(4, P))
    theta[:, -q:] = np.abs(theta[:, -q:]) + 0.1
    f, g = obj(theta, np.arange(4))
    np.testing.assert_allclose(g, _fd_gradient(obj, theta), rtol=1e-6, atol=1e-6)


def test_objective_wide_spread_path_matches_gradient():
    """Where a term spans > 700 in log space (per-row shift unsafe) the per-element path is exact too."""
    rng = np.random.default_rng(2)
    X = np.column_stack([np.linspace(-60, 60, 25), rng.normal(size=25)])
    obj = LSEObjective(X, rng.normal(0.5, 0.3, size=25), delta=0.3)
    theta = np.array([[0.2, -0.1, 0.3, 8.0, 0.4], [0.1, 0.2, -0.3, 0.5, 0.6]])  # spread 960, 60
    f, g = obj(theta, np.arange(2))
    np.testing.assert_allclose(g, _fd_gradient(obj, theta), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(obj.predict_log(theta[1:]), obj._forward_elementwise(theta[1:])[0],
                               rtol=1e-13)


def test_objective_is_sum_of_huber_over_delta():
    """f is sum_i Huber_delta(LSE - log L)/delta, Hoffmann's eq 3 summed (not averaged)."""
    X = np.array([[0.0, 0.0], [1.0, -1.0], [2.0, 0.5]])
    T = np.array([0.5, 0.2, 0.9])
    theta = np.array([[0.1, -0.3, 0.2, 0.4, 0.6]])
    pred = np.logaddexp(np.logaddexp(0.1 - 0.4 * X[:, 0], -0.3 - 0.6 * X[:, 1]), 0.2)
    f, _ = LSEObjective(X, T, delta=1e-3)(theta, np.array([0]))
    assert f[0] == pytest.approx(huber(pred - T, 1e-3).sum() / 1e-3, rel=1e-12)


# --- the batched optimizer --------------------------------------------------------------------

def _rosenbrock(x, idx):
    a, b = x[:, 0], x[:, 1]
    f = (1 - a) ** 2 + 100 * (b - a * a) ** 2
    g = np.column_stack([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])
    return f, g


def test_batched_lbfgs_solves_every_row():
    """Each row of the batch reaches the Rosenbrock minimum (1, 1) independently."""
    x0 = np.array([[-1.2, 1.0], [2.0, 2.0], [0.0, 0.0], [-3.0, -2.0]])
    res = minimize_batched(_rosenbrock, x0, ftol=1e-15, gtol=1e-10, max_iter=5000)
    np.testing.assert_allclose(res.x, 1.0, atol=1e-6)
    assert res.converged.all()


def test_batched_lbfgs_respects_bounds():
    """With the optimum outside the box the rows stop on the bound it crosses."""
    res = minimize_batched(_rosenbrock, np.array([[0.0, 0.0], [0.2, 0.1]]), upper=[0.5, np.inf],
                           ftol=1e-15, gtol=1e-10, max_iter=5000)
    np.testing.assert_allclose(res.x, [[0.5, 0.25], [0.5, 0.25]], atol=1e-6)


def test_batched_lbfgs_reports_unconverged_rows():
    """A row cut off by max_iter is not reported as converged."""
    res = minimize_batched(_rosenbrock, np.array([[-1.2, 1.0]]), max_iter=3, gtol=1e-12, ftol=0.0)
    assert not res.converged[0]


def test_multistart_keeps_the_best_minimum():
    """From starts in two basins of a double well the global minimum is kept, and who reached it."""
    def well(x, idx):
        return (x[:, 0] ** 2 - 1) ** 2 + 0.3 * x[:, 0], (4 * x[:, 0] * (x[:, 0] ** 2 - 1) + 0.3)[:, None]
    res = multistart(well, np.array([[2.0], [0.5], [-0.5], [-2.0]]))
    exact = minimize(lambda v: float(well(v[None], None)[0][0]), [-1.0], tol=1e-14).x[0]
    assert res.x[0] == pytest.approx(exact, abs=1e-7)
    assert set(res.near_best) == {2, 3}
    assert res.final_f[0] > res.f + 0.5  # the other basin, kept out of the best


# --- fit_chinchilla ---------------------------------------------------------------------------

def test_hoffmann_grid_is_the_papers():
    """4,500 starts: alpha, beta in {0,..,2}, e in {-1,..,1}, a, b in {0,..,25} (App. D.2)."""
    g = hoffmann_grid()
    assert g.shape == (4500, 5)
    assert sorted(set(g[:, 0])) == [0, 5, 10, 15, 20, 25]
    assert sorted(set(g[:, 2])) == [-1, -0.5, 0, 0.5, 1]
    assert sorted(set(g[:, 3])) == [0, 0.5, 1, 1.5, 2]


def test_fit_chinchilla_recovers_planted_law_exactly():
    """Noise-free losses from a known law give back its five parameters (full Hoffmann grid)."""
    N, D, L = _grid_data(PLANTED)
    fit = fit_chinchilla(N, D, L)
    for name in ("E", "A", "B", "alpha", "beta"):
        assert getattr(fit.law, name) == pytest.approx(getattr(PLANTED, name), rel=1e-5), name
    assert fit.ok, fit.messages
    assert fit.rmse_log < 1e-7
    assert fit.n_starts == 4500


def test_fit_chinchilla_with_noise_stays_close():
    """With 1% noise on 36 points the exponents land within 0.03 and E within 3%."""
    N, D, L = _grid_data(PLANTED, noise=0.01, seed=3)
    fit = fit_chinchilla(N, D, L, starts=_small_grid())
    assert fit.law.alpha == pytest.approx(0.35, abs=0.03)
    assert fit.law.beta == pytest.approx(0.37, abs=0.03)
    assert fit.law.E == pytest.approx(1.8, rel=0.03)
    assert 0.9 < fit.r2_log <= 1.0


def test_fit_chinchilla_bootstrap_intervals_cover_estimates_and_derived_quantities():
    """Intervals exist for every parameter, a, b and the per-budget allocation, around the fit."""
    N, D, L = _grid_data(PLANTED, noise=0.01, seed=4)
    fit = fit_chinchilla(N, D, L, starts=_small_grid(), bootstrap=60, budgets=[1e21], seed=1)
    expected = {"E", "A", "B", "alpha", "beta", "a", "b", "G", "N_opt@1e+21", "D_opt@1e+21",
                "tokens_per_param@1e+21"}
    assert set(fit.intervals) == expected == set(fit.params)
    for name, iv in fit.intervals.items():
        assert iv.low <= iv.high and iv.se > 0, name
    assert fit.intervals["alpha"].contains(fit.params["alpha"])
    assert fit.params["a"] + fit.params["b"] == pytest.approx(1.0)
    assert fit.samples["alpha"].shape == (60,)


def test_fit_chinchilla_bootstrap_is_reproducible_with_a_seed():
    """The same seed gives the same intervals."""
    N, D, L = _grid_data(PLANTED, noise=0.01, seed=5)
    kw = dict(starts=_small_grid()[::8], bootstrap=20, seed=7)
    assert fit_chinchilla(N, D, L, **kw).intervals["beta"] == fit_chinchilla(N, D, L, **kw).intervals["beta"]


def test_fit_chinchilla_refits_the_callers_resamples():
    """bootstrap_weights are refitted as given: a resample that drops a point matches a fit without it."""
    N, D, L = _grid_data(PLANTED, noise=0.01, seed=6)
    w = np.ones((2, N.size))
    w[1, 0] = 0.0
    fit = fit_chinchilla(N, D, L, starts=_small_grid(), bootstrap_weights=w)
    assert fit.samples["alpha"].shape == (2,)
    assert fit.samples["alpha"][0] == pytest.approx(fit.params["alpha"], abs=1e-4)
    without = fit_chinchilla(N[1:], D[1:], L[1:], starts=_small_grid())
    assert fit.samples["alpha"][1] == pytest.approx(without.params["alpha"], abs=1e-3)
    with pytest.raises(ValueError, match="bootstrap_weights"):
        fit_chinchilla(N, D, L, starts=_small_grid(), bootstrap_weights=np.ones(N.size))
    with pytest.raises(ValueError, match="weights"):
        fit_chinchilla(N, D, L, starts=_small_grid(), bootstrap_weights=-w)


def test_fit_chinchilla_flags_grid_edge():
    """A grid that does not bracket the optimum (all e = 1.5) is reported as GRID_EDGE."""
    N, D, L = _grid_data(PLANTED)
    starts = [[a, b, 1.5, al, be] for a, b, al, be in itertools.product((4, 8), (6, 9), (0.3, 0.5), (0.3, 0.5))]
    fit = fit_chinchilla(N, D, L, starts=starts)
    assert FitStatus.GRID_EDGE in fit.status
    assert fit.law.E == pytest.approx(1.8, rel=1e-4)  # still found: the flag is a warning


def test_fit_chinchilla_flags_not_converged(monkeypatch):
    """An optimizer cut off after a few iterations is reported as NOT_CONVERGED, not as a fit."""
    import functools

    import scaling.fit

    short = functools.partial(multistart, max_iter=3, refine_iter=1, n_polish=0)
    monkeypatch.setattr(scaling.fit, "multistart", short)
    N, D, L = _grid_data(PLANTED, noise=0.01)
    fit = fit_chinchilla(N, D, L, starts=_small_grid()[::16])
    assert FitStatus.NOT_CONVERGED in fit.status
    assert "did not converge" in " ".join(fit.messages)


def test_fit_result_is_frozen():
    """FitResult cannot be modified after the fit."""
    N, D, L = _grid_data(PLANTED)
    fit = fit_chinchilla(N, D, L, starts=_small_grid()[::16])
    with pytest.raises(FrozenInstanceError):
        fit.r2_log = 0.0
    with pytest.raises(TypeError):
        fit.params["E"] = 0.0


@pytest.mark.parametrize("change, message", [
    (lambda N, D, L: (N, D, np.r_[L[:-1], np.nan]), r"'L' must be finite \(got L\[35\]=nan\)"),
    (lambda N, D, L: (np.r_[-1.0, N[1:]], D, L), r"'N' must be positive \(got N\[0\]=-1.0\)"),
    (lambda N, D, L: (N, D[:-1], L), r"must have the same length \(got N=36, D=35, L=36\)"),
    (lambda N, D, L: (N[:4], D[:4], L[:4]), r"need at least 5 points to fit 5 parameters \(got 4\)"),
    (lambda N, D, L: (np.full_like(N, 1e9), D, L), r"'N' must take at least 2 distinct values"),
])
def test_fit_chinchilla_rejects_bad_input(change, message):
    """NaN, non-positive values, mismatched lengths, too few points, one distinct N: ValueError."""
    with pytest.raises(ValueError, match=message):
        fit_chinchilla(*change(*_grid_data(PLANTED)))


def test_fit_chinchilla_fails_when_loss_does_not_fall():
    """Losses that rise with N and D cannot be fitted: FitError, not a silent degenerate law."""
    N, D, _ = _grid_data(PLANTED)
    with pytest.raises(FitError, match="degenerate"):
        fit_chinchilla(N, D, 1.0 + 1e-3 * np.log(N * D), starts=_small_grid()[::4])


# --- fit_power_law ----------------------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(alpha=st.floats(0.05, 1.0), log_xc=st.floats(10, 25), E=st.floats(0.5, 3.0))
def test_fit_power_law_recovers_planted_law(alpha, log_xc, E):
    """Noise-free points over five decades give back alpha, x_c and E."""
    true = PowerLaw(alpha, math.exp(log_xc), E)
    x = np.logspace(3, 8, 10)
    y = true.predict(x)
    # both terms visible at the largest x (5% of the loss), else one of them is not identified
    assume(E >= 0.05 * y.min() and y.min() - E >= 0.05 * E)
    fit = fit_power_law(x, y)
    assert fit.law.alpha == pytest.approx(alpha, rel=1e-4)
    assert fit.law.E == pytest.approx(E, rel=1e-4)
    assert math.log(fit.law.x_c) == pytest.approx(log_xc, rel=1e-4)


def test_fit_power_law_pure_form():
    """irreducible=False fits (x_c/x)^alpha with E fixed at 0."""
    x = np.logspace(5, 9, 7)
    fit = fit_power_law(x, (8.8e13 / x) ** 0.076, irreducible=False)
    assert fit.law.E == 0.0
    assert fit.law.alpha == pytest.approx(0.076, rel=1e-6)
    assert fit.law.x_c == pytest.approx(8.8e13, rel=1e-5)


def test_fit_power_law_flags_vanishing_irreducible_loss():
    """A pure power law fitted with an E term drives E to its floor: BOUND_HIT, with the reason."""
    x = np.logspace(5, 9, 7)
    fit = fit_power_law(x, (8.8e13 / x) ** 0.076)
    assert FitStatus.BOUND_HIT in fit.status
    assert "no irreducible loss" in fit.messages[0]


def test_fit_power_law_bootstrap_interval_brackets_estimate():
    """The residual-bootstrap interval of alpha contains the fitted alpha."""
    x = np.logspace(3, 8, 10)
    y = PowerLaw(0.3, 1e6, 2.0).predict(x) * np.exp(0.01 * np.random.default_rng(0).standard_normal(10))
    fit = fit_power_law(x, y, bootstrap=100, level=0.9)
    iv = fit.intervals["alpha"]
    assert iv.level == 0.9 and iv.contains(fit.params["alpha"])


def test_fit_power_law_fails_on_rising_data():
    """y that grows with x has no decreasing power law: FitError naming the trend."""
    x = np.logspace(3, 6, 6)
    with pytest.raises(FitError, match="does not fall with x"):
        fit_power_law(x, 1.0 + 0.1 * np.log(x))


def test_fit_power_law_needs_three_distinct_x_for_three_parameters():
    """Two distinct sizes cannot identify E, x_c and alpha: ValueError naming 'x'."""
    with pytest.raises(ValueError, match="'x' must take at least 3 distinct values"):
        fit_power_law([1e3, 1e3, 1e4, 1e4], [3.0, 3.1, 2.5, 2.6])


def test_fit_power_law_rejects_bad_level():
    """A confidence level outside (0, 1) is a ValueError naming 'level'."""
    with pytest.raises(ValueError, match="'level' must be in"):
        fit_power_law(np.logspace(3, 6, 6), np.linspace(3, 2, 6), level=95)


def test_fit_power_law_names_non_numeric_options():
    """A non-numeric bootstrap, delta or level is a ValueError naming it, not a TypeError."""
    x, y = np.logspace(3, 6, 6), np.linspace(3, 2, 6)
    with pytest.raises(ValueError, match=r"got bootstrap='a'"):
        fit_power_law(x, y, bootstrap="a")
    with pytest.raises(ValueError, match=r"got delta='a'"):
        fit_power_law(x, y, delta="a")
    with pytest.raises(ValueError, match=r"got level=None"):
        fit_power_law(x, y, level=None)


# --- diagnostics and held-out error -------------------------------------------------------------

def test_extrapolation_error_of_the_true_law_is_zero():
    """The generating law predicts held-out points exactly; a wrong law shows its error."""
    x = np.logspace(9, 10, 3)
    y = PowerLaw(0.3, 1e6, 2.0).predict(x)
    assert extrapolation_error(PowerLaw(0.3, 1e6, 2.0), x, y).max_abs_relative_error < 1e-14
    err = extrapolation_error(PowerLaw(0.3, 1e6, 2.1), x, y)
    np.testing.assert_allclose(err.relative_error, 0.1 / y, rtol=1e-10)


def test_extrapolation_error_takes_n_and_d_for_two_variable_laws():
    """For L(N, D) laws inputs is the pair (N, D); a bare array is a ValueError."""
    N, D, L = _grid_data(PLANTED)
    assert extrapolation_error(PLANTED, (N, D), L).rmse_log < 1e-14
    with pytest.raises(ValueError, match="'inputs' must be a pair"):
        extrapolation_error(PLANTED, N, L)


def test_percentile_interval_of_known_sample():
    """The 90% interval of 0..100 is 5..95, with the sample standard deviation as se."""
    iv = percentile_interval(np.arange(101.0), 0.9)
    assert (iv.low, iv.high) == (pytest.approx(5.0), pytest.approx(95.0))
    assert iv.se == pytest.approx(np.std(np.arange(101.0), ddof=1))


def test_interval_ratio_is_high_over_low():
    """An interval's ratio is high/low, and infinite when its low end is not above 0."""
    assert Interval(0.2, 0.5, 0.95, 0.1).ratio == pytest.approx(2.5)
    assert Interval(-0.1, 0.5, 0.95, 0.1).ratio == Interval(0.0, 0.5, 0.95, 0.1).ratio == math.inf
