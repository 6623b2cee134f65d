"""Hoffmann et al. 2022, §3 and Fig. 3: at equal compute, the compute-optimal allocation beats a
bigger model trained on fewer tokens and a smaller one trained on more.

What is measured. At every budget C of the `compute-optimal` IsoFLOP grid (C = 6·N·D, N total
parameters, Chinchilla's convention), three strategies spend C: "balanced" at the optimum N_opt
that grid measured (the parabola's vertex), "big-undertrained" at about 4x fewer tokens per
parameter (2x the parameters) and "small-overtrained" at about 4x more (half the parameters)
(`scaling.race`). Every strategy is trained with `tier.seeds` seeds; seed s fixes the
initialization and the order of the training data in every strategy, so differences are
paired. At each budget, balanced beats a rival when the mean paired difference exceeds
GAP_SIGMAS standard errors over seeds; a rival beats balanced by the same margin the other way.
The distance from the optimum is moderate, so the race can come out either way.

Each strategy's loss is also compared with the loss predicted for it by Hoffmann's law
(Approach 3, `fit_chinchilla`) fitted on the grid's runs: a law that places the optimum right
should also predict what leaving it costs.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from scaling.fit import FitError, fit_chinchilla
from scaling.race import STRATEGIES, TOKENS_FACTOR

# A gap between two strategies counts when it exceeds 3 standard errors of its paired
# differences over seeds (the seed-to-seed noise is the only noise in these runs).
GAP_SIGMAS = 3.0
RIVALS = ("small-overtrained", "big-undertrained")
# Measured at smoke (2 seeds, one degree of freedom per paired SE): balanced leads every contest
# but only 4 of 6 leads exceed 3 SE, on CPU and on an H100 (bf16); the smoke tier cannot decide.
# Measured at standard on CPU, at the searched learning rates LR*(N, D) (3 seeds): balanced wins
# all 8 contests by 3 SE on the synthetic source (it had won 7 of 8 at the rates of a rule fitted
# in N alone): no standard expectation.
XFAIL = {
    "smoke": "at smoke (2 seeds) balanced leads all 6 contests but only 4 by 3 SE: too few seeds to decide",
}

# The decision rule, stated before looking at the data; the report prints it.
RULE = (
    f"at every IsoFLOP budget, balanced (the grid's measured optimum) beats {TOKENS_FACTOR:g}x more and "
    f"{TOKENS_FACTOR:g}x fewer tokens per parameter by more than {GAP_SIGMAS:g} standard errors of the "
    "seed-paired differences; a rival ahead by that margin anywhere: not reproduced; otherwise inconclusive"
)

pytestmark = pytest.mark.claim(
    "allocation-race",
    title="At equal compute, the measured optimum beats 4x more and 4x fewer tokens per parameter",
    source="Hoffmann et al. 2022, §3 and Fig. 3",
    quote="for compute-optimal training, the model size and the number of training tokens "
    "should be scaled equally",
    evidence="trained",
    headline="paired wins of balanced (budgets × rivals)",
    rule=RULE,
)


def test_balanced_allocation_wins_at_equal_compute(claim, device, tier, experiments, expect_xfail):
    """At every budget, the measured optimum has a lower held-out loss than both rivals, seed-paired."""
    expect_xfail(XFAIL)
    race = experiments.race(device)
    grid_runs = experiments.isoflop(device)
    total = sum(len(v) for by in race.runs.values() for v in by.values())
    claim.note(f"{len(race.runs)} budgets × 3 strategies × {tier.seeds} seeds, source {experiments.source!r}; "
               f"{total - race.new} of {total} runs read from the store (the IsoFLOP grid's own runs are reused "
               "where a strategy lands on a grid size).")
    law = None
    try:
        law = fit_chinchilla(grid_runs.N, grid_runs.D, grid_runs.loss).law
    except FitError as e:
        claim.note(f"no law fitted on the grid: {e}")
    wins, losses_to = 0, []
    for C, by in sorted(race.runs.items()):
        loss = {s: np.array([t.loss for t in sorted(by[s], key=lambda t: t.seed)]) for s in STRATEGIES}
        for s in STRATEGIES:
            t0 = by[s][0]
            sd = float(np.std(loss[s], ddof=1)) if loss[s].size > 1 else math.nan
            pred = float(law.predict(t0.n_total, t0.run.tokens)) if law is not None else math.nan
            claim.measure(f"C={C:.0e} {s}: loss", float(loss[s].mean()), unit="nats/token",
                          drift=max(3 * sd, 1e-3) if math.isfinite(sd) else None,
                          note=f"± {sd:.4f} (std over {loss[s].size} seeds); N_total = {t0.n_total:,}, "
                               f"D/N = {t0.run.tokens / t0.n_total:.3g}; the grid's law predicts {pred:.4f}")
            if law is not None:
                claim.measure(f"C={C:.0e} {s}: measured − predicted by the grid's law",
                              float(loss[s].mean() - pred), unit="nats/token", drift=0.05)
        for rival in RIVALS:
            diff = loss[rival] - loss["balanced"]  # > 0: balanced is better
            se = float(np.std(diff, ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else math.nan
            claim.measure(f"C={C:.0e} {rival} − balanced (paired)", float(diff.mean()), unit="nats/token",
                          drift=max(3 * se, 1e-3) if math.isfinite(se) else None,
                          note=f"SE {se:.4f} over {diff.size} seeds; balanced wins above {GAP_SIGMAS:g} SE")
            if math.isfinite(se) and diff.mean() > GAP_SIGMAS * se:
                wins += 1
            elif math.isfinite(se) and diff.mean() < -GAP_SIGMAS * se:
                losses_to.append(f"{rival} at C={C:.0e} by {-diff.mean():.4f} ± {se:.4f}")
    contests = 2 * len(race.runs)
    claim.measure("paired wins of balanced (budgets × rivals)", wins, expected=contests, tolerance=0,
                  note=f"of {contests}; measured optima N_opt: "
                       + ", ".join(f"C={c:.0e}: {n:.3g}" for c, n in sorted(race.optima.items())))
    claim.figure(_figure(race, law, device, tier), "race")
    if losses_to:
        claim.verdict("not_reproduced", "a rival beats the measured optimum: " + "; ".join(losses_to))
    elif wins < contests:
        claim.verdict("inconclusive", f"balanced wins {wins} of {contests} budget × rival contests by "
                      f"{GAP_SIGMAS:g} SE over {tier.seeds} seeds; no rival wins")
    assert len(race.runs) == len(grid_runs.grid.budgets), "a budget has no race"
    assert not losses_to and wins == contests, f"balanced wins {wins} of {contests}; {losses_to}"


def _figure(race, law, device, tier):
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(race.runs)))
    marks = dict(zip(STRATEGIES, ("v", "o", "^")))
    for (C, by), col in zip(sorted(race.runs.items()), colors):
        for s in STRATEGIES:
            n = [t.n_total for t in by[s]]
            ax.plot(n, [t.loss for t in by[s]], marks[s], color=col, alpha=0.7,
                    label=f"{s}" if C == min(race.runs) else None)
        if law is not None:
            g = np.geomspace(race.optima[C] / 3, race.optima[C] * 3, 60)
            ax.plot(g, law.predict(g, C / (6 * g)), "-", color=col, lw=1, label=f"grid's law at C = {C:.0e}")
    ax.set_xscale("log")
    ax.set_xlabel("total parameters N (D = C / 6N)")
    ax.set_ylabel("held-out loss (each seed)")
    ax.set_title(f"allocation race at every IsoFLOP budget ({device}, {tier.name})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
