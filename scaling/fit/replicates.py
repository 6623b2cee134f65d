"""Replicated runs: per-size seed statistics, pooled seed noise, a noise model in N, and the
lack-of-fit F test of a power law (weighted by that model).

Pure numpy/scipy, like the rest of `scaling.fit`: the claims hand in losses grouped by size
(one value per seed) and get back the numbers their decisions rest on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Sized(Protocol):
    """Anything with a parameter count `n` (a family member, say)."""

    @property
    def n(self) -> int: ...


@dataclass(frozen=True)
class SizeStats:
    """The held-out losses of one size over its seeds."""

    member: Sized
    losses: tuple[float, ...]

    @property
    def n(self) -> int:
        return self.member.n

    @property
    def mean(self) -> float:
        return float(sum(self.losses) / len(self.losses))

    @property
    def std(self) -> float:
        """Sample standard deviation over seeds (NaN with one seed)."""
        k = len(self.losses)
        if k < 2:
            return math.nan
        m = self.mean
        return math.sqrt(sum((x - m) ** 2 for x in self.losses) / (k - 1))


def seed_noise(stats: Sequence[SizeStats], relative: bool = False) -> tuple[float, int]:
    """Pooled seed-to-seed standard deviation of the loss and its degrees of freedom.

    Pooled over the sizes trained with two or more seeds: sqrt(Σ(k_i-1)s_i² / Σ(k_i-1)).
    `relative` pools s_i / mean_i instead (the noise in log L, for log-space residuals).
    """
    num, dof = 0.0, 0
    for s in stats:
        k = len(s.losses)
        if k >= 2:
            sd = s.std / s.mean if relative else s.std
            num += (k - 1) * sd * sd
            dof += k - 1
    return (math.sqrt(num / dof) if dof else math.nan), dof


@dataclass(frozen=True)
class LackOfFit:
    """The lack-of-fit F test of a law against replicated runs (pure error from seeds)."""

    F: float
    p_value: float
    df_lack: int
    df_pure: int


@dataclass(frozen=True)
class NoiseModel:
    """The seed-to-seed std of log L as a power of N: sigma(N) = scale · N^slope.

    dof: the pure-error degrees of freedom it was fitted on; `slope_fitted` when the slope was
    estimated from them (it then costs one of them in a test)."""

    scale: float
    slope: float
    dof: int
    slope_fitted: bool

    def sigma(self, n) -> np.ndarray:
        return self.scale * np.asarray(n, dtype=float) ** self.slope


# The noise's trend in N is estimated only from at least this many replicated sizes (a line
# through two points has no check on it); with fewer, the noise is pooled (slope 0).
MIN_SIZES_FOR_SLOPE = 3


def noise_model(stats: Sequence[SizeStats]) -> NoiseModel:
    """The seed noise of log L as a power of N, from the sizes with two or more seeds.

    Seed noise is not constant in N (measured on the synthetic source at 4M tokens: std/mean
    1.2% at N = 1.8e3, 0.25% at 5.7e4), and a pooled value judges the quiet sizes' misses by the
    noisy sizes' scatter. With 3 seeds a size's own variance (2 degrees of freedom) is too
    uncertain to weight it alone, so log s_i (corrected for its bias) is regressed on log N_i over
    the replicated sizes, each weighted by the inverse variance of log s_i (variance-function
    estimation: Carroll & Ruppert 1988, ch. 3). The scale is the seeds' pooled variance after
    dividing out the trend (unbiased, since E s² = σ²).
    """
    for s in stats:
        bad = [v for v in s.losses if not (math.isfinite(v) and v > 0)]
        if bad:
            raise ValueError(f"the losses at N = {s.n} must be finite and > 0 (got {bad[0]!r}): a diverged run "
                             "has no seed noise to measure")
    reps = [s for s in stats if len(s.losses) >= 2]
    dof = sum(len(s.losses) - 1 for s in reps)
    if not reps or dof < 1:
        raise ValueError(f"a noise model needs a size with two or more seeds (got {len(stats)} sizes, none replicated)")
    logn = np.log([float(s.n) for s in reps])
    sd = np.array([np.std(np.log(s.losses), ddof=1) for s in reps])
    if np.any(sd <= 0):
        raise ValueError(f"a size's seeds gave identical losses (std 0 at N = {reps[int(np.argmin(sd))].n}): "
                         "no seed noise to measure")
    from scipy.special import digamma, polygamma  # deferred like scipy.stats below

    w = np.array([len(s.losses) - 1 for s in reps], dtype=float)
    fitted = len(reps) >= MIN_SIZES_FOR_SLOPE
    centre = float(np.average(logn, weights=w))
    # log s_i is biased by (ψ(ν/2) - log(ν/2))/2 and has variance ψ'(ν/2)/4 for ν = k_i - 1 degrees of
    # freedom: both depend on ν, so sizes with unequal seeds are corrected and weighted by them.
    half = w / 2
    unbiased = np.log(sd) - (digamma(half) - np.log(half)) / 2
    slope = (float(np.polyfit(logn - centre, unbiased, 1, w=np.sqrt(4 / polygamma(1, half)))[0])
             if fitted else 0.0)
    # the scale: pooled variance of the seeds after dividing each size by its trend
    pooled = float(np.sqrt(np.sum(w * (sd * np.exp(-slope * (logn - centre))) ** 2) / np.sum(w)))
    return NoiseModel(scale=pooled * math.exp(-slope * centre), slope=slope, dof=dof, slope_fitted=fitted)


def fit_power_law_weighted(stats: Sequence[SizeStats], noise: NoiseModel, start: Sequence[float]) -> np.ndarray:
    """E + (N_c/N)^α fitted to the sizes' mean log L, each weighted by k_i / sigma(N_i)²; returns
    (E, N_c, α), the best of starts at `start` (an unweighted fit's values) and at α halved and
    doubled (a local minimum would inflate the lack of fit)."""
    from scipy.optimize import least_squares  # deferred like scipy.stats below

    from scaling.fit import MAX_EXPONENT, FitError

    n = np.array([float(s.n) for s in stats])
    y = np.array([np.mean(np.log(s.losses)) for s in stats])
    w = np.sqrt([len(s.losses) for s in stats]) / noise.sigma(n)
    e0, nc0, a0 = (float(v) for v in start)

    def resid(p):
        e, log_nc, a = p
        return w * (np.log(e + np.exp(a * (log_nc - np.log(n)))) - y)

    bounds = ([0.0, -np.inf, 1e-6], [np.inf, np.inf, MAX_EXPONENT])
    fits = [least_squares(resid, x0=[max(e0, 0.0), math.log(nc0), min(max(a, 1e-5), MAX_EXPONENT - 1e-3)],
                          bounds=bounds) for a in (a0, a0 / 2, a0 * 2)]
    ok = [r for r in fits if r.success and np.all(np.isfinite(r.x))]
    if not ok:
        raise FitError(f"the weighted power-law fit did not converge from E = {e0:.4g}, N_c = {nc0:.4g}, "
                       f"alpha = {a0:.4g}: {fits[0].message}")
    e, log_nc, a = min(ok, key=lambda r: r.cost).x
    return np.array([e, math.exp(log_nc), a])


def lack_of_fit(stats: Sequence[SizeStats], predicted: Sequence[float], n_params: int = 3,
                noise: NoiseModel | None = None) -> LackOfFit:
    """Lack-of-fit F test in log L (Draper & Smith 1998, §2.1): does the law miss the size means
    by more than the seed-to-seed scatter of the replicated sizes explains?

    F = [Σ_i k_i (mean_i - pred_i)² / (m - P)] / [Σ_ij (y_ij - mean_i)² / Σ_i (k_i - 1)] in log L,
    m sizes (or cells of a grid), k_i seeds at size i, P = `n_params` parameters fitted (3 for
    E + (N_c/N)^α, 5 for L(N, D)); p from F(m - P, Σ(k_i - 1)).
    With `noise`, every size's log losses are first divided by the model's sigma(N_i), so each
    size's miss is judged by its own noise; a slope fitted from the seeds costs one pure-error
    degree of freedom. Simulated (7 sizes x 3 seeds, noise ∝ N^-0.5, the true law, 2000 sweeps,
    this noise model and the weighted fit): 1.3% rejected at the 1% level, 5.7% at 5% (slightly
    liberal; 1.55% without the lost degree of freedom, 1.0% with the true noise).
    """
    from scipy.stats import f as f_dist  # deferred: scipy.stats takes ~0.5 s to import

    if len(stats) != len(predicted):
        raise ValueError(f"'predicted' must have one value per size (got {len(predicted)} for {len(stats)})")
    bad = [(s.n, p) for s, p in zip(stats, predicted) if not (math.isfinite(p) and p > 0)]
    if bad:
        raise ValueError(f"'predicted' must be finite and > 0 at every size (got {bad[0][1]!r} at N = {bad[0][0]})")
    if noise is not None and noise.dof != sum(len(s.losses) - 1 for s in stats if len(s.losses) >= 2):
        raise ValueError(f"'noise' was fitted on {noise.dof} degrees of freedom of seeds, these sizes have "
                         f"{sum(len(s.losses) - 1 for s in stats if len(s.losses) >= 2)}: fit it on the same sizes")
    ss_lack = ss_pure = 0.0
    df_pure = 0
    for s, p in zip(stats, predicted):
        scale = float(noise.sigma(s.n)) if noise is not None else 1.0
        y = [math.log(v) / scale for v in s.losses]
        m = sum(y) / len(y)
        ss_lack += len(y) * (m - math.log(p) / scale) ** 2
        ss_pure += sum((v - m) ** 2 for v in y)
        df_pure += len(y) - 1
    if noise is not None and noise.slope_fitted:
        df_pure -= 1
    df_lack = len(stats) - n_params
    if df_lack < 1 or df_pure < 1 or ss_pure <= 0:
        raise ValueError(f"a lack-of-fit test needs more than {n_params} sizes and replicated seeds "
                         f"(got {len(stats)} sizes, {df_pure} pure-error degrees of freedom)")
    F = (ss_lack / df_lack) / (ss_pure / df_pure)
    return LackOfFit(F=F, p_value=float(f_dist.sf(F, df_lack, df_pure)), df_lack=df_lack, df_pure=df_pure)
