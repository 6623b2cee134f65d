"""Wei et al. 2022 and Schaeffer et al. 2023: exact-match accuracy on multi-digit addition
appears suddenly with scale, while continuous metrics of the same models improve smoothly.

What is measured. Models of at least 6 sizes from the `model_family` fixture are trained,
each with at least 3 seeds, on the same token budget of the addition task
(`scaling.data.arithmetic`: "a+b=c;" problems, held-out test problems), and scored on the
test problems by four metrics: exact match of the greedily decoded answer, per-digit
accuracy, token edit distance to the true answer, and the per-token negative log-likelihood
of the true answer (the continuous metrics of Schaeffer et al.).

The rule, fixed before the data were looked at, is the same for every metric: a logistic in
log10 N is fitted over all runs (every seed of every size, `scaling.fit.logistic`), and its
midpoint and 10-90% rise width get 95% intervals from a residual bootstrap (every run's value
redrawn as the fitted curve plus one of all runs' residuals). Resampling each size's own seeds
was the first rule; it was replaced, on simulated data only, when a simulated per-seed lottery
(7 sizes × 3 seeds, learning probability rising over 1.9 decades) was called sharp in 4 of 25
draws by it and in none by the residual bootstrap (`scaling.fit.logistic`). The verdict on the
measured runs stayed inconclusive under both. More seeds would not decide such a lottery either:
simulated at 7 sizes × 6 and × 10 seeds, the rule left it undecided in 15 of 15 draws each (runs
that either finish the task or not scatter by ±0.5 around the mean, which leaves the width open).

- A metric is sharp when its rise width is at most SHARP_DECADES (upper end of the interval)
  and its midpoint is located inside the sweep to within MIDPOINT_DECADES. It is smooth when
  the rise width is above SHARP_DECADES (lower end of the interval); otherwise undecided, and
  a claim resting on an undecided metric is inconclusive.
  The midpoint's location is reported as the wider of its interval and the two sizes that
  bracket it: a sweep cannot place a step closer than between two adjacent sizes.
- Wei et al.'s claim: exact match is sharp, near zero below the rise (fitted lower level
  below ABSENT) and present above it (upper level above PRESENT).
- Schaeffer et al.'s claim: on the same models the answer NLL is smooth. Per-digit accuracy
  and edit distance are classified by the same rule and reported; their account also
  predicts exact match from the per-token loss, EM ≈ exp(-answer_len · NLL), noted beside
  the measurement.

Budgets (`scaling.experiments.EMERGENCE`): one problem per row (n_ctx = problem_len - 1),
batch 64; packing several problems per row kept every size on the "marginal digits" plateau.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from scaling.data import make_source
from scaling.fit.logistic import fit_logistic_seeds

MIN_SIZES = 6  # at least 6 sizes: a rise needs flat ground on both sides
MIN_SEEDS = 3  # at least 3 seeds per size: one run per size made the verdict a coin flip
# "Not present": exact match below 5% (random answers would score 10^-(digits+1)).
ABSENT = 0.05
# "Present": exact match above 50%, the model answers most held-out problems right.
PRESENT = 0.5
# Sharp: 10-90% of the change within half a decade of N (a factor ~3, under two steps of the
# standard tier's 7-size sweep over 1.8 decades); a power law in N spreads its change over the whole sweep (a
# logistic through L ∝ N^-0.4 over 1.8 decades rises over ~2.4 decades).
SHARP_DECADES = 0.5
# Located: the midpoint's interval, widened to the sizes that bracket it, spans at most half a
# decade and lies inside the sweep.
MIDPOINT_DECADES = 0.5
LEVEL = 0.95  # two-sided intervals of the midpoint and the width
# Each resample is a nonlinear refit; 200 place the ends of a 95% percentile interval to a
# few percent of its width, and the verdicts compare them with margins of a factor 2 or more.
MAX_RESAMPLES = 200

# The metrics, oriented by name; edit distance and NLL fall as the model learns.
METRICS = {"exact_match": "exact match", "token_accuracy": "per-digit accuracy",
           "edit_distance": "token edit distance", "answer_nll": "answer NLL"}
CONTINUOUS = ("token_accuracy", "edit_distance", "answer_nll")

# The decision rule, stated before looking at the data and amended since as the docstring records;
# the report prints it.
RULE = (
    f"at least {MIN_SIZES} sizes × {MIN_SEEDS} seeds; a logistic in log10 N over all runs, with "
    f"{LEVEL:.0%} residual-bootstrap intervals: a metric is sharp when its 10-90% rise width is at most "
    f"{SHARP_DECADES:g} decades and its midpoint is located inside the sweep within {MIDPOINT_DECADES:g} "
    f"decades, smooth when the width is above {SHARP_DECADES:g} decades, else undecided (inconclusive); "
    f"Wei: exact match sharp, "
    f"below {ABSENT:g} before the rise and above {PRESENT:g} after; Schaeffer: the answer NLL smooth"
)

pytestmark = pytest.mark.claim(
    "emergence",
    title="Exact match on addition appears suddenly with scale; per-token loss improves smoothly",
    source="Wei et al. 2022 (arXiv:2206.07682); Schaeffer et al. 2023 (arXiv:2304.15004)",
    quote="An ability is emergent if it is not present in smaller models but is present in "
    "larger models",
    evidence="trained",
    headline="exact match: 10-90% rise width (decades of N)",
    rule=RULE,
)

# Measured per tier (reasons below); the strict xfail notices a change either way.
SMOKE_NOT_LEARNED = ("measured at smoke (500k tokens, one problem per row): no size of N <= 6e4 leaves the "
                     "'marginal digits' plateau (exact match <= 0.04, answer NLL ~1.1-1.7); learning needs "
                     "the standard tier's 4M tokens")
LOTTERY = ("measured at standard (4M tokens, 7 sizes × 3 seeds, the searched rates): whether a run finishes the "
           "task is a per-seed lottery over most of the sweep: every seed of N = 1e5 does (exact match 1.0) and none "
           "of 1.8e3, but 1 of 3 at 3.8e3, 6.6e3 and 1.45e4 and 2 of 3 at 2.55e4 and 4.8e4, so mean exact match is "
           "not monotone (0.01, 0.36, 0.39, 0.34, 0.70, 0.70, 1.00) and every metric's rise is undecided")
XFAIL_THRESHOLD = {"smoke": SMOKE_NOT_LEARNED, "standard": LOTTERY}
XFAIL_SMOOTH = {"smoke": SMOKE_NOT_LEARNED, "standard": LOTTERY}


class Shape:
    """One metric's logistic over all runs, its intervals and its class under the rule."""

    def __init__(self, key, x, y, sizes, resamples):
        self.key, self.name = key, METRICS[key]
        self.fit = fit_logistic_seeds(x, y, resamples=resamples, level=LEVEL)
        law, mid = self.fit.law, self.fit.midpoint
        below, above = sizes[sizes < law.x0], sizes[sizes > law.x0]
        # the location: the wider of the midpoint's interval and the bracketing sizes
        self.where = (min(mid.low, below.max() if below.size else -math.inf),
                      max(mid.high, above.min() if above.size else math.inf))
        self.located = (sizes[0] < self.where[0] and self.where[1] < sizes[-1]
                        and self.where[1] - self.where[0] <= MIDPOINT_DECADES)
        rise = self.fit.rise
        if rise.high <= SHARP_DECADES and self.located:
            self.shape = "sharp"
        elif rise.low > SHARP_DECADES:
            self.shape = "smooth"
        else:
            self.shape = "undecided"

    def text(self) -> str:
        r, (lo, hi) = self.fit.rise, self.where
        return (f"{self.name}: {self.shape} (rise {self.fit.law.rise_decades:.2f} decades, {LEVEL:.0%} "
                f"{r.low:.2f}..{r.high:.2f}; midpoint N = {10 ** self.fit.law.x0:.3g}, located "
                f"{10 ** lo:.3g}..{10 ** hi:.3g}; levels {self.fit.law.lo:.3g} -> {self.fit.law.hi:.3g})")

    def record(self, claim) -> None:
        law, r = self.fit.law, self.fit.rise
        claim.measure(f"{self.name}: 10-90% rise width (decades of N)", law.rise_decades, drift=0.5,
                      note=f"{LEVEL:.0%} interval {r.low:.3f}..{r.high:.3f}; sharp at most {SHARP_DECADES:g}, "
                           f"smooth above; {self.shape}")
        claim.measure(f"{self.name}: logistic midpoint N", 10 ** law.x0, unit="params", relative=True,
                      drift=1.0, note=f"located {10 ** self.where[0]:.3g}..{10 ** self.where[1]:.3g} "
                                      f"(interval widened to the bracketing sizes)")


_SHAPES: dict = {}


def _analysis(claim, experiments, device, tier):
    """The sweep and every metric's shape, computed once per session and recorded by each test."""
    runs = experiments.emergence(device)
    plan, trained, new = runs.plan, runs.trained, runs.new
    task = make_source(plan.task)
    N = np.array([t.n for t in trained], dtype=float)
    sizes = np.unique(np.log10(N))
    seeds = min(int(np.sum(N == n)) for n in np.unique(N))
    claim.note(f"{sizes.size} sizes N = {N.min():.3g}..{N.max():.3g} ({experiments.family.name}) × {seeds} seeds, "
               f"{plan.tokens:,} tokens each of {task.n_digits}-digit addition at n_ctx {plan.training.n_ctx}, "
               f"batch {plan.training.batch_size} ({task.answer_len} answer tokens), peak rate {runs.lr.text()}; "
               f"{len(trained) - new} of {len(trained)} runs read from the store.")
    metric = {k: np.array([t.run.metrics[k] for t in trained]) for k in METRICS}
    means = {k: [float(v[N == n].mean()) for n in np.unique(N)] for k, v in metric.items()}
    claim.note("per-size means over seeds (N: exact match, per-digit accuracy, edit distance, answer NLL): "
               + "; ".join(f"{n:.3g}: " + ", ".join(f"{means[k][i]:.3f}" for k in METRICS)
                           for i, n in enumerate(np.unique(N))))
    claim.note("exact match per run: " + "; ".join(
        f"{n:.3g}: {np.round(metric['exact_match'][N == n], 3).tolist()}" for n in np.unique(N)))
    key = (experiments.family.name, experiments.source, tier.name, device, len(trained))
    if key not in _SHAPES:
        resamples = min(tier.bootstrap_resamples, MAX_RESAMPLES)
        _SHAPES[key] = {k: Shape(k, np.log10(N), v, sizes, resamples) for k, v in metric.items()}
    return plan, task, N, metric, seeds, sizes, _SHAPES[key]


def test_exact_match_shows_a_threshold(claim, device, tier, experiments, expect_xfail):
    """Exact match vs N rises from ~0 to most problems right within half a decade of N, located by a logistic."""
    expect_xfail(XFAIL_THRESHOLD)
    plan, task, N, m, seeds, sizes, shapes = _analysis(claim, experiments, device, tier)
    em = shapes["exact_match"]
    em.record(claim)
    law = em.fit.law
    claim.measure("exact match: fitted lower level", law.lo, drift=0.1, note=f"'not present' below {ABSENT:g}")
    claim.measure("exact match: fitted upper level", law.hi, drift=0.2, note=f"'present' above {PRESENT:g}")
    for k in CONTINUOUS:
        claim.note(shapes[k].text())
    predicted_em = np.exp(-task.answer_len * m["answer_nll"])
    claim.note("Schaeffer et al.'s EM ≈ exp(-answer_len·NLL), per-size means: " + ", ".join(
        f"N={n:.2g}: {predicted_em[N == n].mean():.2f} vs {m['exact_match'][N == n].mean():.2f}"
        for n in np.unique(N)))
    claim.figure(_em_figure(N, m["exact_match"], predicted_em, em, task, device, tier), "emergence-exact-match")
    emergent = (em.shape == "sharp" and law.lo < ABSENT and law.hi > PRESENT
                and sizes.size >= MIN_SIZES and seeds >= MIN_SEEDS)
    summary = "; ".join(f"{shapes[k].name} {shapes[k].shape}" for k in METRICS)
    if emergent:
        claim.verdict("reproduced", f"exact match rises from {law.lo:.3f} to {law.hi:.3f} over "
                      f"{law.rise_decades:.2f} decades (≤ {em.fit.rise.high:.2f} at {LEVEL:.0%}) at N ≈ "
                      f"{10 ** law.x0:.3g} (located {10 ** em.where[0]:.3g}..{10 ** em.where[1]:.3g}); {summary}")
    else:  # an undecided shape, or a task no size learns, decides nothing either way
        claim.verdict("inconclusive" if law.hi <= PRESENT or em.shape == "undecided" else "not_reproduced",
                      f"{em.text()}; {sizes.size} sizes × {seeds} seeds at {plan.tokens:,} tokens; {summary}")
    assert sizes.size >= MIN_SIZES and seeds >= MIN_SEEDS, f"{sizes.size} sizes × {seeds} seeds"
    assert emergent, em.text()


def test_answer_loss_is_smooth_in_n(claim, device, tier, experiments, expect_xfail):
    """On the same models the answer's per-token NLL falls smoothly in N (rise wider than half a decade)."""
    expect_xfail(XFAIL_SMOOTH)
    plan, task, N, m, seeds, sizes, shapes = _analysis(claim, experiments, device, tier)
    for k in CONTINUOUS:
        shapes[k].record(claim)
    claim.figure(_continuous_figure(N, m, shapes, task, device, tier), "emergence-continuous")
    nll = shapes["answer_nll"]
    learned = shapes["exact_match"].fit.law.hi > PRESENT
    summary = "; ".join(shapes[k].text() for k in CONTINUOUS)
    if not learned:
        claim.verdict("inconclusive", f"no size learns the task at {plan.tokens:,} tokens (exact match's "
                      f"upper level {shapes['exact_match'].fit.law.hi:.3f}): no trend to judge; {summary}")
    elif nll.shape == "smooth":
        claim.verdict("reproduced", summary)
    elif nll.shape == "undecided":
        claim.verdict("inconclusive", f"the answer NLL's rise width is undecided: neither smooth nor sharp "
                      f"beyond the seeds' spread; {summary}")
    else:
        claim.verdict("not_reproduced", f"the answer NLL is {nll.shape}, not smooth: the transition is in the "
                      f"model, not only in the metric; {summary}")
    assert learned, f"nothing learned: {shapes['exact_match'].text()}"
    assert nll.shape == "smooth", nll.text()


def _shape_panel(ax, N, y, shape, color, label):
    """One metric's runs, per-size means, fitted logistic and located midpoint on a log-N axis."""
    sizes = np.unique(N)
    g = np.geomspace(N.min() / 1.2, N.max() * 1.2, 300)
    ax.plot(N, y, ".", color=color, alpha=0.5, label=f"{label}, each seed")
    ax.plot(sizes, [y[N == n].mean() for n in sizes], "o", mfc="none", color=color, label="mean over seeds")
    law = shape.fit.law
    ax.plot(g, law(np.log10(g)), "-", color=color, lw=1,
            label=f"logistic: rise {law.rise_decades:.2f} decades ({shape.shape})")
    lo, hi = shape.where
    if math.isfinite(lo) and math.isfinite(hi):
        ax.axvspan(10 ** lo, 10 ** hi, color=color, alpha=0.1, label="midpoint located")
    ax.set_xscale("log")
    ax.set_xlabel("non-embedding parameters N")
    ax.legend(fontsize=7)


def _em_figure(N, em, predicted_em, shape, task, device, tier):
    fig, ax = plt.subplots(figsize=(7, 4.6))
    _shape_panel(ax, N, em, shape, "C3", "exact match")
    sizes = np.unique(N)
    ax.plot(sizes, [predicted_em[N == n].mean() for n in sizes], "s", mfc="none", color="C7",
            label="exp(−answer_len·NLL) (Schaeffer)")
    ax.axhline(ABSENT, color="k", ls=":", lw=0.8)
    ax.axhline(PRESENT, color="k", ls="--", lw=0.8)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("exact match")
    ax.set_title(f"exact match on {task.n_digits}-digit addition ({device}, {tier.name})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _continuous_figure(N, metric, shapes, task, device, tier):
    fig, axes = plt.subplots(1, len(CONTINUOUS), figsize=(15, 4.4))
    for ax, k, c in zip(axes, CONTINUOUS, ("C2", "C0", "C1")):
        _shape_panel(ax, N, metric[k], shapes[k], c, METRICS[k])
        ax.set_title(METRICS[k])
    fig.suptitle(f"continuous metrics on {task.n_digits}-digit addition, the same models ({device}, {tier.name})")
    fig.tight_layout()
    return fig
