"""Hoffmann et al. 2022, §3.2 (Approach 2) and Table 2: IsoFLOP profiles give N_opt ∝ C^a and
D_opt ∝ C^b with a ≈ b ≈ 0.5, and about 20 training tokens per parameter at the optimum.

What is measured. At each of at least 3 FLOP budgets C (6·N·D with N the total parameter
count, Chinchilla's convention), at least 5 sizes from the `model_family` fixture are trained
on D = C/(6N) tokens each. A parabola in log N per budget gives the IsoFLOP minimum, refused
when it is not bracketed by the runs (`scaling.optimal.fit_isoflop`); power laws through
the minima give a and b, with intervals from resampling the runs within each budget (80%,
the 10th-90th percentiles Hoffmann's Table 2 quotes). The tokens per parameter at the
optimum are compared with Hoffmann's ~20. Approach 3 (eq. 2, `fit_chinchilla`: Huber in
log space from Hoffmann's grid of starts) is fitted to all the runs of the grid and its
implied a = β/(α+β) compared with Approach 2's.

Scale matters here: at a few thousand parameters the embeddings are a large share of the
total, and Pearce & Song 2024 show that the counting convention alone moves a between
~0.5 and ~0.75 at small scale; both conventions are reported.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from scaling.fit import FitError, fit_chinchilla
from scaling.optimal import fit_isoflop

MIN_BUDGETS, MIN_SIZES = 3, 5  # CLAIMS.md: at least 3 budgets x at least 5 sizes
# The claim: a ≈ b ≈ 0.5 (Hoffmann Table 2, Approach 2: a = 0.49 (0.462-0.534), b = 0.51
# (0.483-0.529); Approach 1: 0.50 and 0.50).
EXPECTED_AB = 0.5
# a and b must sit within 0.1 of 0.5: half the distance to Kaplan's 0.73, so the test tells
# "scale N and D equally" (Hoffmann) from "mostly N" (Kaplan eq. 6.1).
AB_TOLERANCE = 0.1
TOKENS_PER_PARAM = 20.0  # Hoffmann Table 3: D/N is 20-22 along the frontier
# Tokens per parameter within a factor 3 of 20: Hoffmann's own three approaches and the
# Epoch refit differ by up to 1.5x at the same budget, and the small-scale counting effect
# (Pearce & Song 2024) by about as much again.
TOKENS_PER_PARAM_FACTOR = 3.0
# Approach 3's a must agree with Approach 2's within 0.1: Hoffmann Table 2's approaches
# agree within 0.04 at their scale; 0.1 allows for our much smaller grid.
APPROACHES_AGREE = 0.1
LEVEL = 0.8  # Hoffmann Table 2 quotes 10th-90th percentiles

# The decision rule, stated before looking at the data; the report prints it.
RULE = (
    f"over at least {MIN_BUDGETS} budgets × {MIN_SIZES} sizes every IsoFLOP minimum is bracketed; a and "
    f"b within {AB_TOLERANCE:g} of {EXPECTED_AB:g}; tokens per parameter within a factor "
    f"{TOKENS_PER_PARAM_FACTOR:g} of {TOKENS_PER_PARAM:g}; Approach 3's a within {APPROACHES_AGREE:g} "
    "of Approach 2's"
)

pytestmark = pytest.mark.claim(
    "compute-optimal",
    title="IsoFLOP minima: N_opt ∝ C^a, D_opt ∝ C^b with a ≈ b ≈ 0.5, ~20 tokens per parameter",
    source="Hoffmann et al. 2022, §3.2 (Approach 2), Table 2, Table 3",
    quote="for compute-optimal training, the model size and the number of training tokens "
    "should be scaled equally",
    evidence="trained",
    headline="a (N_opt ∝ C^a)",
    rule=RULE,
)


def test_isoflop_minima_scale_as_hoffmann(claim, device, tier, experiments):
    """IsoFLOP minima over >=3 budgets x >=5 sizes are bracketed and give a ≈ b ≈ 0.5, D/N ≈ 20."""
    runs = experiments.isoflop(device)
    grid, C, N, D, L, flops = runs.grid, runs.C, runs.N, runs.D, runs.loss, runs.flops_6nd
    claim.note(f"{len(grid.budgets)} budgets C = {', '.join(f'{c:.0e}' for c in grid.budgets)} FLOPs "
               f"(6·N_total·D) x {grid.sizes} sizes each ({experiments.family.name}, source "
               f"{experiments.source!r}); {len(runs.trained) - runs.new} of {len(runs.trained)} runs "
               "read from the store.")
    # the measured 6ND falls short of the nominal C only by the rounding of D to whole steps
    short = float(np.max(1 - flops / C))
    claim.measure("max shortfall of measured 6ND vs budget", short, expected=0.0,
                  tolerance=grid.training.tokens_per_step * 6 * N.max() / C.min(),
                  note="rounding D down to whole steps of batch·n_ctx tokens")
    iso = fit_isoflop(C, N, L, D=D, on_edge="drop", bootstrap=tier.bootstrap_resamples, level=LEVEL)
    iso_ne = None
    try:  # the same minima counted in non-embedding parameters (Kaplan's convention)
        iso_ne = fit_isoflop(C, runs.N_non_embedding, L, on_edge="drop")
    except FitError as e:
        claim.note(f"non-embedding IsoFLOP fit failed: {e}")
    claim.figure(_figure(C, N, L, iso, device, tier), "isoflop")
    bracketed = len(iso.minima)
    claim.measure("budgets with a bracketed minimum", bracketed, expected=len(grid.budgets), tolerance=0)
    for m in iso.messages:
        claim.note(m)
    a_ci, b_ci = iso.intervals["a"], iso.intervals["b"]
    claim.measure("a (N_opt ∝ C^a)", iso.a, expected=EXPECTED_AB, tolerance=AB_TOLERANCE,
                  drift=max(a_ci.se * 3, 1e-3),
                  note=f"{LEVEL:.0%} interval {a_ci.low:.3f}..{a_ci.high:.3f}; Hoffmann Approach 2: 0.49 (0.462-0.534)")
    claim.measure("b (D_opt ∝ C^b)", iso.b, expected=EXPECTED_AB, tolerance=AB_TOLERANCE,
                  drift=max(b_ci.se * 3, 1e-3),
                  note=f"{LEVEL:.0%} interval {b_ci.low:.3f}..{b_ci.high:.3f}; Hoffmann Approach 2: 0.51 (0.483-0.529)")
    if iso_ne is not None:
        claim.measure("a with non-embedding N (Kaplan's count)", iso_ne.a, drift=0.1,
                      note="Pearce & Song 2024: ~0.73-0.78 at small scale with this count")
    ratios = [m.D_opt / m.N_opt for m in iso.minima]
    for m, r in zip(iso.minima, ratios):
        claim.measure(f"tokens per parameter at C={m.C:.0e}", r, expected=TOKENS_PER_PARAM,
                      drift=r * 0.5, note=f"N_opt = {m.N_opt:.3g}, D_opt = {m.D_opt:.3g}")
    geo = math.exp(float(np.mean(np.log(ratios)))) if ratios else math.nan
    claim.measure("tokens per parameter (geometric mean over budgets)", geo, expected=TOKENS_PER_PARAM,
                  drift=geo * 0.5)
    claim.measure("log10(tokens per parameter / 20)", math.log10(geo / TOKENS_PER_PARAM), expected=0.0,
                  tolerance=math.log10(TOKENS_PER_PARAM_FACTOR), drift=0.2,
                  note=f"within a factor {TOKENS_PER_PARAM_FACTOR:g} of Hoffmann's ~20 (Table 3)")
    assert len(grid.budgets) >= MIN_BUDGETS and grid.sizes >= MIN_SIZES
    assert bracketed == len(grid.budgets), "; ".join(iso.messages)
    assert abs(iso.a - EXPECTED_AB) <= AB_TOLERANCE and abs(iso.b - EXPECTED_AB) <= AB_TOLERANCE, (
        f"a = {iso.a:.3f}, b = {iso.b:.3f}")
    assert abs(math.log(geo / TOKENS_PER_PARAM)) <= math.log(TOKENS_PER_PARAM_FACTOR), (
        f"{geo:.1f} tokens per parameter at the optimum")


def test_approach_3_agrees_with_approach_2(claim, device, tier, experiments):
    """L = E + A/N^α + B/D^β fitted to every grid run implies the same a as the IsoFLOP minima."""
    runs = experiments.isoflop(device)
    grid, C, N, D, L = runs.grid, runs.C, runs.N, runs.D, runs.loss
    mid = grid.budgets[len(grid.budgets) // 2]
    fit = fit_chinchilla(N, D, L, bootstrap=tier.bootstrap_resamples, level=LEVEL, budgets=[mid])
    iso = fit_isoflop(C, N, L, D=D, on_edge="drop")
    p, ci = fit.params, fit.intervals
    for name in ("E", "A", "B", "alpha", "beta"):
        claim.measure(f"Approach 3 {name}", p[name], drift=3 * ci[name].se if ci else None,
                      note=f"{LEVEL:.0%} interval {ci[name].low:.4g}..{ci[name].high:.4g}" if ci else "")
    claim.measure("Approach 3 a = β/(α+β)", p["a"], expected=iso.a, tolerance=APPROACHES_AGREE,
                  drift=3 * ci["a"].se, note=f"{LEVEL:.0%} interval {ci['a'].low:.3f}..{ci['a'].high:.3f}; "
                                             f"expected: Approach 2's a on the same runs")
    key = f"tokens_per_param@{mid:.3g}"
    claim.measure(f"Approach 3 tokens per parameter at C={mid:.0e}", p[key], drift=p[key] * 0.5,
                  note=f"{LEVEL:.0%} interval {ci[key].low:.3g}..{ci[key].high:.3g}")
    claim.measure("Approach 3 R2 (log space)", fit.r2_log, drift=0.02)
    if fit.status:
        claim.note("Approach 3 fit status: " + "; ".join(fit.messages))
    claim.figure(_frontiers_figure(iso, fit, C, N, D, L, device, tier), "approaches")
    assert abs(p["a"] - iso.a) <= APPROACHES_AGREE, f"Approach 3 a = {p['a']:.3f}, Approach 2 a = {iso.a:.3f}"


def _figure(C, N, L, iso, device, tier):
    fig, (ax, axn, axd) = plt.subplots(1, 3, figsize=(15, 4.6))
    budgets = sorted(set(C))
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(budgets)))
    minima = {round(math.log(m.C), 6): m for m in iso.minima}
    for c, col in zip(budgets, colors):
        rows = C == c
        n, l = N[rows], L[rows]
        ax.plot(n, l, "o", color=col, label=f"C = {c:.0e}")
        u = np.log(n)
        p2, p1, p0 = np.polyfit(u, l, 2)
        g = np.linspace(u.min(), u.max(), 100)
        ax.plot(np.exp(g), p0 + p1 * g + p2 * g * g, "-", color=col, lw=1)
        m = minima.get(round(math.log(c), 6))
        if m is not None:
            ax.plot(m.N_opt, m.loss, "*", ms=14, color=col, mec="k")
    if iso.minima:
        ax.plot([m.N_opt for m in iso.minima], [m.loss for m in iso.minima], "k--", lw=1,
                label="minima (frontier)")
    ax.set_xscale("log")
    ax.set_xlabel("total parameters N")
    ax.set_ylabel("held-out loss (nats/token)")
    ax.set_title("IsoFLOP profiles (parabola in log N)")
    ax.legend(fontsize=8)
    cs = np.array([m.C for m in iso.minima])
    g = np.geomspace(min(budgets) / 2, max(budgets) * 2, 50)
    a_ci, b_ci = iso.intervals.get("a"), iso.intervals.get("b")
    axn.loglog(cs, [m.N_opt for m in iso.minima], "*", ms=12, color="C3", mec="k", label="IsoFLOP minima")
    axn.loglog(g, iso.N_opt(g), "C3-", label=f"N_opt ∝ C^{iso.a:.2f}"
               + (f" ({a_ci.low:.2f}..{a_ci.high:.2f})" if a_ci else ""))
    axn.loglog(g, iso.N_opt(cs[0]) * (g / cs[0]) ** 0.5, "k:", lw=1, label="slope 0.5 (Hoffmann)")
    axn.loglog(g, iso.N_opt(cs[0]) * (g / cs[0]) ** 0.73, "k-.", lw=1, label="slope 0.73 (Kaplan)")
    axn.set_xlabel("FLOPs C = 6ND")
    axn.set_ylabel("N_opt (total parameters)")
    axn.set_title("compute-optimal model size")
    axn.legend(fontsize=8)
    axd.loglog(cs, [m.D_opt for m in iso.minima], "*", ms=12, color="C0", mec="k", label="IsoFLOP minima")
    axd.loglog(g, iso.D_opt(g), "C0-", label=f"D_opt ∝ C^{iso.b:.2f}"
               + (f" ({b_ci.low:.2f}..{b_ci.high:.2f})" if b_ci else ""))
    axd.loglog(g, np.sqrt(g * TOKENS_PER_PARAM / 6), "k:", lw=1, label="D = 20·N (Hoffmann)")
    axd.set_xlabel("FLOPs C = 6ND")
    axd.set_ylabel("D_opt (tokens)")
    axd.set_title("compute-optimal tokens")
    axd.legend(fontsize=8)
    fig.suptitle(f"Hoffmann Approach 2 ({device}, {tier.name})")
    fig.tight_layout()
    return fig


def _frontiers_figure(iso, fit, C, N, D, L, device, tier):
    fig, (ax, axr) = plt.subplots(1, 2, figsize=(11, 4.4))
    g = np.geomspace(C.min() / 2, C.max() * 2, 50)
    from scaling.optimal import compute_optimal

    n3, d3 = compute_optimal(fit.law, g)
    cs = np.array([m.C for m in iso.minima])
    ax.loglog(cs, [m.N_opt for m in iso.minima], "*", ms=12, color="C3", mec="k", label="Approach 2 minima")
    ax.loglog(g, iso.N_opt(g), "C3-", label=f"Approach 2: a = {iso.a:.2f}")
    ax.loglog(g, n3, "C2--", label=f"Approach 3: a = {fit.params['a']:.2f}")
    ax.set_xlabel("FLOPs C")
    ax.set_ylabel("N_opt (total parameters)")
    ax.set_title("the two approaches' frontiers")
    ax.legend(fontsize=8)
    pred = fit.law.predict(N, D)
    axr.semilogx(N, np.log(L) - np.log(pred), "o", color="C2")
    axr.axhline(0, color="k", lw=0.8)
    axr.set_xlabel("total parameters N")
    axr.set_ylabel("log L − log L̂ (Approach 3)")
    axr.set_title(f"Approach 3 residuals (R² = {fit.r2_log:.3f})")
    fig.suptitle(f"Hoffmann Approaches 2 and 3 on the same runs ({device}, {tier.name})")
    fig.tight_layout()
    return fig
