"""The allocation race: at every IsoFLOP budget, the measured optimum against 4x fewer and 4x
more tokens per parameter, each strategy trained with the same seeds (paired).

The strategies are placed from the optimum the IsoFLOP grid measured, not from a published
ratio, and a moderate distance from it, so the race can come out either way: at equal
compute C = 6·N·D, D/N = C/(6N²), so a factor TOKENS_FACTOR in tokens per parameter is a
factor sqrt(TOKENS_FACTOR) in N. Seed s fixes the initialization and the order of the
training data in every strategy, so the differences between strategies are paired.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from scaling.experiments import ISOFLOP_GRID, LRRule, Trained, budget_tier, isoflop_job, train_all, vocab_size_of
from scaling.family import Member, ModelFamily
from scaling.sweep import Job

STRATEGIES = ("small-overtrained", "balanced", "big-undertrained")
# About 4x more / 4x fewer tokens per parameter than the measured optimum: far enough that a
# parabola of the grid's curvature separates them from the optimum by a few seed SEs, near
# enough that a misplaced optimum or a flat profile can reverse the ranking.
TOKENS_FACTOR = 4.0
SIZE_FACTORS = dict(zip(STRATEGIES, (TOKENS_FACTOR ** -0.5, 1.0, TOKENS_FACTOR ** 0.5)))


def race_members(offered: list[Member], n_opt: float) -> dict[str, Member]:
    """Each strategy's member: the offered size nearest (in log total N) to n_opt·factor, all distinct."""
    chosen: dict[str, Member] = {}
    for name in ("balanced", "small-overtrained", "big-undertrained"):
        target = math.log(n_opt * SIZE_FACTORS[name])
        free = [m for m in offered if m not in chosen.values()]
        chosen[name] = min(free, key=lambda m: abs(math.log(m.n_total) - target))
    return {name: chosen[name] for name in STRATEGIES}


def race_jobs(family: ModelFamily, source_spec: str, tier_name: str, seeds: int, device: str,
              optima: Mapping[float, float], lr: LRRule) -> list[tuple[float, str, Member, Job]]:
    """(budget C, strategy, member, job) for every IsoFLOP budget with a measured optimum N_opt (total),
    at the IsoFLOP grid's peak rates lr(N, D)."""
    grid = ISOFLOP_GRID[budget_tier(tier_name, device)]
    offered = family.members(family.dials, n_ctx=grid.training.n_ctx, vocab_size=vocab_size_of(source_spec))
    out = []
    for C in grid.budgets:
        if C not in optima:
            continue
        fits = [m for m in offered if C // (6 * m.n_total) >= grid.training.tokens_per_step]
        for name, m in race_members(fits, optima[C]).items():
            out += [(C, name, m, isoflop_job(m, grid, C, source_spec, s, device, lr)) for s in range(seeds)]
    return out


def race(family: ModelFamily, source_spec: str, tier_name: str, seeds: int, device: str, store_path: Path,
         optima: Mapping[float, float], lr: LRRule) -> tuple[dict[float, dict[str, list[Trained]]], int]:
    """The trained race: ({C: {strategy: runs, one per seed}}, trained now)."""
    plan = race_jobs(family, source_spec, tier_name, seeds, device, optima, lr)
    trained, new = train_all([(m, j) for _, _, m, j in plan], store_path, device)
    out: dict[float, dict[str, list[Trained]]] = {}
    for (C, name, _, _), t in zip(plan, trained):
        out.setdefault(C, {}).setdefault(name, []).append(t)
    return out, new
