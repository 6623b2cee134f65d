"""The peak learning rate of every trained grid, searched per setup (`scaling.lr_search`).

A setup is what LR* depends on besides N and the run length D: the source, the model family,
the batch and context (a grid's `Training`), the tier's budgets and the device. The grids of a
tier that share a setup share one search, whose anchors span all their planned sizes, each
searched at a stated fraction of the shortest and of the longest run the grids give it (LR*
falls with the run length, and the more so the smaller the model: measured on the synthetic
source at batch 32×32, N = 1.8e3 is best at 0.13 on 1.4e5 tokens and at <= 0.032 on 2e6,
N = 2e4 at 0.019 and 0.016), and its rule LR*(N, D) sets every run's peak rate. The rate is
part of each run's key, so the store reuses the grids' runs as long as the search returns the
same rates; the search runs are ordinary sweep jobs and land in the store too.

Each anchor's first rates are centred on the trainer's default rule (`default_lr`, a generic
rule of N that places the search, not a result: the search extends past it on either side).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from scaling.experiments import (
    EMERGENCE,
    ISOFLOP_GRID,
    KAPLAN_SWEEP,
    Training,
    budget_tier,
    emergence_jobs,
    isoflop_jobs,
    kaplan_jobs,
    train_all,
)
from scaling.family import Member, ModelFamily
from scaling.lr_search import LRRule, LRSearchPlan, pick_anchors, search
from scaling.schedule import default_lr
from scaling.sweep import Job

# Per tier: 3 sizes (smallest, geometric middle, largest), 3 rates a factor 2 apart centred on
# the centre rule (the fewest that bracket an optimum), each extended by up to 3 rates per side
# (a factor 8 beyond the first grid; a 1.8e3-parameter model was measured best 6x above the
# centre rule). Run lengths: half the shortest and half the longest run the grids give the size at
# standard and full (the rule's slope in D carries the rate the last factor 2), a quarter at smoke
# (CI's time).
LR_SEARCH = {
    "smoke": LRSearchPlan(anchors=3, rates=3, factor=2.0, max_extension=3, tokens_frac=0.25),
    "standard": LRSearchPlan(anchors=3, rates=3, factor=2.0, max_extension=3, tokens_frac=0.5),
    "full": LRSearchPlan(anchors=3, rates=3, factor=2.0, max_extension=3, tokens_frac=0.5),
}
# A size whose planned runs span less than this factor in length is searched at one length (their
# median): LR* moves little within it, and a second horizon would double the search's cost.
HORIZON_SPREAD = 2.0
# Search runs are judged by their final held-out loss alone: no loss curve.
SEARCH_CURVE = {"curve_points": 2, "curve_eval_seqs": 0}


def grid_setups(source_spec: str, tier_name: str, device: str) -> list[tuple[str, str, Training]]:
    """(grid, source it trains on, its Training) for each trained grid of the tier: `kaplan-sweep` and
    the IsoFLOP grid on `source_spec`, `emergence` on its task."""
    tier = budget_tier(tier_name, device)
    return [("kaplan-sweep", source_spec, KAPLAN_SWEEP[tier].training),
            ("IsoFLOP grid", source_spec, ISOFLOP_GRID[tier].training),
            ("emergence", EMERGENCE[tier].task, EMERGENCE[tier].training)]


def served(family: ModelFamily, source_spec: str, training: Training, tier_name: str,
           device: str) -> tuple[list[str], list[tuple[Member, int]]]:
    """The grids trained on `source_spec` with `training` at this tier, and their planned runs as
    distinct (member, tokens) pairs (the grids' first plan: extensions and extra seeds follow it)."""
    def probe(n: int, tokens: int) -> float:  # any rule: the planned sizes and budgets do not depend on the rate
        return default_lr(n)

    names, planned = [], []
    for name, src, t in grid_setups(source_spec, tier_name, device):
        if src != source_spec or t != training:
            continue
        names.append(name)
        if name == "kaplan-sweep":
            pairs = kaplan_jobs(family, src, tier_name, 1, device, probe)[1]
        elif name == "IsoFLOP grid":
            pairs = isoflop_jobs(family, src, tier_name, device, probe)[2]
        else:
            pairs = emergence_jobs(family, tier_name, device, probe)[1]
        planned += [(m, j.settings.tokens) for m, j in pairs]
    return names, list(dict.fromkeys(planned))


def horizons(lengths: list[int], frac: float, per_step: int) -> list[int]:
    """The run lengths one anchor size is searched at: `frac` of the shortest and of the longest
    planned run of that size, or of the median where they are within HORIZON_SPREAD; whole steps
    (at least one)."""
    lengths = sorted(lengths)
    picks = ([lengths[0], lengths[-1]] if lengths[-1] >= HORIZON_SPREAD * lengths[0]
             else [float(np.median(lengths))])
    return list(dict.fromkeys(max(1, int(frac * t) // per_step) * per_step for t in picks))


def search_lr(family: ModelFamily, source_spec: str, training: Training, tier_name: str, device: str,
              store_path: Path) -> tuple[LRRule, list[str], int]:
    """The searched rule LR*(N, D) of one setup: (rule, grids it serves, runs trained now).

    Each anchor size is searched at the `horizons` of its planned runs in the grids served, seed 0.
    """
    names, planned = served(family, source_spec, training, tier_name, device)
    if not planned:
        raise ValueError(f"no grid of tier {tier_name!r} trains on {source_spec!r} with {training!r}")
    plan = LR_SEARCH[budget_tier(tier_name, device)]
    members = sorted({m.n: m for m, _ in planned}.values(), key=lambda m: m.n)
    sizes = [members[i] for i in pick_anchors([m.n for m in members], plan.anchors)]
    anchors = [(m, t) for m in sizes
               for t in horizons([t for p, t in planned if p.n == m.n], plan.tokens_frac, training.tokens_per_step)]
    quick = dataclasses.replace(training, **SEARCH_CURVE)
    new = 0

    def evaluate(points: list[tuple[int, float]]) -> list[float]:
        nonlocal new
        pairs = [(anchors[i][0], Job(anchors[i][0].config, source_spec, quick.settings(anchors[i][1], 0, device, lr)))
                 for i, lr in points]
        trained, n = train_all(pairs, store_path, device)
        new += n
        return [t.loss for t in trained]

    rule = search([m.n for m, _ in anchors], [t for _, t in anchors], default_lr, evaluate, plan)
    return rule, names, new
