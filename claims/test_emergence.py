"""Wei et al. 2022 and Schaeffer et al. 2023: exact-match accuracy on multi-digit addition
appears suddenly with scale, while a continuous metric of the same models improves smoothly.

What is measured. Models of at least 6 sizes from the `model_family` fixture are trained
on the same token budget of the addition task (`scaling.data.arithmetic`: "a+b=c;" problems,
held-out test problems), and scored on the test problems by exact match of the greedily
decoded answer and by the per-token negative log-likelihood of the true answer.

- Threshold (Wei et al.): a logistic in log10 N is fitted to exact match; its location
  (the N at half its height) is reported with the sizes that bracket it (the sweep cannot
  place it closer than between two adjacent sizes). The ability counts as emergent when
  most of the rise happens in that one bracketing step, every size below the bracket (at
  least two) is near chance and every size above it (at least two) answers most problems
  right. The two bracketing sizes are judged by the step alone: a threshold of any finite
  sharpness leaves the size next to it part-way (measured: 0.09 at N = 1.0e4).
- Smoothness (Schaeffer et al.): the answer NLL over the same models is fitted by a power
  law in N; it is smooth when the power law fits (R² in log space) and no single step
  between adjacent sizes carries most of its total change. Schaeffer's account also
  predicts exact match from the per-token loss, EM ≈ exp(-answer_len · NLL), reported
  beside the measurement.

Budgets (`scaling.experiments.EMERGENCE`): one problem per row (n_ctx = problem_len - 1),
batch 64, lr 0.01; packing several problems per row kept every size on the "marginal
digits" plateau. Measured at standard (2M tokens): exact match jumps between N ≈ 1.0e4 and 1.45e4 and the
answer NLL falls from its plateau to ~0 over N ≈ 6.6e3..1.45e4, so the threshold reproduces and the smooth-continuous-metric
half does not at this scale (a learning phase transition in the model, not only in the
metric).
"""

from __future__ import annotations


import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.optimize import least_squares

from scaling.data import make_source
from scaling.fit import FitError, fit_power_law

MIN_SIZES = 6  # CLAIMS.md: at least 6 sizes
# "Not present": exact match below 5% (random answers would score 10^-(digits+1)).
ABSENT = 0.05
# "Present": exact match above 50%, the model answers most held-out problems right.
PRESENT = 0.5
# A threshold puts most of the metric's total variation over the sweep into one step between
# adjacent sizes (a factor ~2 in N); a power law over >= 6 log-spaced sizes spreads it, so that
# no step carries more than half (even alpha = 1 puts only ~0.4 into the first step).
JUMP_FRACTION = 0.5
# Sizes needed beyond each side of the bracket: one size is not "smaller models" / "larger models".
MIN_SIDE = 2
# A power law "fits" the continuous metric when it explains 90% of its log-space variance.
SMOOTH_R2 = 0.9

# The decision rule, stated before looking at the data; the report prints it.
RULE = (
    f"at least {MIN_SIZES} sizes; exact match below {ABSENT:g} for {MIN_SIDE}+ sizes below the rise "
    f"and above {PRESENT:g} for {MIN_SIDE}+ above it, more than {JUMP_FRACTION:g} of its change in one "
    f"step; the answer's per-token NLL has no step above {JUMP_FRACTION:g} and a power law fits it "
    f"with R² above {SMOOTH_R2:g}"
)

pytestmark = pytest.mark.claim(
    "emergence",
    title="Exact match on addition appears suddenly with scale; per-token loss improves smoothly",
    source="Wei et al. 2022 (arXiv:2206.07682); Schaeffer et al. 2023 (arXiv:2304.15004)",
    quote="An ability is emergent if it is not present in smaller models but is present in "
    "larger models",
    evidence="trained",
    headline="exact match: largest step / total change",
    rule=RULE,
)


def _logistic(x, x0, w, top):
    return top / (1.0 + np.exp(-(x - x0) / w))


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(x0, w, top) of y = top / (1 + exp(-(x - x0)/w)) by bounded least squares."""
    lo, hi = x.min(), x.max()
    best = None
    for x0 in np.linspace(lo, hi, 7):  # a few starts: the location is what is uncertain
        r = least_squares(lambda p: _logistic(x, *p) - y, x0=[x0, 0.2, max(y.max(), 0.05)],
                          bounds=([lo - 2, 0.01, 0.01], [hi + 2, 5.0, 1.0]))
        if best is None or r.cost < best.cost:
            best = r
    return tuple(float(v) for v in best.x)


def max_jump_fraction(values: np.ndarray) -> float:
    """Largest change between adjacent sizes as a fraction of the total variation over the sweep.

    1 when everything changes in one step (or nothing changes at all: no trend to be smooth).
    """
    steps = np.abs(np.diff(values))
    total = float(steps.sum())
    return float(steps.max() / total) if total > 0 else 1.0



# Measured per tier (reasons below); the strict xfail notices a change either way.
SMOKE_NOT_LEARNED = ("measured at smoke (<= 1M tokens, one problem per row): no size of N <= 6e4 leaves the "
                     "'marginal digits' plateau (exact match <= 0.04, answer NLL ~1.1-1.7); learning needs "
                     "the standard tier's 2M tokens")
NOT_SMOOTH = ("measured at standard (2M tokens): the answer NLL sits on a non-monotone plateau (1.2-1.7) "
              "up to N ≈ 6.6e3, then falls to ~0.6 and ~0 over the next two sizes (N ≈ 1.0e4, 1.45e4), "
              "where exact match jumps; a power law explains well under 90% of it (R² ~0.7): a learning "
              "phase transition, not only a metric artefact, at this scale")
XFAIL_THRESHOLD = {"smoke": SMOKE_NOT_LEARNED}
XFAIL_SMOOTH = {"smoke": SMOKE_NOT_LEARNED, "standard": NOT_SMOOTH}


def _sweep(claim, experiments, device):
    runs = experiments.emergence(device)
    plan, trained, new = runs.plan, runs.trained, runs.new
    task = make_source(plan.task)
    claim.note(f"{len(trained)} sizes N = {trained[0].n:.3g}..{trained[-1].n:.3g} ({experiments.family.name}), "
               f"{plan.tokens:,} tokens each of {task.n_digits}-digit addition at n_ctx {plan.training.n_ctx}, "
               f"batch {plan.training.batch_size}, lr {plan.training.lr} ({task.answer_len} answer tokens); "
               f"{len(trained) - new} of {len(trained)} runs read from the store.")
    N = np.array([t.n for t in trained], dtype=float)
    metric = {k: np.array([t.run.metrics[k] for t in trained]) for k in ("exact_match", "answer_nll",
                                                                         "edit_distance")}
    claim.note("measured (N: exact match, answer NLL, edit distance): " + "; ".join(
        f"{n:.3g}: {e:.3f}, {l:.3f}, {d:.3f}" for n, e, l, d in
        zip(N, metric["exact_match"], metric["answer_nll"], metric["edit_distance"])))
    assert len(trained) >= MIN_SIZES
    return plan, task, N, metric


def test_exact_match_shows_a_threshold(claim, device, tier, experiments, expect_xfail):
    """Exact match vs N is ~0 below a size and high above it, the rise located by a logistic in log N."""
    expect_xfail(XFAIL_THRESHOLD)
    plan, task, N, m = _sweep(claim, experiments, device)
    em, nll = m["exact_match"], m["answer_nll"]
    x = np.log10(N)
    x0, w, top = fit_logistic(x, em)
    inside = x[0] < x0 < x[-1]
    # The sweep brackets the midpoint between its nearest sizes: that is the location's uncertainty.
    lo = float(N[x < x0].max()) if inside else float("nan")
    hi = float(N[x > x0].min()) if inside else float("nan")
    below, above = em[N < lo], em[N > hi]  # empty when not inside (NaN compares False)
    em_jump = max_jump_fraction(em)
    claim.measure("exact match of the largest model", float(em[-1]), drift=0.1,
                  note=f"'present' above {PRESENT:g}")
    claim.measure("max exact match below the bracket", float(below.max()) if below.size else float("nan"),
                  drift=0.1, note=f"'not present' below {ABSENT:g}")
    claim.measure("min exact match above the bracket", float(above.min()) if above.size else float("nan"),
                  drift=0.2, note=f"'present' above {PRESENT:g}")
    if inside:
        claim.note(f"bracketing sizes: exact match {em[N == lo][0]:.3f} at N = {lo:.3g}, "
                   f"{em[N == hi][0]:.3f} at N = {hi:.3g}")
    claim.measure("threshold location N (logistic midpoint)", 10**x0, unit="params", relative=True,
                  drift=1.0, note=(f"bracketed by the sweep's sizes N = {lo:.3g}..{hi:.3g}; width {w:.3f} "
                                   f"decades per e-fold, height {top:.2f}" if inside and em.max() >= ABSENT
                                   else "meaningless here: exact match never leaves ~0 in the sweep"))
    claim.measure("threshold bracket low N", lo, unit="params", relative=True, drift=1.0)
    claim.measure("threshold bracket high N", hi, unit="params", relative=True, drift=1.0)
    claim.measure("exact match: largest step / total change", em_jump, drift=0.2,
                  note=f"a threshold puts more than {JUMP_FRACTION:g} of the change in one step")
    predicted_em = np.exp(-task.answer_len * nll)
    claim.note("Schaeffer et al.'s EM ≈ exp(-answer_len·NLL): "
               + ", ".join(f"N={n:.2g}: {p:.2f} vs {e:.2f}" for n, p, e in zip(N, predicted_em, em)))
    claim.figure(_em_figure(N, em, predicted_em, (x0, w, top), (lo, hi), task, device, tier),
                 "emergence-exact-match")
    threshold = (inside and below.size >= MIN_SIDE and above.size >= MIN_SIDE
                 and below.max() < ABSENT and above.min() > PRESENT and em_jump > JUMP_FRACTION)
    if threshold:
        claim.verdict("reproduced", f"exact match ≤ {below.max():.3f} for N < {lo:.3g} and ≥ {above.min():.3f} "
                      f"for N > {hi:.3g}; logistic midpoint N = {10**x0:.3g} (bracketed {lo:.3g}..{hi:.3g}), "
                      f"one step carries {em_jump:.2f} of the change")
    else:
        claim.verdict("inconclusive" if em[-1] <= PRESENT else "not_reproduced",
                      f"no exact-match threshold in N = {N[0]:.2g}..{N[-1]:.2g} at {plan.tokens:,} tokens "
                      f"(exact match {np.round(em, 3).tolist()}, largest step {em_jump:.2f} of the change)")
    assert threshold, f"exact match {np.round(em, 3).tolist()} shows no threshold"


def test_answer_loss_is_smooth_in_n(claim, device, tier, experiments, expect_xfail):
    """The answer's per-token NLL over the same models follows a power law in N with no jump."""
    expect_xfail(XFAIL_SMOOTH)
    plan, task, N, m = _sweep(claim, experiments, device)
    nll, ed, em = m["answer_nll"], m["edit_distance"], m["exact_match"]
    nll_jump, ed_jump = max_jump_fraction(nll), max_jump_fraction(ed)
    claim.measure("answer NLL: largest step / total change", nll_jump, drift=0.2,
                  note=f"smooth when no step carries more than {JUMP_FRACTION:g}")
    claim.measure("edit distance: largest step / total change", ed_jump, drift=0.2)
    power = None
    try:
        power = fit_power_law(N, nll, irreducible=False)
        claim.measure("answer NLL power-law exponent", power.params["alpha"], drift=0.2)
        claim.measure("answer NLL power-law R2 (log space)", power.r2_log, drift=0.1,
                      note=f"a power law fits above {SMOOTH_R2:g}")
    except FitError as e:
        claim.note(f"no power law in the answer NLL: {e}")
    claim.figure(_continuous_figure(N, nll, ed, power, task, device, tier), "emergence-continuous")
    learned = em.max() > PRESENT
    smooth = power is not None and power.r2_log >= SMOOTH_R2 and nll_jump <= JUMP_FRACTION
    r2 = f"{power.r2_log:.2f}" if power is not None else "no fit"
    if not learned:
        claim.verdict("inconclusive", f"no size learns the task at {plan.tokens:,} tokens (exact match ≤ "
                      f"{em.max():.3f}): the answer NLL {np.round(nll, 3).tolist()} is a plateau, not a trend")
    elif not smooth:
        claim.verdict("not_reproduced", f"the answer NLL {np.round(nll, 3).tolist()} over N = "
                      f"{N[0]:.2g}..{N[-1]:.2g} is not a power law (R² {r2}, need ≥ {SMOOTH_R2:g}; one step "
                      f"carries {nll_jump:.2f} of its change, edit distance {ed_jump:.2f}): the transition is "
                      "in the model, not only in the metric")
    else:
        claim.verdict("reproduced", f"answer NLL follows a power law (R² {r2}, α = {power.params['alpha']:.2f}); "
                      f"largest step {nll_jump:.2f} of its change")
    assert learned, f"exact match {np.round(em, 3).tolist()}: nothing learned, no trend to judge"
    assert smooth, f"answer NLL {np.round(nll, 3).tolist()} jumps (R² {r2}, largest step {nll_jump:.2f})"


# Log axes cannot show 0: a perfect model's NLL / edit distance is drawn at this floor.
PLOT_FLOOR = 1e-4


def _em_figure(N, em, predicted_em, logistic, bracket, task, device, tier):
    fig, ax = plt.subplots(figsize=(7, 4.6))
    g = np.geomspace(N[0] / 1.2, N[-1] * 1.2, 200)
    ax.plot(N, em, "o", color="C3", label="exact match (held-out problems)")
    ax.plot(g, _logistic(np.log10(g), *logistic), "C3-", lw=1,
            label=f"logistic in log N, midpoint N = {10 ** logistic[0]:.2g}")
    if all(np.isfinite(bracket)):
        ax.axvspan(*bracket, color="C3", alpha=0.1, label=f"bracket N = {bracket[0]:.2g}..{bracket[1]:.2g}")
    ax.plot(N, predicted_em, "s", mfc="none", color="C7", label="exp(−answer_len·NLL) (Schaeffer)")
    ax.axhline(ABSENT, color="k", ls=":", lw=0.8)
    ax.axhline(PRESENT, color="k", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("non-embedding parameters N")
    ax.set_ylabel("exact match")
    ax.set_title(f"exact match on {task.n_digits}-digit addition ({device}, {tier.name})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _continuous_figure(N, nll, ed, power, task, device, tier):
    fig, ax = plt.subplots(figsize=(7, 4.6))
    g = np.geomspace(N[0] / 1.2, N[-1] * 1.2, 200)
    ax.plot(N, np.maximum(nll, PLOT_FLOOR), "o", color="C0", label="answer NLL (nats/token)")
    if power is not None:
        ax.plot(g, power.law.predict(g), "C0-", lw=1,
                label=f"power law, α = {power.params['alpha']:.2f}, R² = {power.r2_log:.2f}")
    ax.plot(N, np.maximum(ed, PLOT_FLOOR), "^", color="C2", label="token edit distance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("non-embedding parameters N")
    ax.set_title(f"continuous metrics on {task.n_digits}-digit addition ({device}, {tier.name}); "
                 f"floor {PLOT_FLOOR:g}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
