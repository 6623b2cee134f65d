"""A logistic in log N fitted over all seeds, with residual-bootstrap intervals for its midpoint and width.

Emergence (Wei et al. 2022) is a claim about the shape of a metric against scale: flat,
then a rise over a short span of log N, then flat again. A four-parameter logistic
y = lo + (hi - lo) / (1 + exp(-(x - x0)/w)) in x = log10 N names that shape by two numbers,
the midpoint x0 and the 10-90% rise width 2·ln(9)·w (in decades of N), whatever the metric's
units or direction (hi < lo is a falling metric).

Intervals come from a residual bootstrap (Efron & Tibshirani 1993, ch. 9): every run's value
is the fitted curve plus a residual drawn with replacement from all runs' residuals (re-centred
and rescaled for the 4 fitted parameters, Davison & Hinkley 1997, §6.2.3), and the
logistic is refitted, so the seed-to-seed scatter anywhere in the sweep is the noise the
intervals carry at every size. Resampling each size's own seeds instead (a cluster
bootstrap) under-covers with 3 seeds per size: a size whose seeds happen to agree resamples
to no spread at all. Simulated (7 sizes x 3 seeds, each run learning the task or not with a
probability rising over 1.9 decades of N, 25 draws): the cluster bootstrap called the rise
sharp in 4 draws, the residual bootstrap in none, and both called a clean step sharp and a
clean 1.3-decade rise smooth in all 25 (`tests/test_logistic.py` keeps a smaller version). The
price is power: a 0.2-decade step whose nearest size splits its seeds was called sharp in 5 of
25 draws (cluster: 25), undecided in the rest; a sharp verdict needs seeds that agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from scaling.fit.bootstrap import Interval, percentile_interval

# 10% to 90% of a logistic's rise spans 2·ln(9) scale units.
RISE_SPAN = 2.0 * math.log(9.0)
# Width bounds in decades per e-fold: 0.005 is far below any sweep's spacing (a step
# between two adjacent sizes reads as "at most the spacing"); 5 is flat over any sweep.
W_BOUNDS = (0.005, 5.0)
MIDPOINT_MARGIN = 1.0  # x0 may sit up to one decade outside the sweep (an unfinished rise)


@dataclass(frozen=True)
class Logistic:
    """y = lo + (hi - lo) / (1 + exp(-(x - x0) / w)) in x = log10 N."""

    x0: float
    w: float
    lo: float
    hi: float

    def __call__(self, x) -> np.ndarray:
        z = np.clip(-(np.asarray(x, dtype=float) - self.x0) / self.w, -60, 60)
        return self.lo + (self.hi - self.lo) / (1.0 + np.exp(z))

    @property
    def rise_decades(self) -> float:
        """Decades of N over which the metric goes from 10% to 90% of its change."""
        return RISE_SPAN * self.w


@dataclass(frozen=True)
class LogisticFit:
    """The fit over all runs and the bootstrap intervals of its midpoint (log10 N) and rise width."""

    law: Logistic
    midpoint: Interval  # of x0 = log10 N at half the change
    rise: Interval  # of the 10-90% width in decades of N
    resamples: int


def fit_logistic(x, y) -> Logistic:
    """Least-squares four-parameter logistic through (x, y), from a few midpoints and both directions."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 4:
        raise ValueError(f"'x' and 'y' must be 1-D of the same length >= 4 (got {x.shape} and {y.shape})")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("'x' and 'y' must be finite")
    return _fit(x, y, np.linspace(x.min(), x.max(), 7))


def _fit(x: np.ndarray, y: np.ndarray, starts, w_start: float = 0.1, levels=None) -> Logistic:
    span = max(float(np.ptp(y)), 1e-9)
    ylo, yhi = float(y.min()) - span, float(y.max()) + span
    lower = [x.min() - MIDPOINT_MARGIN, W_BOUNDS[0], ylo, ylo]
    upper = [x.max() + MIDPOINT_MARGIN, W_BOUNDS[1], yhi, yhi]
    if levels is None:
        levels = (float(y[x == x.min()].mean()), float(y[x == x.max()].mean()))
    best = None
    for x0 in starts:
        p0 = np.clip([x0, w_start, *levels], np.add(lower, 1e-9), np.subtract(upper, 1e-9))
        r = least_squares(lambda p: Logistic(*p)(x) - y, x0=p0, jac=lambda p: _jacobian(p, x),
                          bounds=(lower, upper))
        if best is None or r.cost < best.cost:
            best = r
    return Logistic(*(float(v) for v in best.x))


def _jacobian(p, x: np.ndarray) -> np.ndarray:
    x0, w, lo, hi = p
    z = np.clip((x - x0) / w, -60, 60)
    s = 1.0 / (1.0 + np.exp(-z))
    ds = (hi - lo) * s * (1.0 - s)  # d y / d z
    return np.column_stack([-ds / w, -ds * z / w, 1.0 - s, s])


def fit_logistic_seeds(x, y, *, resamples: int, level: float, seed: int = 0) -> LogisticFit:
    """The logistic over every run (x = log10 N, y = the metric) with residual-bootstrap intervals.

    Runs sharing an x are one size's seeds. Each resample keeps every run's x and sets its y to
    the fitted value plus a residual drawn from all runs (re-centred, rescaled); refits start
    from the full fit's midpoint and its neighbours.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    law = fit_logistic(x, y)
    if not isinstance(resamples, int) or resamples < 2:
        raise ValueError(f"'resamples' must be an integer >= 2 (got resamples={resamples!r})")
    rng = np.random.default_rng(seed)
    fitted = law(x)
    # Fitted residuals understate the errors by sqrt((n - p)/n) for p = 4 parameters: re-centred and
    # rescaled (Davison & Hinkley 1997, §6.2.3), so that the intervals are not too narrow.
    residuals = (y - fitted - np.mean(y - fitted)) * math.sqrt(x.size / max(x.size - 4, 1))
    starts = (law.x0, law.x0 - 0.2, law.x0 + 0.2)
    x0s, rises = np.empty(resamples), np.empty(resamples)
    for b in range(resamples):
        fit = _fit(x, fitted + rng.choice(residuals, size=residuals.size, replace=True), starts,
                   w_start=max(law.w, 0.02), levels=(law.lo, law.hi))
        x0s[b], rises[b] = fit.x0, fit.rise_decades
    return LogisticFit(law, percentile_interval(x0s, level), percentile_interval(rises, level), resamples)
