"""Kaplan et al. 2020, §3.1, Fig. 1, eq. 1.1: the converged loss falls as a power law in non-embedding N.

Kaplan's L(N) is the loss of each size trained to convergence (early-stopped on 22B tokens). The
tiny models affordable here still gain a few hundredths of a nat per doubling of their data at
every budget a CPU allows, so no single budget leaves every size converged. Each size from the
`model_family` fixture (at least 6 sizes over at least 1.5 decades of non-embedding N) is
therefore trained at several token budgets (the tier's row of `scaling.experiments.KAPLAN_SWEEP`),
and the law L(N, D) = E + A/N^α + B/D^β (Hoffmann et al. 2022 eq. 2, fitted by their
procedure, `scaling.fit.fit_chinchilla`) is fitted to the whole grid: the converged loss is its
D → ∞ limit, L(N) = E + (N_c/N)^α with N_c = A^(1/α) (Kaplan's eq. 1.1 with the irreducible
term of Henighan et al. 2020), and L∞ = E. α and L∞ get bootstrap intervals (runs resampled).
Whether a power law in N fits is tested against the measured seed-to-seed noise: every size is
trained with several seeds at the largest budget, and there the classic lack-of-fit F test (pure
error from the seeds) must not reject Kaplan's form. The seed noise is not constant in N, so the
test judges each size's miss by its own noise: a trend std(log L) = c·N^γ fitted to every size's
seeds (`scaling.fit.replicates.noise_model`), the law refitted by least squares weighted by it.
(Until the sweep below, only the two largest sizes had seeds: 4 degrees of freedom of pure
error, and the verdict flipped with small changes of the learning-rate rule. The seeds were added
to every size so that the test's denominator is measured, whichever way it then decides; they
showed the noise falls with N, hence the weights.)

On the synthetic source (Zipf-distributed facts, Michaud et al. 2023) the truth is known: L∞
is compared with the exact entropy rate, and α with the exponent that the source's own,
finite Zipf law implies (computed, see `test_alpha_is_the_exponent_the_zipf_law_implies`).
On real text α and L∞ are reported with their intervals; the rules are the same.

A power law whose exponent the sweep cannot pin down shows nothing about Kaplan's: α counts as
determined only when its interval's high end is at most ALPHA_RATIO_MAX times its low end (and
the low end is above 0). An undetermined α leaves the claim inconclusive, never reproduced; a
sweep that is too small or a law rejected by lack of fit is not reproduced.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from scaling.data import make_source
from scaling.fit import fit_chinchilla, fit_power_law
from scaling.fit.replicates import fit_power_law_weighted, lack_of_fit, noise_model, seed_noise

MIN_SIZES = 6  # a power law and a lack-of-fit test need sizes to spare (Kaplan Fig. 1 has ~40)
MIN_DECADES = 1.5  # less than 1.5 decades cannot tell a power law from a bend (Kaplan §3.1 spans six)
# The D -> ∞ limit rests on the data term B/D^β: three budgets are the fewest that show its curvature.
MIN_BUDGETS = 3
# The law is rejected when the lack-of-fit F test's p-value is below 1%: misses that large
# happen by seed noise alone once in a hundred sweeps.
LACK_OF_FIT_P = 0.01
RESIDUAL_SIGMAS = 3.0  # the residual panel's band: ±3 seed-noise sigmas (the noise trend in N)
# The interval for α and L∞: Kaplan quotes no interval; 95% is the usual two-sided level.
LEVEL = 0.95
# Fitted L∞ vs the exact entropy rate, and α vs the implied exponent: the truth must lie within
# this many bootstrap standard errors of the fit (3 SE: a miss that large is a 0.3% event).
E_SIGMAS = 3.0
ALPHA_SIGMAS = 3.0
# α is determined when its interval's high/low is at most 2 (low > 0): an exponent known only
# within a factor 2 cannot tell published exponents apart (Kaplan's α_N = 0.076, Hoffmann et
# al. 2022's α = 0.34), so a wider interval leaves the claim inconclusive.
ALPHA_RATIO_MAX = 2.0
# The quanta model needs the facts a size can hold: language models store about 2 bits of
# knowledge per parameter (Allen-Zhu & Li 2024, "Physics of Language Models: Part 3.3").
FACT_BITS_PER_PARAM = 2.0
# Measured at standard on CPU (synthetic source, LR*(N, D) interpolated between the searched
# anchors), every size with 3 seeds at 4M tokens: the converged law holds against both truths (α =
# 0.594 ± 0.069 vs 0.498 implied, L∞ = 0.671 ± 0.073 vs 0.681), but Kaplan's form at 4M is
# rejected: F = 6.56 on (4, 13), p = 0.0041, the size N = 1.96e4 sitting 3.9 of its seed SE above
# the weighted law. The seed noise falls with N (std of log L ∝ N^-0.51: 1.2% at N = 1.8e3, 0.25%
# at 5.7e4). History, so the verdict's path is on record: with seeds at the two largest sizes
# only, the small sizes' single runs were judged by the large sizes' noise (p = 0.0068, and 0.0047
# or 0.025 under earlier learning-rate rules); with seeds everywhere and the noise pooled (and the
# unweighted Huber fit's predictions), the quiet sizes' misses were judged by the noisy sizes'
# scatter (F = 3.80 on (4, 14), p = 0.027, a pass). The trend in the noise is what the weighting
# answers. The miss at N = 1.96e4 is the learning-rate rule's: trained there at 4M tokens with 2
# seeds per rate, 0.007 and 0.010 reach 0.859 against the rule's 0.0141 at 0.873 (3 seeds), the
# 1.6% the law misses by; N = 1.96e4 is a searched anchor, but its search (one seed, rates a
# factor 2 apart, at 34k and 2M tokens) cannot resolve an optimum whose neighbours differ by its
# seed noise (0.9061 at 0.008, 0.9016 at 0.016). Every size at half and twice the rule's rate (4M,
# seed 0): the rule is best at 4 of 7; twice it is 2.3% better at N = 1.8e3 (miss +1.9 SE), half
# it 1.0% at 1.96e4 and 0.5% at 5.7e4. The same search with seed 1 instead of 0 moves LR*(N, 4M)
# by up to 1.8x (0.0158 -> 0.0279 at N = 1.8e3, 0.0141 -> 0.0097 at 1.96e4, 0.0093 -> 0.0067 at
# 5.7e4), each time towards the better rate above: a search averaged over seeds would test the
# law, not the rule.
XFAIL = {"standard": "Kaplan's form at 4M tokens is rejected by lack of fit (F = 6.56 on (4, 13), p = 0.0041; "
                     "N = 1.96e4 sits 3.9 seed SE off the law) although the converged law recovers α and L∞ "
                     "within 3 SE"}

# The decision rule, stated before looking at the data and amended since as the docstring records;
# the report prints it.
RULE = (
    f"at least {MIN_SIZES} sizes over {MIN_DECADES:g} decades of N, each at {MIN_BUDGETS}+ token budgets; "
    f"at the largest budget (where the seeds are) E + (N_c/N)^α fits with a lack-of-fit p-value of at least "
    f"{LACK_OF_FIT_P:g}, each size's miss judged by its own seed noise (a model std(log L) = c·N^γ fitted to the "
    f"seeds, the law fitted by weighted least squares); the converged L(N) = L(N, D→∞) = E + (N_c/N)^α "
    f"of L(N, D) = E + A/N^α + B/D^β fitted to the grid has α determined: its {LEVEL:.0%} interval above 0 with high/low at most {ALPHA_RATIO_MAX:g} "
    f"(wider: inconclusive; too few sizes, budgets or decades, or a lack of fit: not reproduced); where the source "
    f"knows its truth, L∞ = E lies within {E_SIGMAS:g} bootstrap SE of the entropy rate and α within "
    f"{ALPHA_SIGMAS:g} bootstrap SE of the exponent the source's finite Zipf law implies (quanta model, "
    f"{FACT_BITS_PER_PARAM:g} bits per parameter; inconclusive when α is not determined)"
)

pytestmark = pytest.mark.claim(
    "kaplan-sweep",
    title="The converged loss falls as a power law in non-embedding parameters N",
    source="Kaplan et al. 2020, §3.1, Fig. 1, eq. 1.1",
    quote="The loss scales as a power-law with model size ... L(N) = (N_c/N)^α_N; "
    "α_N ~ 0.076, N_c ~ 8.8 × 10^13 (non-embedding parameters)",
    evidence="trained",
    headline="alpha_N",
    rule=RULE,
)


def alpha_determined(interval) -> bool:
    """Whether α's interval pins it down: low end above 0 and high/low at most ALPHA_RATIO_MAX."""
    return interval.ratio <= ALPHA_RATIO_MAX


_FITS: dict[int, tuple] = {}  # the three tests share one fit per sweep (a bootstrapped fit takes seconds)


def _fit(tier, experiments, device):
    """The sweep and the L(N, D) law fitted to its cells (pairs bootstrap: cells resampled)."""
    sweep = experiments.size_sweep(device)
    if id(sweep) not in _FITS:  # the sweep is kept in the value, so its id is not reused
        _FITS[id(sweep)] = sweep, fit_chinchilla(sweep.cell_N, sweep.cell_D, sweep.cell_loss,
                                                 bootstrap=tier.bootstrap_resamples, level=LEVEL)
    return _FITS[id(sweep)]


def test_converged_loss_is_a_power_law_in_n(claim, device, tier, experiments, expect_xfail):
    """Over >=6 sizes x >=3 budgets, L(N, D→∞) falls as N^-α and the largest budget is a power law within seed noise."""
    expect_xfail(XFAIL)
    sweep, fit = _fit(tier, experiments, device)
    plan, stats, cells = sweep.plan, list(sweep.stats), list(sweep.cells)
    N, D, L = sweep.cell_N, sweep.cell_D, sweep.cell_loss
    p, ci = fit.params, fit.intervals
    noise, dof = seed_noise(stats, relative=True)
    at_full = fit_power_law(sweep.N, sweep.mean_loss)  # Kaplan's form at the largest budget alone
    trend = noise_model(stats)  # the seed noise of log L as a power of N
    e_w, nc_w, a_w = fit_power_law_weighted(stats, trend, (at_full.params["E"], at_full.params["x_c"],
                                                           at_full.params["alpha"]))
    predicted = e_w + (nc_w / sweep.N) ** a_w
    lof = lack_of_fit(stats, predicted, noise=trend)
    misses = [(np.mean(np.log(st.losses)) - math.log(q)) / (trend.sigma(st.n) / math.sqrt(len(st.losses)))
              for st, q in zip(stats, predicted)]
    # how far each size's own seed scatter strays from the trend (a miss rests on the trend at its size)
    own = [float(np.std(np.log(st.losses), ddof=1) / trend.sigma(st.n)) if len(st.losses) > 1 else math.nan
           for st in stats]
    n_c = p["A"] ** (1 / p["alpha"])
    excess = p["B"] / plan.tokens ** p["beta"]
    s = fit.samples
    with np.errstate(all="ignore"):
        excess_draws = s["B"] / float(plan.tokens) ** s["beta"]
    ex_lo, ex_hi = np.nanquantile(excess_draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    src = make_source(experiments.source)
    claim.environment(f"corpus fingerprint ({experiments.source})", src.fingerprint)
    claim.note(f"{len(stats)} sizes, N = {stats[0].n:.3g}..{stats[-1].n:.3g} non-embedding parameters "
               f"({experiments.family.name}), each at {', '.join(f'{b:,}' for b in plan.budgets)} tokens, "
               f"source {experiments.source!r}; {len(sweep.trained) - sweep.new} of {len(sweep.trained)} "
               "runs read from the store.")
    claim.measure("sizes", len(stats), note=f"at least {MIN_SIZES}")
    claim.measure("token budgets", len(plan.budgets), note=f"at least {MIN_BUDGETS}")
    decades = math.log10(stats[-1].n / stats[0].n)
    claim.measure("decades of N", decades, drift=0.2,
                  note=f"at least {MIN_DECADES:g}")
    claim.measure("alpha_N", p["alpha"], drift=3 * ci["alpha"].se,
                  note=f"converged L(N) = L(N, D→∞); {LEVEL:.0%} bootstrap interval {ci['alpha'].low:.3f}.."
                       f"{ci['alpha'].high:.3f} (Kaplan's 0.076 is for WebText2 at 1e3..1e9 parameters)")
    claim.measure("L_inf (converged E)", p["E"], unit="nats/token", drift=3 * ci["E"].se,
                  note=f"{LEVEL:.0%} bootstrap interval {ci['E'].low:.3f}..{ci['E'].high:.3f}")
    claim.measure("N_c", n_c, unit="params", relative=True, drift=1.0)
    claim.measure("beta_D (data term)", p["beta"], drift=3 * ci["beta"].se,
                  note=f"{LEVEL:.0%} interval {ci['beta'].low:.3f}..{ci['beta'].high:.3f}")
    claim.measure(f"data-limited excess at {plan.tokens:,} tokens", excess, unit="nats/token",
                  drift=max(3 * ci["B"].se / plan.tokens ** p["beta"], excess),
                  note=f"B/D^β: how far the largest budget's runs sit above convergence "
                       f"({LEVEL:.0%} {ex_lo:.3f}..{ex_hi:.3f})")
    claim.measure(f"alpha_N at {plan.tokens:,} tokens alone", at_full.params["alpha"], drift=0.2,
                  note=f"Kaplan's form E + (N_c/N)^α fitted to the largest budget only: E = "
                       f"{at_full.params['E']:.3f}; its lack of fit is tested below")
    claim.measure("R2 (log space)", fit.r2_log, drift=0.01)
    claim.measure("seed noise (relative)", noise, drift=noise,
                  note=f"pooled std/mean of the loss over seeds, {dof} degrees of freedom")
    claim.measure("max |log residual| of L(N, D)", float(np.max(np.abs(fit.residuals))), drift=3 * noise,
                  note=f"{RESIDUAL_SIGMAS:g} x seed noise = {RESIDUAL_SIGMAS * noise:.4f}")
    claim.measure("alpha_N interval high/low", ci["alpha"].ratio, expected=1.0, tolerance=ALPHA_RATIO_MAX - 1.0,
                  drift=ci["alpha"].ratio, note=f"α is determined when its {LEVEL:.0%} interval's high/low is at "
                                                f"most {ALPHA_RATIO_MAX:g} (and its low end above 0; else infinite)")
    claim.measure("seed noise trend γ (std of log L ∝ N^γ)", trend.slope, drift=0.5,
                  note=f"fitted to {trend.dof} degrees of freedom of seeds; std {float(trend.sigma(stats[0].n)):.4f} "
                       f"at N = {stats[0].n:.3g}, {float(trend.sigma(stats[-1].n)):.4f} at {stats[-1].n:.3g}"
                       + ("" if trend.slope_fitted else " (pooled: too few replicated sizes for a trend)"))
    claim.measure("lack-of-fit p-value", lof.p_value, expected=1.0, tolerance=1.0 - LACK_OF_FIT_P, drift=1.0,
                  note=f"Kaplan's form at {plan.tokens:,} tokens, where the seeds are, weighted by the noise "
                       f"trend (α = {a_w:.3f}, E = {e_w:.3f}): F = {lof.F:.2f} on ({lof.df_lack}, {lof.df_pure}) "
                       f"degrees of freedom; rejected below p = {LACK_OF_FIT_P:g}; misses in seed SE "
                       f"{np.round(misses, 1).tolist()}; each size's own seed std over the trend's "
                       f"{np.round(own, 2).tolist()}")
    if fit.status:
        claim.note(f"fit status: {'; '.join(fit.messages)}")
    claim.figure(_figure(sweep, fit, trend, f"Kaplan sweep on {src.name} ({device}, {tier.name})",
                         src.entropy_rate), "loglog-fit")
    span = (f"{len(stats)} sizes over {decades:.2f} decades at {len(plan.budgets)} budgets (at least {MIN_SIZES}, "
            f"{MIN_DECADES:g} and {MIN_BUDGETS})")
    alpha = (f"α = {p['alpha']:.3f}, {LEVEL:.0%} interval {ci['alpha'].low:.3f}..{ci['alpha'].high:.3f} "
             f"(high/low {ci['alpha'].ratio:.3g}, determined at most {ALPHA_RATIO_MAX:g})")
    lack = (f"lack of fit at {plan.tokens:,} tokens: F = {lof.F:.2f} on ({lof.df_lack}, {lof.df_pure}), "
            f"p = {lof.p_value:.2g} (rejected below {LACK_OF_FIT_P:g}); each size's miss in its seed SE "
            f"{np.round(misses, 1).tolist()} (N = {', '.join(f'{st.n:.3g}' for st in stats)})")
    spanned = len(stats) >= MIN_SIZES and len(plan.budgets) >= MIN_BUDGETS and decades >= MIN_DECADES
    fits, determined = lof.p_value >= LACK_OF_FIT_P, alpha_determined(ci["alpha"])
    if not spanned:
        claim.verdict("not_reproduced", f"too small a sweep: {span}")
    elif not fits:
        claim.verdict("not_reproduced", f"Kaplan's form is rejected: {lack}")
    elif not determined:
        claim.verdict("inconclusive", f"α is not determined: {alpha}")
    else:
        claim.verdict("reproduced", f"{alpha}; lack-of-fit p = {lof.p_value:.2g}; {span}")
    assert spanned, span
    assert fits, lack
    assert determined, f"α is not determined: {alpha}"


def test_converged_l_inf_is_the_entropy_rate(claim, device, tier, experiments):
    """Where the source knows its entropy rate, the converged L∞ recovers it within its interval."""
    src = make_source(experiments.source)
    if src.entropy_rate is None:
        claim.not_applicable(f"the source {experiments.source!r} does not know its entropy rate")
    sweep, fit = _fit(tier, experiments, device)
    E, ci = fit.params["E"], fit.intervals["E"]
    ok = abs(E - src.entropy_rate) <= E_SIGMAS * ci.se
    claim.measure("L_inf vs entropy rate", E, expected=src.entropy_rate, tolerance=E_SIGMAS * ci.se,
                  unit="nats/token", note=f"{LEVEL:.0%} interval {ci.low:.3f}..{ci.high:.3f}; "
                                          f"tolerance {E_SIGMAS:g} bootstrap SE")
    text = (f"L∞ = {E:.3f} ± {ci.se:.3f} (the D → ∞ limit over {len(sweep.plan.budgets)} budgets), "
            f"entropy rate {src.entropy_rate:.3f}")
    claim.verdict("reproduced" if ok else "not_reproduced", text)
    assert ok, text


def implied_exponent(src, N):
    """(α, E) of Kaplan's form fitted to the source's quanta-model loss at the sweep's sizes N.

    A size of N non-embedding parameters holds n = N·FACT_BITS_PER_PARAM / fact_bits facts (at
    most all K of them) and, knowing the n most frequent, has loss `src.quanta_loss(n)`. The
    finite law matters: Σ_{r>n}^K p_r ≈ [n^-α − K^-α]/(α·Z), a power law whose asymptote lies
    below the entropy rate until n reaches K, where the loss flattens onto it.
    """
    n = np.asarray(N, dtype=float) * FACT_BITS_PER_PARAM / src.fact_bits
    f = fit_power_law(N, src.quanta_loss(n))
    return f.params["alpha"], f.params["E"], n


def test_alpha_is_the_exponent_the_zipf_law_implies(claim, device, tier, experiments):
    """Where the source has a quanta model, α agrees with the exponent its finite Zipf law implies."""
    src = make_source(experiments.source)
    if not hasattr(src, "quanta_loss"):
        claim.not_applicable(f"the source {experiments.source!r} has no quanta model (Zipf-distributed facts)")
    sweep, fit = _fit(tier, experiments, device)
    alpha, ci = fit.params["alpha"], fit.intervals["alpha"]
    want, e_want, n = implied_exponent(src, sweep.N)
    ok = abs(alpha - want) <= ALPHA_SIGMAS * ci.se
    determined = alpha_determined(ci)
    claim.measure("alpha_N vs implied exponent", alpha, expected=want, tolerance=ALPHA_SIGMAS * ci.se,
                  note=f"Michaud et al. 2023's quanta model on this source's Zipf law (exponent "
                       f"{src.zipf_exponent:g}, truncated at its facts), {n[0]:.0f}..{n[-1]:.0f} facts held "
                       f"at {FACT_BITS_PER_PARAM:g} bits per parameter, implies α = {want:.3f} and an asymptote "
                       f"E = {e_want:.3f}; tolerance {ALPHA_SIGMAS:g} bootstrap SE")
    text = f"α = {alpha:.3f} ± {ci.se:.3f}, implied by the source's finite Zipf law {want:.3f}"
    if not determined:
        text = (f"α is not determined ({LEVEL:.0%} interval {ci.low:.3f}..{ci.high:.3f}, high/low {ci.ratio:.3g}, "
                f"at most {ALPHA_RATIO_MAX:g}): {text}")
    claim.verdict("inconclusive" if not determined else "reproduced" if ok else "not_reproduced", text)
    assert ok and determined, text


def _figure(sweep, fit, trend, title, entropy=None):
    N, D, L = sweep.cell_N, sweep.cell_D, sweep.cell_loss
    p = fit.params
    grid = np.geomspace(N.min() / 1.3, N.max() * 1.3, 200)
    converged = p["E"] + p["A"] / grid ** p["alpha"]
    fig, (ax, ax2, axr) = plt.subplots(1, 3, figsize=(16, 4.8))
    budgets = sorted(set(sweep.cell_tokens))
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(budgets)))
    for b, col in zip(budgets, colors):
        at = np.array(sweep.cell_tokens) == b
        ax.plot(N[at], L[at], "o", color=col, label=f"D = {b:,} tokens")
        ax.plot(grid, fit.law.predict(grid, np.full_like(grid, D[at].mean())), "-", color=col, lw=1)
        axr.plot(N[at], fit.residuals[at], "o-", color=col)
    ax.plot(grid, converged, "k-", lw=2, label=f"converged L(N) = L(N, ∞), α = {p['alpha']:.3f}")
    ax.axhline(p["E"], color="k", ls="--", lw=1, label=f"L∞ = {p['E']:.3f}")
    if entropy is not None:
        ax.axhline(entropy, color="C3", ls=":", lw=1, label=f"true entropy rate = {entropy:.3f}")
    ax.set(xscale="log", xlabel="non-embedding parameters N", ylabel="held-out loss (nats/token)",
           title="loss vs N at each budget, and the D → ∞ limit")
    ax.legend(fontsize=7)
    ax2.loglog(grid, converged - p["E"], "k-", label="(N_c/N)^α")
    for b, col in zip(budgets, colors):
        at = np.array(sweep.cell_tokens) == b
        ax2.loglog(N[at], L[at] - p["E"] - p["B"] / D[at] ** p["beta"], "o", color=col)
    ax2.set(xlabel="non-embedding parameters N", ylabel="L − L∞ − B/D^β",
            title="the converged reducible loss: a straight line on log-log")
    ax2.legend(fontsize=8)
    axr.axhline(0, color="k", lw=0.8)
    band = RESIDUAL_SIGMAS * trend.sigma(grid)  # the seeds' noise falls with N: a band that narrows
    axr.fill_between(grid, -band, band, color="C0", alpha=0.15, label=f"±{RESIDUAL_SIGMAS:g} seed-noise σ(N)")
    axr.set(xscale="log", xlabel="non-embedding parameters N", ylabel="log L − log L̂",
            title=f"residuals of L(N, D) (R² = {fit.r2_log:.3f})")
    axr.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
