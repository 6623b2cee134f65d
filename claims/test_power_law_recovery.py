"""Kaplan et al. 2020, eq. 1.1 (with an irreducible term); seed notebook §3-4: a power law
L(N) = L∞ + (N_c/N)^α is recoverable from a sweep of model sizes.

Hypothesis draws true laws (α, L∞, and the power term's share of the loss at the largest size)
and noise levels; sweeps are 10 sizes from 1e4 to 1e8 with log-normal noise. Noise-free sweeps
must give the law back to optimizer precision; noisy ones must land within 5.4 bootstrap
standard errors of the truth (a 1-in-1,000 tail of t with 7 dof), and the 90% intervals must cover the truth at about their nominal
rate over the drawn laws. The seed's own example (α 0.076, L∞ 1.7, N_c 8.8e13, 8 sizes from
1e5 to 1e8, 1% noise) is fitted and reported with its intervals: over three decades L∞ is
barely identified, and we show what a wider sweep buys.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import binom
from scipy.stats import t as student_t

from scaling.fit import fit_power_law
from scaling.laws import PowerLaw

SIZES = np.logspace(4, 8, 10)
LEVEL = 0.9  # interval level whose coverage is checked
RECOVERY_RTOL = 1e-4  # noise-free data fix the law; this is the optimizer's precision
# noisy fits: |estimate - truth| <= Z_MAX bootstrap SE, the 1-in-1,000 two-sided tail of
# Student t with 7 dof (10 points, 3 parameters: the SE is itself estimated), 5.4
Z_MAX = float(student_t.ppf(1 - 0.5e-3, SIZES.size - 3))
COVERAGE_ALPHA = 0.01  # two-sided binomial acceptance region for the coverage count
# The seed notebook's example (section 3): Kaplan's L(N) plus an irreducible 1.7 nats.
SEED_LAW = PowerLaw(alpha=0.076, x_c=8.8e13, E=1.7)
SEED_SIZES = np.logspace(5, 8, 8)
SEED_WIDE_SIZES = np.logspace(5, 11, 8)  # the same 8 runs over six decades
SEED_NOISE = 0.01  # relative (log-space) noise
IDENTIFIED_WIDTH = 0.5  # an L∞ interval wider than ±50% of L∞ does not identify it

# the drawn laws: the power term is 20%..300% of L∞ at the largest size, so both are visible
# The decision rule, stated before looking at the data; the report prints it.
RULE = (
    f"noise-free sweeps give the law back within {RECOVERY_RTOL:g} relative; noisy sweeps land within "
    f"{Z_MAX:.1f} bootstrap SE of the truth; {LEVEL:.0%} intervals cover it at a rate inside the "
    f"two-sided binomial acceptance region at {COVERAGE_ALPHA:g}; over the seed's three decades the "
    f"L∞ interval is wider than ±{IDENTIFIED_WIDTH:.0%}"
)

pytestmark = pytest.mark.claim(
    "power-law-recovery",
    title="A power law with an irreducible term is recoverable from a sweep",
    source="Kaplan et al. 2020, eq. 1.1; seed notebook sections 3-4",
    quote="L(N) = (N_c/N)^α_N; α_N ~ 0.076, N_c ~ 8.8 × 10^13 (non-embedding parameters)",
    evidence="simulated",
    headline="largest |estimate - truth| in bootstrap SE",
    rule=RULE,
)


laws = st.tuples(st.floats(0.1, 0.6), st.floats(0.5, 3.0), st.floats(np.log(0.2), np.log(3.0)))


def _law(alpha, E, log_share):
    return PowerLaw(alpha=alpha, x_c=SIZES[-1] * (np.exp(log_share) * E) ** (1 / alpha), E=E)


def _settings(tier):
    return settings(max_examples=tier.hypothesis_examples, deadline=None, derandomize=True,
                    database=None, suppress_health_check=[HealthCheck.too_slow])


def test_noise_free_sweeps_give_back_the_law(claim, tier):
    """With exact losses the fit recovers alpha, L∞ and N_c to 1e-4 for every drawn law."""
    worst = []

    @_settings(tier)
    @given(laws)
    def check(params):
        true = _law(*params)
        fit = fit_power_law(SIZES, true.predict(SIZES))
        err = max(abs(fit.law.alpha / true.alpha - 1), abs(fit.law.E / true.E - 1),
                  abs(np.log(fit.law.x_c / true.x_c)))  # ≈ relative error; safe for x_c near 1
        worst.append(err)
        assert err <= RECOVERY_RTOL, (true, fit.law)

    check()
    claim.measure("noise-free: worst relative error over drawn laws", max(worst), expected=0.0,
                  tolerance=RECOVERY_RTOL, note=f"{len(worst)} laws")


def _noisy_fit(true, noise, seed, tier):
    rng = np.random.default_rng(seed)
    y = true.predict(SIZES) * np.exp(noise * rng.standard_normal(SIZES.size))
    return fit_power_law(SIZES, y, bootstrap=tier.bootstrap_resamples, level=LEVEL, seed=seed)


def _errors(true, fit):
    """name -> (interval covers truth, (estimate - truth)/SE, interval, truth); x_c in log space."""
    out = {}
    for name, truth, log in (("alpha", true.alpha, False), ("E", true.E, False), ("x_c", true.x_c, True)):
        iv, est, draws = fit.intervals[name], fit.params[name], fit.samples[name]
        f = np.log if log else (lambda v: v)
        se = float(np.std(f(draws[np.isfinite(draws)]), ddof=1))
        out[name] = (iv.contains(truth), (f(est) - f(truth)) / se, iv, truth)
    return out


def test_noisy_sweeps_land_within_a_few_standard_errors(claim, tier):
    """For drawn laws and noise levels every estimate lies within 5.4 bootstrap SE of the truth."""
    worst = []

    @_settings(tier)
    @given(laws, st.floats(0.002, 0.02), st.integers(0, 2**31 - 1))
    def check(params, noise, seed):
        true = _law(*params)
        fit = _noisy_fit(true, noise, seed, tier)
        z = max(abs(e[1]) for e in _errors(true, fit).values())
        worst.append(z)
        assert z <= Z_MAX, (true, fit.law, noise)

    check()
    claim.measure("largest |estimate - truth| in bootstrap SE", max(worst), expected=0.0,
                  tolerance=Z_MAX, note=f"{len(worst)} drawn laws and noise levels")


def test_bootstrap_intervals_cover_the_truth_at_the_nominal_rate(claim, tier):
    """Over randomly drawn laws the 90% intervals of alpha, L∞ and N_c cover the truth at about 90%."""
    # coverage is a frequency, so the laws are an i.i.d. sample (hypothesis' examples are not)
    rng = np.random.default_rng(2024)
    n = tier.hypothesis_examples
    rows = []
    for i in range(n):
        true = _law(rng.uniform(0.1, 0.6), rng.uniform(0.5, 3.0), rng.uniform(np.log(0.2), np.log(3.0)))
        rows.append(_errors(true, _noisy_fit(true, rng.uniform(0.002, 0.02), i, tier)))
    lo, hi = binom.ppf(COVERAGE_ALPHA / 2, n, LEVEL), binom.ppf(1 - COVERAGE_ALPHA / 2, n, LEVEL)
    bad = []
    for name in ("alpha", "E", "x_c"):
        covered = sum(r[name][0] for r in rows)
        claim.measure(f"{LEVEL:.0%} interval coverage of {name}", covered / n, expected=LEVEL,
                      tolerance=max(LEVEL - lo / n, hi / n - LEVEL),
                      note=f"{covered}/{n} laws; {COVERAGE_ALPHA:.0%} binomial region {lo:.0f}..{hi:.0f}")
        if not lo <= covered <= hi:
            bad.append(f"{name}: {covered}/{n}")
    claim.figure(_coverage_figure(rows), "coverage")
    assert not bad, f"coverage outside the binomial region: {'; '.join(bad)}"


def test_seed_example_shows_how_poorly_three_decades_identify_l_inf(claim, tier):
    """The seed's example is fitted honestly: its L∞ interval is wider than ±50%, and six decades narrow it."""
    rng = np.random.default_rng(0)
    fits = {}
    for label, sizes in (("1e5..1e8", SEED_SIZES), ("1e5..1e11", SEED_WIDE_SIZES)):
        y = SEED_LAW.predict(sizes) * np.exp(SEED_NOISE * rng.standard_normal(sizes.size))
        fit = fit_power_law(sizes, y, bootstrap=tier.bootstrap_resamples, level=LEVEL, seed=0)
        fits[label] = (sizes, y, fit)
        for name, truth in (("alpha", SEED_LAW.alpha), ("E", SEED_LAW.E), ("x_c", SEED_LAW.x_c)):
            iv = fit.intervals[name]
            claim.measure(f"seed example, sizes {label}: {name}", fit.params[name], expected=truth,
                          note=f"{LEVEL:.0%} interval {iv.low:.4g}..{iv.high:.4g}"
                               f"{'' if iv.contains(truth) else ' (misses the truth)'}; "
                               f"status: {', '.join(fit.status) or 'ok'}")
    width = {k: (f.intervals["E"].high - f.intervals["E"].low) / SEED_LAW.E for k, (_, _, f) in fits.items()}
    narrow = width["1e5..1e8"] / width["1e5..1e11"]
    claim.measure("seed example: L∞ interval width / L∞, three decades", width["1e5..1e8"])
    claim.measure("seed example: L∞ interval width / L∞, six decades", width["1e5..1e11"])
    claim.note(f"Over three decades (the seed's sweep) the {LEVEL:.0%} interval of L∞ spans "
               f"{width['1e5..1e8']:.0%} of L∞: the data cannot tell the irreducible loss from a "
               f"slower power law. The same 8 runs over six decades narrow it {narrow:.1f}-fold.")
    claim.figure(_seed_figure(fits), "seed-example")
    assert width["1e5..1e8"] > 2 * IDENTIFIED_WIDTH
    assert width["1e5..1e11"] < width["1e5..1e8"]


def _coverage_figure(rows):
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, name in zip(axes, ("alpha", "E", "x_c")):
        rel = []
        for r in rows:
            covered, _, iv, truth = r[name]
            f = np.log if name == "x_c" else (lambda v: v)
            rel.append(((f(iv.low) - f(truth)), (f(iv.high) - f(truth)), covered))
        rel.sort(key=lambda t: t[0] + t[1])
        for i, (lo, hi, covered) in enumerate(rel):
            ax.plot([i, i], [lo, hi], color="C0" if covered else "C3", lw=2)
        ax.axhline(0, color="k", lw=0.8)
        ax.set(title=f"{name}{' (log)' if name == 'x_c' else ''}: "
                     f"{sum(t[2] for t in rel)}/{len(rel)} covered",
               xlabel="drawn law (sorted)", ylabel="interval − truth")
    fig.suptitle(f"{LEVEL:.0%} bootstrap intervals around the truth (red: misses)")
    fig.tight_layout()
    return fig


def _seed_figure(fits):
    fig, axes = plt.subplots(2, 2, figsize=(11, 6), sharex="col",
                             gridspec_kw={"height_ratios": [3, 1]})
    for col, (label, (sizes, y, fit)) in enumerate(fits.items()):
        ax, rax = axes[0, col], axes[1, col]
        grid = np.logspace(np.log10(sizes[0]) - 0.3, np.log10(sizes[-1]) + 0.3, 100)
        draws = np.array([PowerLaw(a, xc, E).predict(grid) for a, xc, E in
                          zip(fit.samples["alpha"], fit.samples["x_c"], fit.samples["E"])
                          if np.isfinite([a, xc, E]).all() and a > 0 and xc > 0])
        ax.fill_between(grid, *np.quantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0),
                        color="C0", alpha=0.2, label=f"{LEVEL:.0%} bootstrap band")
        ax.plot(grid, fit.law.predict(grid), "C0-", label=f"fit: α={fit.law.alpha:.3f}, L∞={fit.law.E:.2f}")
        ax.plot(grid, SEED_LAW.predict(grid), "k--", lw=1, label="truth: α=0.076, L∞=1.7")
        ax.axhline(SEED_LAW.E, color="grey", lw=0.8, ls=":")
        ax.scatter(sizes, y, c="C3", zorder=3, s=14, label="noisy sweep")
        ax.set(xscale="log", ylabel="loss", title=f"sizes {label}")
        ax.legend(fontsize=7)
        rax.scatter(sizes, fit.residuals, c="C3", s=14)
        rax.axhline(0, color="k", lw=0.8)
        rax.set(xscale="log", xlabel="N", ylabel="log residual")
    fig.tight_layout()
    return fig
