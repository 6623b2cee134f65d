"""Kaplan et al. 2020 (§1, §3) and OpenAI 2023 (GPT-4 report, §3 "Predictable scaling"):
a law fitted to runs with a small fraction of a target's compute predicts the target's loss.

What is measured. The targets are the `kaplan-sweep` runs trained with several seeds (its
largest sizes at its largest token budget), so each target's loss is a mean with a seed-noise
standard error; C_target = 6·N·D with N the total parameters (Chinchilla's convention). The
law L(N, D) = E + A/N^α + B/D^β (Hoffmann et al. 2022 eq. 2, Approach 3, `fit_chinchilla`) is
fitted to every run this session has of the same family and source (the IsoFLOP grid of
`compute-optimal` and the `kaplan-sweep` grid; same batch, context and learning-rate rule) whose
compute is at most 1/COMPUTE_RATIO of the smallest target's. No run is trained for this claim.
Each target's predicted loss has a standard error from the fit's pairs bootstrap (runs
resampled, which carries the fitted runs' seed noise into the prediction); the prediction error
is bounded by BOUND_SIGMAS combined standard errors, the prediction's and the measurement's
(seed std / sqrt(seeds)).

A bound can be too wide to show anything: if the targets sit little below the fitted runs, "the
loss stays where the small runs left it" would land within it too. The prediction is decisive
only when every target's bound is at most INFORMATIVE_FRACTION of its predicted gain, the lowest
loss among the fitted runs minus the predicted loss (the fitted runs and the prediction only,
never the target's measurement). A miss beyond the bound is not reproduced however wide the
bound; agreement within a bound that is not decisive is inconclusive.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from scaling.fit import extrapolation_error, fit_chinchilla
from scaling.fit.replicates import seed_noise

# The GPT-4 report predicted from runs with 1,000-10,000x less compute; 30x is the least that
# is still a prediction rather than an interpolation at the scale a CPU affords.
COMPUTE_RATIO = 30.0
# An error within 3 combined standard errors (prediction and measurement, both driven by
# seed noise) is all the accuracy these runs can resolve; beyond it the law has failed.
BOUND_SIGMAS = 3.0
# Decisive only when every bound is at most half the predicted gain below the lowest fitted loss:
# a wider bound cannot tell the law from "the loss stays where the small runs left it".
INFORMATIVE_FRACTION = 0.5
MIN_FIT_RUNS = 10  # five parameters, with as many runs again to show residuals
LEVEL = 0.95
# Measured at smoke: the targets have 1.4e11-2.3e11 FLOPs, and only 1 run of the smoke grids has
# at most 1/30 of that (the smoke IsoFLOP grid starts at 1e10).
# Measured at standard (CPU, searched LR*(N, D)): decisive and within bounds (errors -0.050 and
# -0.043 nats against bounds 0.127 and 0.135, 0.41 of the predicted gains): no standard expectation.
XFAIL = {"smoke": "at the smoke budgets too few runs (1) have 1/30 of the targets' compute to fit a law"}

# The decision rule, stated before looking at the data; the report prints it.
RULE = (
    f"L(N, D) = E + A/N^α + B/D^β fitted to at least {MIN_FIT_RUNS} runs with at most 1/{COMPUTE_RATIO:g} "
    f"of the smallest target's compute predicts every seed-replicated target within {BOUND_SIGMAS:g} "
    "combined standard errors (the fit's bootstrap and the targets' seed noise); decisive only when every bound is "
    f"at most {INFORMATIVE_FRACTION:g} of the target's predicted gain (the lowest fitted loss minus the prediction): "
    "a miss is not reproduced, agreement within bounds that are not decisive is inconclusive"
)

pytestmark = pytest.mark.claim(
    "extrapolation",
    title="A law fitted to runs with 1/30 of the compute predicts the loss of larger ones",
    source="Kaplan et al. 2020, §3; OpenAI 2023, GPT-4 Technical Report, §3",
    quote="we could predict the final loss ... from models trained using the same methodology "
    "but using at most 10,000x less compute",
    evidence="trained",
    headline="max |relative error|",
    rule=RULE,
)


def test_small_runs_predict_the_large_ones(claim, device, tier, experiments, expect_xfail):
    """Approach 3 fitted to runs with <= 1/30 of the targets' compute predicts the targets within the noise bound."""
    expect_xfail(XFAIL)
    sweep = experiments.size_sweep(device)
    grid = experiments.isoflop(device)
    held = list(sweep.stats[-sweep.plan.held_out:])
    runs = [[u for u in sweep.trained if u.member == h.member and u.run.settings["tokens"] == sweep.plan.tokens]
            for h in held]
    Nt = np.array([r[0].n_total for r in runs], dtype=float)
    Dt = np.array([np.mean([u.run.tokens for u in r]) for r in runs])
    Ct = 6 * Nt * Dt
    cap = Ct.min() / COMPUTE_RATIO
    pool = [(t.n_total, t.run.tokens, t.loss) for t in grid.trained + sweep.trained]
    fitted = [(n, d, l) for n, d, l in pool if 6.0 * n * d <= cap]
    claim.note(f"{len(held)} targets: N = {', '.join(f'{n:,.0f}' for n in Nt)} total parameters at "
               f"{sweep.plan.tokens:,} tokens, C = {', '.join(f'{c:.3g}' for c in Ct)} FLOPs, "
               f"{', '.join(str(len(s.losses)) for s in held)} seeds; fitted: {len(fitted)} runs with "
               f"C <= {cap:.3g} (1/{COMPUTE_RATIO:g} of the smallest target), from the IsoFLOP and kaplan-sweep "
               "grids; no run trained for this claim.")
    claim.measure("runs fitted", len(fitted), note=f"at least {MIN_FIT_RUNS}")
    assert len(fitted) >= MIN_FIT_RUNS, f"only {len(fitted)} runs have C <= {cap:.3g}"
    N, D, L = (np.array(v, dtype=float) for v in zip(*fitted))
    fit = fit_chinchilla(N, D, L, bootstrap=tier.bootstrap_resamples, level=LEVEL)
    s = fit.samples
    with np.errstate(all="ignore"):
        draws = s["E"][:, None] + s["A"][:, None] / Nt ** s["alpha"][:, None] + s["B"][:, None] / Dt ** s["beta"][:, None]
    pred = fit.law.predict(Nt, Dt)
    pred_se = np.nanstd(draws, axis=0, ddof=1)
    obs = np.array([h.mean for h in held])
    obs_se = np.array([h.std / math.sqrt(len(h.losses)) for h in held])
    bound = BOUND_SIGMAS * np.sqrt(pred_se**2 + obs_se**2)
    err = extrapolation_error(fit.law, (Nt, Dt), obs)
    floor = float(L.min())  # the lowest loss among the fitted runs: "no further gain"
    gain = floor - pred
    share = np.divide(bound, gain, out=np.full_like(bound, np.inf), where=gain > 0)
    noise, dof = seed_noise(held)
    claim.measure("compute ratio (smallest target / largest fitted run)", Ct.min() / float(np.max(6 * N * D)),
                  drift=5.0, note=f"at least {COMPUTE_RATIO:g}")
    # drift: a std pooled over a few degrees of freedom moves by its own size between machines
    claim.measure("seed noise of the targets", noise, unit="nats/token", drift=noise,
                  note=f"pooled std over seeds ({dof} degrees of freedom)")
    claim.measure("lowest loss among the fitted runs", floor, unit="nats/token", drift=0.05,
                  note="the predicted gain of a target is this minus its predicted loss")
    for h, n, c, p, b, ps, os_, g, f in zip(held, Nt, Ct, pred, bound, pred_se, obs_se, gain, share):
        claim.measure(f"prediction error at N={n:.3g}", float(p - h.mean), expected=0.0, tolerance=float(b),
                      drift=float(b), unit="nats/token",
                      note=f"C = {c:.3g}: predicted {p:.4f} ± {ps:.4f}, measured {h.mean:.4f} ± {os_:.4f} "
                           f"({len(h.losses)} seeds); bound {BOUND_SIGMAS:g} combined SE")
        claim.measure(f"bound / predicted gain at N={n:.3g}", float(f), expected=0.0, tolerance=INFORMATIVE_FRACTION,
                      drift=INFORMATIVE_FRACTION,
                      note=f"bound {b:.4f} against a predicted gain of {g:.4f} below the lowest fitted loss "
                           f"{floor:.4f}; decisive at most {INFORMATIVE_FRACTION:g} (infinite when no gain is predicted)")
    claim.measure("max |relative error|", err.max_abs_relative_error, drift=max(float(np.max(bound / obs)), 1e-3))
    claim.measure("Approach 3 R2 (log space) on the fitted runs", fit.r2_log, drift=0.02)
    if fit.status:
        claim.note("fit status: " + "; ".join(fit.messages))
    claim.figure(_figure(N, D, L, fit, draws, Nt, Dt, held, pred, bound, cap, device, tier), "predicted-vs-actual")
    within = np.abs(pred - obs) <= bound
    decisive = bool(np.all(share <= INFORMATIVE_FRACTION))
    text = (f"predicted {np.round(pred, 4)} from runs with <= 1/{COMPUTE_RATIO:g} of the compute, measured "
            f"{np.round(obs, 4)}; errors {np.round(pred - obs, 4)} against bounds {np.round(bound, 4)}")
    if not within.all():
        claim.verdict("not_reproduced", text)
    elif not decisive:
        text = (f"not decisive: bounds {np.round(bound, 4)} are {np.round(share, 2)} of the predicted gains "
                f"{np.round(gain, 4)} below the lowest fitted loss {floor:.4f} (at most {INFORMATIVE_FRACTION:g}); {text}")
        claim.verdict("inconclusive", text)
    else:
        claim.verdict("reproduced", text)
    assert within.all() and decisive, text


def _figure(N, D, L, fit, draws, Nt, Dt, held, pred, bound, cap, device, tier):
    fig, (ax, axp) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": (3, 2)})
    C = 6 * N * D
    ax.plot(C, L, "o", color="C0", label=f"fitted runs (C <= {cap:.2g})")
    ax.plot(C, fit.law.predict(N, D), ".", color="C1", label="law at the fitted runs")
    for h, n, d, p, b in zip(held, Nt, Dt, pred, bound):
        c = 6 * n * d
        ax.plot([c] * len(h.losses), h.losses, ".", color="C3", alpha=0.6)
        ax.errorbar([c], [p], yerr=[b], fmt="s", color="C1", mfc="none", capsize=3)
    ax.plot([], [], "s", color="C1", mfc="none", label=f"prediction ± {BOUND_SIGMAS:g} combined SE")
    ax.plot([], [], ".", color="C3", label="targets (seeds)")
    ax.axhline(L.min(), color="C0", ls=":", lw=1, label=f"lowest fitted loss {L.min():.3f} (no further gain)")
    ax.axvspan(cap, ax.get_xlim()[1], color="k", alpha=0.05)
    ax.set(xscale="log", xlabel="training FLOPs 6·N·D", ylabel="held-out loss (nats/token)",
           title=f"fit on small runs, predict {COMPUTE_RATIO:g}x beyond (shaded: not fitted)")
    ax.legend(fontsize=8)
    obs = np.array([h.mean for h in held])
    axp.errorbar(obs, pred, yerr=bound, fmt="D", color="C3", capsize=4,
                 label=f"prediction ± {BOUND_SIGMAS:g} combined SE")
    lim = [min(obs.min(), pred.min()) - bound.max(), max(obs.max(), pred.max()) + bound.max()]
    axp.plot(lim, lim, "k:", lw=1, label="perfect prediction")
    axp.set(xlabel="measured loss (mean over seeds)", ylabel="predicted loss", title="predicted vs actual")
    axp.legend(fontsize=8)
    fig.suptitle(f"extrapolation in compute ({device}, {tier.name})")
    fig.tight_layout()
    return fig
