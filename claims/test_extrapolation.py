"""Kaplan et al. 2020 (§1, §3) and OpenAI 2023 (GPT-4 report, §3 "Predictable scaling"):
a power law fitted to small models predicts the loss of larger ones.

What is measured. The `kaplan-sweep` runs are reused (same jobs, read from the store): the
law L = E + (N_c/N)^α is fitted to all but the `held_out` largest sizes, and the held-out
sizes' losses are predicted. The largest sizes are trained with several seeds, so their
measured loss is a mean with a seed-noise standard error. The prediction error is bounded
by BOUND_SIGMAS combined standard errors: the prediction's (from the residual bootstrap of
the fit, which carries the seed noise of the fitted points into the extrapolation) and the
measurement's (seed std / sqrt(seeds)). The pure power law of Kaplan's eq. 1.1 (E = 0) is
fitted and reported beside it, to show what the irreducible term buys.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from scaling.experiments import budget_tier
from scaling.fit import extrapolation_error, fit_power_law
from scaling.fit.replicates import seed_noise

# An error within 3 combined standard errors (prediction and measurement, both driven by
# seed noise) is all the accuracy these runs can resolve; beyond it the law has failed.
BOUND_SIGMAS = 3.0
MIN_FIT_SIZES = 4  # a three-parameter law needs at least one spare point to show residuals
LEVEL = 0.95
# Measured at smoke (4 fitted sizes over one decade, 0.6M tokens per run): the predictions miss
# the held-out sizes by 0.025-0.03 nats, 3-4x the seed-noise bound of 0.007-0.008.
XFAIL = {"smoke": "at the smoke budget the fit spans one decade of data-limited runs and misses "
                  "the held-out sizes by ~0.03 nats, 3-4x the seed-noise bound"}

# The decision rule, stated before looking at the data; the report prints it.
RULE = (
    f"a law fitted to at least {MIN_FIT_SIZES} smaller sizes predicts each held-out larger size "
    f"within {BOUND_SIGMAS:g} combined standard errors (prediction and seed noise)"
)

pytestmark = pytest.mark.claim(
    "extrapolation",
    title="A power law fitted to small models predicts the loss of larger ones",
    source="Kaplan et al. 2020, §3; OpenAI 2023, GPT-4 Technical Report, §3",
    quote="we could predict the final loss ... from models trained using the same methodology "
    "but using at most 10,000x less compute",
    evidence="trained",
    headline="max |relative error| (with E)",
    rule=RULE,
)


def test_small_models_predict_the_held_out_large_ones(claim, device, tier, experiments, expect_xfail):
    """The law fitted to the smaller sweep sizes predicts the held-out largest sizes within the noise bound."""
    if experiments.source == "synthetic":
        expect_xfail(XFAIL)
    sweep = experiments.size_sweep(device)
    plan, trained, new, stats = sweep.plan, sweep.trained, sweep.new, list(sweep.stats)
    fit_s, held = stats[:-plan.held_out], stats[-plan.held_out:]
    assert len(fit_s) >= MIN_FIT_SIZES, f"only {len(fit_s)} sizes to fit"
    claim.note(f"fit on {len(fit_s)} sizes N = {fit_s[0].n:.3g}..{fit_s[-1].n:.3g}, predict "
               f"{len(held)} held-out sizes N = {', '.join(f'{s.n:.3g}' for s in held)} "
               f"({held[-1].n / fit_s[-1].n:.1f}x beyond the largest fitted), {tier.seeds} seeds each; "
               f"kaplan-sweep runs reused: {len(trained) - new} of {len(trained)} read from the store.")
    N = np.array([s.n for s in fit_s], dtype=float)
    fit = fit_power_law(N, [s.mean for s in fit_s], bootstrap=tier.bootstrap_resamples, level=LEVEL)
    pure = fit_power_law(N, [s.mean for s in fit_s], irreducible=False)
    Nh = np.array([s.n for s in held], dtype=float)
    obs = np.array([s.mean for s in held])
    obs_se = np.array([s.std / math.sqrt(len(s.losses)) for s in held])
    draws = _bootstrap_predictions(fit, Nh)
    pred = fit.law.predict(Nh)
    pred_se = np.nanstd(draws, axis=0, ddof=1)
    bound = BOUND_SIGMAS * np.sqrt(pred_se**2 + obs_se**2)
    err = extrapolation_error(fit.law, Nh, obs)
    err_pure = extrapolation_error(pure.law, Nh, obs)
    noise, dof = seed_noise(stats)
    # drift: a std pooled over a few degrees of freedom moves by its own size between machines
    claim.measure("seed noise of the loss", noise, unit="nats/token", drift=noise,
                  note=f"pooled std over seeds at the held-out sizes ({dof} degrees of freedom)")
    for s, p, b, ps in zip(held, pred, bound, pred_se):
        claim.measure(f"prediction error at N={s.n:.3g}", float(p - s.mean), expected=0.0,
                      tolerance=float(b), drift=float(b), unit="nats/token",
                      note=f"predicted {p:.4f} ± {ps:.4f}, measured {s.mean:.4f} ± "
                           f"{s.std / math.sqrt(len(s.losses)):.4f} ({len(s.losses)} seeds); "
                           f"bound {BOUND_SIGMAS:g} combined SE")
    claim.measure("max |relative error| (with E)", err.max_abs_relative_error,
                  drift=max(float(np.max(bound / obs)), 1e-3))
    claim.measure("max |relative error| (pure power law, E = 0)", err_pure.max_abs_relative_error,
                  drift=max(float(np.max(bound / obs)), 1e-3),
                  note="Kaplan's eq. 1.1 form, for comparison")
    claim.figure(_figure(fit_s, held, fit, pure, draws, Nh, pred, bound, device, tier), "predicted-vs-actual")
    within = np.abs(pred - obs) <= bound
    if not within.all():
        small = budget_tier(tier.name, device) == "smoke"
        claim.verdict("inconclusive" if small else "not_reproduced",
                      f"the prediction misses by {np.max(np.abs(pred - obs)):.4f} nats, beyond the "
                      f"seed-noise bound {np.max(bound):.4f}" + (" at the smoke budget" if small else ""))
    assert within.all(), (f"prediction errors {np.round(pred - obs, 4)} exceed the bounds "
                          f"{np.round(bound, 4)} at N = {Nh}")


def _bootstrap_predictions(fit, N):
    s = fit.samples
    ok = np.isfinite(s["alpha"]) & np.isfinite(s["x_c"]) & np.isfinite(s["E"]) & (s["alpha"] > 0)
    al, xc, E = s["alpha"][ok], s["x_c"][ok], s["E"][ok]
    return E[:, None] + np.exp(al[:, None] * (np.log(xc)[:, None] - np.log(N)[None, :]))


def _figure(fit_s, held, fit, pure, draws, Nh, pred, bound, device, tier):
    fig, (ax, axp) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": (3, 2)})
    N = np.array([s.n for s in fit_s + held], dtype=float)
    g = np.geomspace(N.min() / 1.3, N.max() * 1.5, 200)
    band = _bootstrap_predictions(fit, g)
    lo, hi = np.nanpercentile(band, [2.5, 97.5], axis=0)
    ax.fill_between(g, lo, hi, color="C1", alpha=0.2, label="95% bootstrap band")
    ax.plot(g, fit.law.predict(g), "C1-", label=f"fit with E (α = {fit.params['alpha']:.3f})")
    ax.plot(g, pure.law.predict(g), "C7--", lw=1, label=f"pure power law (α = {pure.params['alpha']:.3f})")
    ax.plot([s.n for s in fit_s], [s.mean for s in fit_s], "o", color="C0", label="fitted sizes")
    for s in held:
        ax.plot([s.n] * len(s.losses), s.losses, ".", color="C3", alpha=0.6)
    ax.errorbar(Nh, [s.mean for s in held], yerr=[s.std for s in held], fmt="D", color="C3",
                mfc="none", capsize=3, label="held-out sizes (seeds, mean ± std)")
    ax.axvspan(max(s.n for s in fit_s) * 1.05, g[-1], color="k", alpha=0.05)
    ax.set_xscale("log")
    ax.set_xlabel("non-embedding parameters N")
    ax.set_ylabel("held-out loss (nats/token)")
    ax.set_title("fit on small models, extrapolate (shaded: held out)")
    ax.legend(fontsize=8)
    obs = np.array([s.mean for s in held])
    axp.errorbar(obs, pred, yerr=bound, fmt="D", color="C3", capsize=4,
                 label=f"prediction ± {BOUND_SIGMAS:g} combined SE")
    lim = [min(obs.min(), pred.min()) - bound.max(), max(obs.max(), pred.max()) + bound.max()]
    axp.plot(lim, lim, "k:", lw=1, label="perfect prediction")
    axp.set_xlabel("measured loss (mean over seeds)")
    axp.set_ylabel("predicted loss")
    axp.set_title("predicted vs actual")
    axp.legend(fontsize=8)
    fig.suptitle(f"extrapolation from small models ({device}, {tier.name})")
    fig.tight_layout()
    return fig
