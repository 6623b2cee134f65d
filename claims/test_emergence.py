"""Wei et al. 2022 and Schaeffer et al. 2023: exact-match accuracy on multi-digit addition
appears suddenly with scale, while a continuous metric of the same models improves smoothly.

What is measured. Models of at least 6 sizes from the `model_family` fixture are trained
on the same token budget of the addition task (`scaling.arithmetic`: "a+b=c;" problems,
held-out test problems), and scored on the test problems by exact match of the greedily
decoded answer and by the per-token negative log-likelihood of the true answer.

- Threshold (Wei et al.): a logistic in log10 N is fitted to exact match; its location
  (the N at half its height) is reported, and the ability counts as emergent when the
  smaller half of the sweep is near chance while the largest model is well above it and
  most of the rise happens between two adjacent sizes.
- Smoothness (Schaeffer et al.): the answer NLL over the same models is fitted by a power
  law in N; it is smooth when no single step between adjacent sizes carries most of its
  total change. Schaeffer's account also predicts exact match from the per-token loss,
  EM ≈ exp(-answer_len · NLL), which is reported beside the measurement.
"""

from __future__ import annotations


import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.optimize import least_squares

from scaling.data import make_source
from scaling.experiments import emergence_sweep
from scaling.fit import FitError, fit_power_law

pytestmark = pytest.mark.claim(
    "emergence",
    title="Exact match on addition appears suddenly with scale; per-token loss improves smoothly",
    source="Wei et al. 2022 (arXiv:2206.07682); Schaeffer et al. 2023 (arXiv:2304.15004)",
    quote="An ability is emergent if it is not present in smaller models but is present in "
    "larger models",
)

MIN_SIZES = 6  # CLAIMS.md: at least 6 sizes
# "Not present": exact match below 5% (random answers would score 10^-(digits+1)).
ABSENT = 0.05
# "Present": exact match above 50%, the model answers most held-out problems right.
PRESENT = 0.5
# A threshold puts most of the metric's total variation over the sweep into one step between
# adjacent sizes (a factor ~2 in N); a smooth trend over >= 6 sizes spreads it, so that no
# step carries more than half.
JUMP_FRACTION = 0.5


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


# Measured here: at <= 1M tokens per run no model of N <= 1e5 learns 3-digit addition (exact
# match ~0 at every size, answer NLL flat), so there is no threshold to locate.
NOT_LEARNED = ("no model of N <= 1e5 learns 3-digit addition in <= 1M tokens (measured: exact "
               "match ~0 at every size); the threshold lies beyond this budget")
XFAIL = {"smoke": NOT_LEARNED, "standard": NOT_LEARNED}


def test_exact_match_jumps_while_token_loss_is_smooth(claim, device, tier, store_path, model_family,
                                                      expect_xfail):
    """Exact match vs N shows a threshold; the answer's per-token NLL over the same models is smooth."""
    expect_xfail(XFAIL)
    plan, trained, new = emergence_sweep(model_family, tier.name, device, store_path)
    task = make_source(plan.task)
    claim.note(f"{len(trained)} sizes N = {trained[0].n:.3g}..{trained[-1].n:.3g} ({model_family.name}), "
               f"{plan.tokens:,} tokens each of {task.n_digits}-digit addition ({task.answer_len} answer "
               f"tokens); {len(trained) - new} of {len(trained)} runs read from the store.")
    N = np.array([t.n for t in trained], dtype=float)
    em = np.array([t.run.metrics["exact_match"] for t in trained])
    nll = np.array([t.run.metrics["answer_nll"] for t in trained])
    ed = np.array([t.run.metrics["edit_distance"] for t in trained])
    x = np.log10(N)
    x0, w, top = fit_logistic(x, em)
    em_jump, nll_jump = max_jump_fraction(em), max_jump_fraction(nll)
    half = len(em) // 2
    absent_small = float(em[:half].max())
    claim.measure("exact match of the largest model", float(em[-1]), drift=0.1,
                  note=f"'present' above {PRESENT:g}")
    claim.measure("max exact match of the smaller half", absent_small, drift=0.1,
                  note=f"'not present' below {ABSENT:g}")
    inside = x[0] < x0 < x[-1] and em.max() >= ABSENT
    claim.measure("threshold location N (logistic midpoint)", 10**x0, unit="params", relative=True,
                  drift=1.0, note=(f"width {w:.3f} decades per e-fold; height {top:.2f}" if inside else
                                   "meaningless here: exact match never leaves ~0 in the sweep"))
    claim.measure("exact match: largest step / total change", em_jump, drift=0.2,
                  note=f"a threshold puts more than {JUMP_FRACTION:g} of the change in one step")
    claim.measure("answer NLL: largest step / total change", nll_jump, drift=0.2,
                  note=f"smooth when no step carries more than {JUMP_FRACTION:g}")
    power = None
    try:
        power = fit_power_law(N, nll, irreducible=False)
        claim.measure("answer NLL power-law exponent", power.params["alpha"], drift=0.1)
        claim.measure("answer NLL power-law R2 (log space)", power.r2_log, drift=0.05)
    except FitError as e:
        claim.note(f"no power law in the answer NLL: {e}")
    predicted_em = np.exp(-task.answer_len * nll)
    claim.note("Schaeffer et al.'s EM ≈ exp(-answer_len·NLL): "
               + ", ".join(f"N={n:.2g}: {p:.2f} vs {e:.2f}" for n, p, e in zip(N, predicted_em, em)))
    claim.figure(_figure(N, em, nll, ed, predicted_em, (x0, w, top), power, task, device, tier), "emergence")
    threshold = absent_small < ABSENT and em[-1] > PRESENT and em_jump > JUMP_FRACTION and inside
    smooth = nll_jump <= JUMP_FRACTION
    if not threshold:
        claim.verdict("inconclusive" if em[-1] <= PRESENT else "not_reproduced",
                      f"no exact-match threshold in N = {N[0]:.2g}..{N[-1]:.2g} at {plan.tokens:,} tokens "
                      f"(largest model's exact match {em[-1]:.2f}, largest step {em_jump:.2f} of the change)")
    elif not smooth:
        claim.verdict("not_reproduced", f"exact match jumps (threshold near N = {10**x0:.3g}) but so does "
                      f"the per-token answer NLL (one step carries {nll_jump:.2f} of its change): "
                      "the transition is in the model, not only in the metric")
    assert len(trained) >= MIN_SIZES
    assert threshold, f"exact match {np.round(em, 3)} shows no threshold"
    assert smooth, f"answer NLL {np.round(nll, 3)} jumps too"


def _figure(N, em, nll, ed, predicted_em, logistic, power, task, device, tier):
    fig, (ax, axc) = plt.subplots(1, 2, figsize=(12, 4.6))
    g = np.geomspace(N[0] / 1.2, N[-1] * 1.2, 200)
    ax.plot(N, em, "o", color="C3", label="exact match (held-out problems)")
    ax.plot(g, _logistic(np.log10(g), *logistic), "C3-", lw=1,
            label=f"logistic in log N, midpoint N = {10 ** logistic[0]:.2g}")
    ax.plot(N, predicted_em, "s", mfc="none", color="C7", label="exp(−answer_len·NLL) (Schaeffer)")
    ax.axhline(ABSENT, color="k", ls=":", lw=0.8)
    ax.axhline(PRESENT, color="k", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("non-embedding parameters N")
    ax.set_ylabel("exact match")
    ax.set_title("discontinuous metric: exact match")
    ax.legend(fontsize=8)
    axc.plot(N, nll, "o", color="C0", label="answer NLL (nats/token)")
    if power is not None:
        axc.plot(g, power.law.predict(g), "C0-", lw=1, label=f"power law, α = {power.params['alpha']:.2f}")
    axc.plot(N, ed, "^", color="C2", label="token edit distance")
    axc.set_xscale("log")
    axc.set_yscale("log")
    axc.set_xlabel("non-embedding parameters N")
    axc.set_title("continuous metrics: per-token NLL, edit distance")
    axc.legend(fontsize=8)
    fig.suptitle(f"emergence on {task.n_digits}-digit addition ({device}, {tier.name})")
    fig.tight_layout()
    return fig
