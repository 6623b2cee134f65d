"""Hoffmann et al. 2022, §3.2 (Approach 2) and Table 2: IsoFLOP profiles give N_opt ∝ C^a and
D_opt ∝ C^b with a ≈ b ≈ 0.5, and about 20 training tokens per parameter at the optimum.

What is measured. At each of at least 3 FLOP budgets C (6·N·D with N the total parameter
count, Chinchilla's convention), at least 5 sizes from the `model_family` fixture are trained
on D = C/(6N) tokens each. A parabola in log N per budget gives the IsoFLOP minimum, refused
when it is not bracketed by the runs (`scaling.optimal.fit_isoflop`); power laws through
the minima give a and b, with intervals from resampling the runs within each budget (80%,
the 10th-90th percentiles Hoffmann's Table 2 quotes). The tokens per parameter at the
optimum are reported beside Hoffmann's ~20. The decision is a's interval: it must contain
Hoffmann's 0.5 and exclude Kaplan's 0.73; b and tokens per parameter follow from a through
C = 6ND and are not counted as separate evidence. Where a budget's lowest loss sits on the
edge of its sizes, the grid adds sizes on that side (up to `max_extension`) until it is
bracketed. Approach 3 (eq. 2, `fit_chinchilla`: Huber in
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

MIN_BUDGETS, MIN_SIZES = 3, 5  # at least 3 budgets x at least 5 sizes
# The claim: a ≈ 0.5 (Hoffmann Table 2, Approach 2: a = 0.49 (0.462-0.534); Approach 1: 0.50).
HOFFMANN_A = 0.5
# The rival: Kaplan eq. 6.1, N_opt ∝ C^0.73. The decision is which of the two a's interval
# admits; b = 1 - a and D/N = C/(6N²) follow from a through C = 6ND, so they are reported
# but not counted as evidence of their own.
KAPLAN_A = 0.73
TOKENS_PER_PARAM = 20.0  # Hoffmann Table 3: D/N is 20-22 along the frontier (reported beside)
# Approach 3's a must agree with Approach 2's within 0.1: Hoffmann Table 2's approaches
# agree within 0.04 at their scale; 0.1 allows for our much smaller grid.
APPROACHES_AGREE = 0.1
LEVEL = 0.8  # Hoffmann Table 2 quotes 10th-90th percentiles
# Measured at smoke (3 budgets x 5 sizes, searched LR*(N, D)): Approach 3 gives a = 0.411 against
# Approach 2's 0.546, 0.135 apart: a five-parameter law on 15-odd runs does not pin a down.
XFAIL_APPROACHES = {"smoke": "at smoke (3 budgets x 5 sizes) Approach 3's a = 0.411 is 0.135 from Approach 2's "
                             "0.546: too few runs to pin a five-parameter law"}

# The decision rule, stated before looking at the data; the report prints it.
RULE = (
    f"over at least {MIN_BUDGETS} budgets × {MIN_SIZES} sizes, every IsoFLOP minimum bracketed (the grid "
    f"extends to find it); a's {LEVEL:.0%} interval contains Hoffmann's {HOFFMANN_A:g} and excludes "
    f"Kaplan's {KAPLAN_A:g} (b and tokens per parameter reported, not counted); Approach 3's a within "
    f"{APPROACHES_AGREE:g} of Approach 2's"
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
    """IsoFLOP minima over >=3 budgets x >=5 sizes are bracketed and a's interval holds 0.5, not 0.73."""
    runs = experiments.isoflop(device)
    grid, C, N, D, L, flops = runs.grid, runs.C, runs.N, runs.D, runs.loss, runs.flops_6nd
    claim.note(f"{len(grid.budgets)} budgets C = {', '.join(f'{c:.0e}' for c in grid.budgets)} FLOPs "
               f"(6·N_total·D) x {grid.sizes} sizes each, {len(runs.trained)} runs with the grid's extensions "
               f"({experiments.family.name}, source "
               f"{experiments.source!r}); {len(runs.trained) - runs.new} of {len(runs.trained)} runs "
               f"read from the store; peak rate {runs.lr.text()}.")
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
    claim.measure("a (N_opt ∝ C^a)", iso.a, expected=HOFFMANN_A, drift=max(a_ci.se * 3, 1e-3),
                  note=f"{LEVEL:.0%} interval {a_ci.low:.3f}..{a_ci.high:.3f}: must contain {HOFFMANN_A:g} and "
                       f"exclude {KAPLAN_A:g}; Hoffmann Approach 2: 0.49 (0.462-0.534)")
    claim.measure("b (D_opt ∝ C^b)", iso.b, expected=HOFFMANN_A, drift=max(b_ci.se * 3, 1e-3),
                  note=f"{LEVEL:.0%} interval {b_ci.low:.3f}..{b_ci.high:.3f}; reported, not counted "
                       "(b = 1 − a through C = 6ND)")
    if iso_ne is not None:
        claim.measure("a with non-embedding N (Kaplan's count)", iso_ne.a, drift=0.1,
                      note="Pearce & Song 2024: ~0.73-0.78 at small scale with this count")
    ratios = [m.D_opt / m.N_opt for m in iso.minima]
    for m, r in zip(iso.minima, ratios):
        claim.measure(f"tokens per parameter at C={m.C:.0e}", r, expected=TOKENS_PER_PARAM,
                      drift=r * 0.5, note=f"N_opt = {m.N_opt:.3g}, D_opt = {m.D_opt:.3g}; reported, not counted")
    geo = math.exp(float(np.mean(np.log(ratios)))) if ratios else math.nan
    claim.measure("tokens per parameter (geometric mean over budgets)", geo, expected=TOKENS_PER_PARAM,
                  drift=geo * 0.5, note="reported, not counted (D/N = C/(6N²) follows from a)")
    hoffmann, kaplan = a_ci.contains(HOFFMANN_A), a_ci.contains(KAPLAN_A)
    if bracketed < len(grid.budgets):
        claim.verdict("inconclusive", f"{len(grid.budgets) - bracketed} budget(s) not bracketed after extending "
                      f"the grid by up to {grid.max_extension} sizes per side")
    elif hoffmann and kaplan:
        claim.verdict("inconclusive", f"a = {iso.a:.3f}, {LEVEL:.0%} interval {a_ci.low:.3f}..{a_ci.high:.3f} "
                      f"admits both {HOFFMANN_A:g} and {KAPLAN_A:g}")
    elif not hoffmann:
        claim.verdict("not_reproduced", f"a = {iso.a:.3f}, {LEVEL:.0%} interval {a_ci.low:.3f}..{a_ci.high:.3f} "
                      f"excludes {HOFFMANN_A:g}" + (f" and contains Kaplan's {KAPLAN_A:g}" if kaplan else ""))
    else:
        claim.verdict("reproduced", f"a = {iso.a:.3f}, {LEVEL:.0%} interval {a_ci.low:.3f}..{a_ci.high:.3f} "
                      f"contains {HOFFMANN_A:g} and excludes {KAPLAN_A:g}; b = {iso.b:.3f}, {geo:.0f} tokens/param")
    assert len(grid.budgets) >= MIN_BUDGETS and grid.sizes >= MIN_SIZES
    assert bracketed == len(grid.budgets), "; ".join(iso.messages)
    assert hoffmann and not kaplan, f"a = {iso.a:.3f}, {LEVEL:.0%} interval {a_ci.low:.3f}..{a_ci.high:.3f}"


def test_approach_3_agrees_with_approach_2(claim, device, tier, experiments, expect_xfail):
    """L = E + A/N^α + B/D^β fitted to every grid run implies the same a as the IsoFLOP minima."""
    expect_xfail(XFAIL_APPROACHES)
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
