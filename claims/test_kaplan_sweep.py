"""Kaplan et al. 2020, §3.1, Fig. 1, eq. 1.1: the loss falls as a power law in non-embedding N.

A sweep of model sizes from the `model_family` fixture (at least 6 sizes over at least 1.5
decades of non-embedding N), every size trained on the same token budget (the tier's row of
`scaling.experiments.KAPLAN_SWEEP`), chosen so that N limits the loss over most of the sweep;
at what this machine affords the largest sizes are still partly data-limited, which shows up
in the fitted E (see `test_fitted_e_is_the_entropy_rate`). We fit L(N) = E + (N_c/N)^α (Kaplan's eq. 1.1 with the
irreducible term of Henighan et al. 2020 and Hoffmann et al. 2022) by Huber regression in
log space (`scaling.fit.fit_power_law`) and report α with its bootstrap interval, R² and the
residuals in log space. "A straight line on log-log" is tested against the measured
seed-to-seed noise: the largest sizes are trained with several seeds, and the classic
lack-of-fit F test (pure error from the seeds) must not reject the law.

On the synthetic source (Zipf-distributed facts, Michaud et al. 2023) the truth is known:
the fitted E is compared with the exact entropy rate, and α with the Zipf exponent the
quanta model predicts (L − E ∝ N^−α). The same sweep on a real corpus (the standard
library's bytes) is run and reported beside it.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from scaling.data import make_source
from scaling.experiments import budget_tier
from scaling.fit import fit_power_law
from scaling.fit.replicates import lack_of_fit, seed_noise

MIN_SIZES = 6  # a 3-parameter law and a lack-of-fit test need sizes to spare (Kaplan Fig. 1 has ~40)
MIN_DECADES = 1.5  # less than 1.5 decades cannot tell a power law from a bend (Kaplan §3.1 spans six)
# The law is rejected when the lack-of-fit F test's p-value is below 1%: misses that large
# happen by seed noise alone once in a hundred sweeps.
LACK_OF_FIT_P = 0.01
RESIDUAL_SIGMAS = 3.0  # the residual panel's band: ±3 seed-noise sigmas
# The interval for α and E: Kaplan quotes no interval; 95% is the usual two-sided level.
LEVEL = 0.95
# Fitted E vs the exact entropy rate: E is the law's asymptote, identified only by the
# curvature of 1.5-2 decades, and the largest models are the first to feel the finite
# token budget (which pushes E up). The check is that the truth lies within this many
# bootstrap standard errors of the fit.
E_SIGMAS = 3.0
# Michaud et al. 2023: facts used with frequency ∝ r^-(α+1) give L - E ∝ N^-α when a fact
# costs a fixed number of parameters; the measured α must agree within this many bootstrap
# standard errors.
ALPHA_SIGMAS = 3.0

# The decision rule, stated before looking at the data; the report prints it.
RULE = (
    f"at least {MIN_SIZES} sizes over {MIN_DECADES:g} decades of N; E + (N_c/N)^α fits with a "
    f"lack-of-fit p-value of at least {LACK_OF_FIT_P:g}; on the synthetic source the fitted E lies "
    f"within {E_SIGMAS:g} and α within {ALPHA_SIGMAS:g} bootstrap SE of the known truth"
)

pytestmark = pytest.mark.claim(
    "kaplan-sweep",
    title="Loss falls as a power law in non-embedding parameters N",
    source="Kaplan et al. 2020, §3.1, Fig. 1, eq. 1.1",
    quote="The loss scales as a power-law with model size ... L(N) = (N_c/N)^α_N; "
    "α_N ~ 0.076, N_c ~ 8.8 × 10^13 (non-embedding parameters)",
    evidence="trained",
    headline="alpha_N",
    rule=RULE,
)


def _sweep(claim, experiments, source, tier, device, prefix=""):
    """Train (or read) the sweep, fit it, record the shared measurements; return the pieces."""
    sweep = experiments.size_sweep(device, source)
    plan, trained, new, stats = sweep.plan, sweep.trained, sweep.new, list(sweep.stats)
    N, L = sweep.N, sweep.mean_loss
    fit = fit_power_law(N, L, bootstrap=tier.bootstrap_resamples, level=LEVEL)
    noise, dof = seed_noise(stats, relative=True)
    ci = fit.intervals["alpha"]
    lof = lack_of_fit(stats, fit.law.predict(N))
    claim.note(f"{prefix}{len(stats)} sizes, N = {N[0]:.3g}..{N[-1]:.3g} non-embedding parameters "
               f"({experiments.family.name}), {plan.tokens:,} tokens each, source {source!r}; "
               f"{len(trained) - new} of {len(trained)} runs read from the store.")
    claim.measure(f"{prefix}sizes", len(stats), note=f"at least {MIN_SIZES}")
    claim.measure(f"{prefix}decades of N", math.log10(N[-1] / N[0]), drift=0.2,
                  note=f"at least {MIN_DECADES:g}")
    claim.measure(f"{prefix}alpha_N", fit.params["alpha"], drift=3 * ci.se,
                  note=f"{LEVEL:.0%} bootstrap interval {ci.low:.3f}..{ci.high:.3f} "
                       f"(Kaplan's 0.076 is for WebText2 at 1e3..1e9 parameters)")
    claim.measure(f"{prefix}N_c", fit.params["x_c"], unit="params", relative=True, drift=1.0)
    claim.measure(f"{prefix}R2 (log space)", fit.r2_log, drift=0.01)
    claim.measure(f"{prefix}seed noise (relative)", noise, drift=noise,
                  note=f"pooled std/mean of the loss over seeds, {dof} degrees of freedom")
    claim.measure(f"{prefix}max |log residual|", float(np.max(np.abs(fit.residuals))),
                  drift=3 * noise, note=f"{RESIDUAL_SIGMAS:g} x seed noise = {RESIDUAL_SIGMAS * noise:.4f}")
    claim.measure(f"{prefix}lack-of-fit p-value", lof.p_value, expected=1.0,
                  tolerance=1.0 - LACK_OF_FIT_P, drift=1.0,
                  note=f"F = {lof.F:.2f} on ({lof.df_lack}, {lof.df_pure}) degrees of freedom; "
                       f"the law is rejected below p = {LACK_OF_FIT_P:g}")
    if fit.status:
        claim.note(f"{prefix}fit status: {'; '.join(fit.messages)}")
    return plan, stats, fit, noise, lof


def _figure(stats, fit, noise, title, entropy=None):
    N = np.array([s.n for s in stats], dtype=float)
    L = np.array([s.mean for s in stats])
    err = np.array([0.0 if math.isnan(s.std) else s.std for s in stats])
    grid = np.geomspace(N[0] / 1.3, N[-1] * 1.3, 200)
    E = fit.params["E"]
    fig = plt.figure(figsize=(10, 6.5))
    gs = fig.add_gridspec(2, 2, height_ratios=(3, 1.3), hspace=0.08)
    ax = fig.add_subplot(gs[0, 0])
    ax.errorbar(N, L, yerr=err, fmt="o", color="C0", label="held-out loss (mean over seeds)")
    ax.plot(grid, fit.law.predict(grid), color="C1",
            label=f"fit E + (N_c/N)^α, α = {fit.params['alpha']:.3f}")
    ax.axhline(E, color="C1", ls="--", lw=1, label=f"fitted E = {E:.3f}")
    if entropy is not None:
        ax.axhline(entropy, color="k", ls=":", lw=1, label=f"true entropy rate = {entropy:.3f}")
    ax.set_xscale("log")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title("loss vs N")
    ax.legend(fontsize=8)
    ax.tick_params(labelbottom=False)
    ax2 = fig.add_subplot(gs[0, 1])
    ax2.loglog(N, L - E, "o", color="C0", label="L − fitted E")
    ax2.loglog(grid, fit.law.predict(grid) - E, color="C1", label="(N_c/N)^α")
    if entropy is not None and np.all(L > entropy):
        ax2.loglog(N, L - entropy, "s", mfc="none", color="k", ms=5, label="L − true entropy")
    ax2.set_title("reducible loss: a straight line on log-log")
    ax2.legend(fontsize=8)
    ax2.tick_params(labelbottom=False)
    for col in (0, 1):
        axr = fig.add_subplot(gs[1, col], sharex=ax if col == 0 else ax2)
        axr.axhline(0, color="k", lw=0.8)
        axr.fill_between(grid, -RESIDUAL_SIGMAS * noise, RESIDUAL_SIGMAS * noise, color="C0",
                         alpha=0.15, label=f"±{RESIDUAL_SIGMAS:g} seed-noise σ")
        axr.plot(N, fit.residuals, "o-", color="C0")
        axr.set_xscale("log")
        axr.set_xlabel("non-embedding parameters N")
        if col == 0:
            axr.set_ylabel("log L − log L̂")
            axr.legend(fontsize=8, loc="lower left")
    fig.suptitle(title)
    return fig


SMOKE_TOO_SMALL_FOR_BYTES = ("the real-corpus sweep runs at the standard tier and above: at the smoke "
                             "budget the larger models are undertrained on bytes")


def test_loss_is_a_power_law_in_n(claim, device, tier, experiments):
    """Loss vs N over >=6 sizes and >=1.5 decades fits E + (N_c/N)^α to within seed noise."""
    scaling_source = experiments.source
    if scaling_source != "synthetic" and budget_tier(tier.name, device) == "smoke":
        pytest.skip(SMOKE_TOO_SMALL_FOR_BYTES)
    plan, stats, fit, noise, lof = _sweep(claim, experiments, scaling_source, tier, device)
    src = make_source(scaling_source)
    claim.environment(f"corpus fingerprint ({scaling_source})", src.fingerprint)
    claim.figure(_figure(stats, fit, noise, f"Kaplan sweep on {src.name} ({device}, {tier.name})",
                         src.entropy_rate), "loglog-fit")
    assert len(stats) >= MIN_SIZES
    assert math.log10(stats[-1].n / stats[0].n) >= MIN_DECADES
    assert fit.intervals["alpha"].low > 0, "the loss does not fall with N beyond noise"
    assert lof.p_value >= LACK_OF_FIT_P, (
        f"lack of fit: F = {lof.F:.2f}, p = {lof.p_value:.2g}; residuals {np.round(fit.residuals, 4)}, "
        f"seed noise {noise:.4f}")


def _synthetic_fit(tier, device, experiments):
    src = make_source("synthetic")
    sweep = experiments.size_sweep(device, "synthetic")
    fit = fit_power_law(sweep.N, sweep.mean_loss, bootstrap=tier.bootstrap_resamples, level=LEVEL)
    return src, sweep.plan, fit


# Measured: the fitted E sits above the entropy rate whenever the largest models are still
# data-limited (0.87 ± 0.01 at 0.6M tokens per run, 0.75 ± 0.01 at 2M; truth 0.681).
E_DATA_LIMITED = ("the largest models are data-limited at this budget, which bends the curve "
                  "up and puts the fitted E above the entropy rate (measured 0.87 at smoke, "
                  "0.75 at standard; truth 0.681)")


def test_fitted_e_is_the_entropy_rate(claim, device, tier, experiments, expect_xfail):
    """On the synthetic language the fitted irreducible loss E equals the exact entropy rate."""
    if experiments.source != "synthetic":
        claim.not_applicable(f"ground truth is known only for the synthetic source (got {experiments.source!r})")
    expect_xfail({"smoke": E_DATA_LIMITED, "standard": E_DATA_LIMITED})
    src, plan, fit = _synthetic_fit(tier, device, experiments)
    E, ci = fit.params["E"], fit.intervals["E"]
    claim.measure("fitted E", E, expected=src.entropy_rate, tolerance=E_SIGMAS * ci.se,
                  unit="nats/token", note=f"{LEVEL:.0%} interval {ci.low:.3f}..{ci.high:.3f}; "
                                          f"tolerance {E_SIGMAS:g} bootstrap SE")
    if abs(E - src.entropy_rate) > E_SIGMAS * ci.se:
        claim.verdict("not_reproduced", f"fitted E = {E:.3f} ± {ci.se:.3f} misses the entropy rate "
                                        f"{src.entropy_rate:.3f} at {plan.tokens:,} tokens per run")
    assert abs(E - src.entropy_rate) <= E_SIGMAS * ci.se, (
        f"E = {E:.4f} ± {ci.se:.4f}, entropy rate {src.entropy_rate:.4f}")


def test_alpha_is_the_zipf_exponent(claim, device, tier, experiments, expect_xfail):
    """On the synthetic language the fitted α equals the Zipf exponent of its facts (Michaud et al.)."""
    if experiments.source != "synthetic":
        claim.not_applicable(f"ground truth is known only for the synthetic source (got {experiments.source!r})")
    expect_xfail({"smoke": "at 0.6M tokens per run the data limit steepens the curve "
                           "(measured α = 0.75 ± 0.07 against 0.5)"})
    src, plan, fit = _synthetic_fit(tier, device, experiments)
    alpha, ci = fit.params["alpha"], fit.intervals["alpha"]
    claim.measure("alpha_N vs Zipf exponent", alpha, expected=src.zipf_exponent,
                  tolerance=ALPHA_SIGMAS * ci.se,
                  note=f"Michaud et al. 2023: L − E ∝ N^-α for facts used ∝ r^-(α+1); "
                       f"tolerance {ALPHA_SIGMAS:g} bootstrap SE")
    if abs(alpha - src.zipf_exponent) > ALPHA_SIGMAS * ci.se:
        claim.verdict("inconclusive", f"α = {alpha:.3f} ± {ci.se:.3f} at {plan.tokens:,} tokens per run, "
                                      "where the largest sizes are data-limited: the budget cannot decide")
    assert abs(alpha - src.zipf_exponent) <= ALPHA_SIGMAS * ci.se, (
        f"α = {alpha:.3f} ± {ci.se:.3f}, Zipf exponent {src.zipf_exponent}")


def test_power_law_on_the_standard_library(claim, device, tier, experiments):
    """The same sweep on a real corpus (stdlib bytes) is a power law in N to within seed noise."""
    if experiments.source != "synthetic":
        claim.not_applicable(f"the main sweep already runs on real data ({experiments.source!r})")
    if budget_tier(tier.name, device) == "smoke":
        # measured: at 0.6M tokens per run the loss on bytes is not even monotone in N
        # (2.14 at N = 6.6e3, 2.22 at N = 1.4e4), so the smoke tier spends nothing on it
        pytest.skip(SMOKE_TOO_SMALL_FOR_BYTES)
    plan, stats, fit, noise, lof = _sweep(claim, experiments, "stdlib", tier, device, prefix="stdlib: ")
    src = make_source("stdlib")
    claim.environment("corpus fingerprint (stdlib)", src.fingerprint)
    claim.figure(_figure(stats, fit, noise, f"Kaplan sweep on the standard library's bytes "
                                            f"({device}, {tier.name})"), "loglog-fit-stdlib")
    assert fit.intervals["alpha"].low > 0, "the loss does not fall with N beyond noise"
    assert lof.p_value >= LACK_OF_FIT_P, (
        f"lack of fit: F = {lof.F:.2f}, p = {lof.p_value:.2g}; residuals {np.round(fit.residuals, 4)}, "
        f"seed noise {noise:.4f}")
