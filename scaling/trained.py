"""What the trained claims read: one object per session, each grid's results as named arrays.

`Experiments` binds a model family, a data source, a budget tier and a run store; each of
its methods trains (or reads from the store) one of the shared grids of `scaling.experiments`
once per device and returns a frozen dataclass of its results, so a claim names what it
uses (`runs.N`, `runs.loss`) instead of unpacking a tuple.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scaling.experiments import (
    EMERGENCE,
    ISOFLOP_GRID,
    KAPLAN_SWEEP,
    IsoFLOPGrid,
    SizeSweep,
    TaskSweep,
    Trained,
    Training,
    budget_tier,
    by_size,
    emergence_sweep,
    isoflop_grid,
    kaplan_sweep,
)
from scaling.family import ModelFamily
from scaling.fit import FitError
from scaling.fit.replicates import SizeStats
from scaling.lr_search import LRRule
from scaling.optimal import fit_isoflop
from scaling.race import race
from scaling.tuning import grid_setups, search_lr


@dataclass(frozen=True)
class IsoFLOPRuns:
    """The IsoFLOP grid of `compute-optimal`, one entry per run (arrays aligned with `trained`).

    C: the run's FLOP budget (6·N_total·D, Chinchilla's convention); N: total parameters;
    N_non_embedding: Kaplan's N; D: tokens trained; loss: held-out loss; flops_6nd: measured 6·N·D.
    """

    grid: IsoFLOPGrid
    trained: tuple[Trained, ...]
    new: int  # runs trained in this session (the rest came from the store)
    C: np.ndarray
    N: np.ndarray
    N_non_embedding: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    flops_6nd: np.ndarray
    lr: LRRule  # the searched peak-rate rule every run of the grid trained at

    @classmethod
    def of(cls, grid: IsoFLOPGrid, runs: list[tuple[float, Trained]], new: int, lr: LRRule) -> IsoFLOPRuns:
        trained = tuple(t for _, t in runs)
        return cls(
            grid=grid, trained=trained, new=new, lr=lr,
            C=np.array([c for c, _ in runs], dtype=float),
            N=np.array([t.n_total for t in trained], dtype=float),
            N_non_embedding=np.array([t.n for t in trained], dtype=float),
            D=np.array([t.run.tokens for t in trained], dtype=float),
            loss=np.array([t.loss for t in trained], dtype=float),
            flops_6nd=np.array([t.run.flops["6nd"] for t in trained], dtype=float),
        )


@dataclass(frozen=True)
class SizeSweepRuns:
    """A sweep over sizes and token budgets (`kaplan-sweep`, `extrapolation`).

    stats: the largest budget's runs by size, smallest N first, all seeds of each.
    cells: every (size, budget) cell's runs, by budget then N; `cell_tokens` the budget of each.
    """

    plan: SizeSweep
    source: str
    trained: tuple[Trained, ...]
    new: int
    stats: tuple[SizeStats, ...]
    cells: tuple[SizeStats, ...] = ()
    cell_tokens: tuple[int, ...] = ()
    lr: LRRule | None = None  # the searched peak-rate rule of the sweep

    @classmethod
    def of(cls, plan: SizeSweep, source: str, trained: list[Trained], new: int, lr: LRRule) -> SizeSweepRuns:
        by_budget: dict[int, list[Trained]] = {}
        for t in trained:
            by_budget.setdefault(t.run.settings["tokens"], []).append(t)
        cells, tokens = [], []
        for budget in sorted(by_budget):
            for s in by_size(by_budget[budget]):
                cells.append(s)
                tokens.append(int(np.mean([t.run.tokens for t in by_budget[budget] if t.member == s.member])))
        return cls(plan, source, tuple(trained), new, tuple(by_size(by_budget[plan.tokens])),
                   tuple(cells), tuple(tokens), lr)

    @property
    def N(self) -> np.ndarray:
        return np.array([s.n for s in self.stats], dtype=float)

    @property
    def mean_loss(self) -> np.ndarray:
        return np.array([s.mean for s in self.stats], dtype=float)

    @property
    def cell_N(self) -> np.ndarray:
        """Non-embedding N of each cell."""
        return np.array([s.n for s in self.cells], dtype=float)

    @property
    def cell_D(self) -> np.ndarray:
        """Tokens trained in each cell."""
        return np.array(self.cell_tokens, dtype=float)

    @property
    def cell_loss(self) -> np.ndarray:
        """Mean held-out loss of each cell over its seeds."""
        return np.array([s.mean for s in self.cells], dtype=float)


@dataclass(frozen=True)
class RaceRuns:
    """The allocation race: at each budget C, the grid's measured optimum N_opt (total parameters)
    and each strategy's runs (one per seed)."""

    optima: dict[float, float]
    runs: dict[float, dict[str, list[Trained]]]
    new: int


@dataclass(frozen=True)
class TaskRuns:
    """The emergence sweep on a task: one run per size, smallest first."""

    plan: TaskSweep
    trained: tuple[Trained, ...]
    new: int
    lr: LRRule  # the searched peak-rate rule of the task's setup


@dataclass(frozen=True)
class LRSearch:
    """One setup's learning-rate search: its source and `Training`, the fitted rule (with every
    anchor's rates and losses), the grids that train at it, and the search runs trained now."""

    source: str
    training: Training
    rule: LRRule
    grids: tuple[str, ...]
    new: int


@dataclass
class Experiments:
    """The trained grids of one session: a family, a source, a tier and a run store.

    Each grid is trained (or read from the store) once per device and source, then cached, at
    the peak rates of its setup's learning-rate search (`lr`, also run once and cached).
    """

    family: ModelFamily
    source: str
    tier_name: str
    seeds: int
    store_path: Path
    _cache: dict = field(default_factory=dict, repr=False)

    def _once(self, key: tuple, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def lr(self, device: str, source: str, training: Training) -> LRSearch:
        """The learning-rate search of one setup (source, `training`, this family and tier)."""
        def make() -> LRSearch:
            rule, grids, new = search_lr(self.family, source, training, self.tier_name, device, self.store_path)
            return LRSearch(source, training, rule, tuple(grids), new)

        return self._once(("lr", device, source, training), make)

    def lr_searches(self, device: str) -> list[LRSearch]:
        """The searches of this session's source and of the emergence task, one per distinct setup."""
        setups = dict.fromkeys((src, t) for _, src, t in grid_setups(self.source, self.tier_name, device))
        return [self.lr(device, src, t) for src, t in setups]

    def isoflop(self, device: str) -> IsoFLOPRuns:
        def make() -> IsoFLOPRuns:
            rule = self.lr(device, self.source, ISOFLOP_GRID[budget_tier(self.tier_name, device)].training).rule
            return IsoFLOPRuns.of(*isoflop_grid(self.family, self.source, self.tier_name, device,
                                                self.store_path, rule), lr=rule)

        return self._once(("isoflop", device), make)

    def size_sweep(self, device: str, source: str | None = None) -> SizeSweepRuns:
        src = self.source if source is None else source

        def make() -> SizeSweepRuns:
            rule = self.lr(device, src, KAPLAN_SWEEP[budget_tier(self.tier_name, device)].training).rule
            plan, trained, new = kaplan_sweep(self.family, src, self.tier_name, self.seeds, device,
                                              self.store_path, rule)
            return SizeSweepRuns.of(plan, src, trained, new, rule)

        return self._once(("size-sweep", device, src), make)

    def race(self, device: str) -> RaceRuns:
        def make() -> RaceRuns:
            grid = self.isoflop(device)
            optima = isoflop_optima(grid)
            runs, new = race(self.family, self.source, self.tier_name, self.seeds, device, self.store_path, optima,
                             grid.lr)
            return RaceRuns(optima, runs, new)

        return self._once(("race", device), make)

    def emergence(self, device: str) -> TaskRuns:
        def make() -> TaskRuns:
            plan = EMERGENCE[budget_tier(self.tier_name, device)]
            rule = self.lr(device, plan.task, plan.training).rule
            plan, trained, new = emergence_sweep(self.family, self.tier_name, device, self.store_path, rule)
            return TaskRuns(plan, tuple(trained), new, rule)

        return self._once(("emergence", device), make)


def isoflop_optima(runs: IsoFLOPRuns) -> dict[float, float]:
    """N_opt (total parameters) per budget: the IsoFLOP parabola's vertex where bracketed, else
    the size with the lowest loss at that budget (the grid's best guess)."""
    out = {}
    for C in runs.grid.budgets:
        at = runs.C == C
        out[C] = float(runs.N[at][np.argmin(runs.loss[at])])
    try:
        for m in fit_isoflop(runs.C, runs.N, runs.loss, D=runs.D, on_edge="drop").minima:
            out[min(out, key=lambda c: abs(c - m.C))] = m.N_opt
    except FitError:
        pass  # fewer than two bracketed budgets: every budget keeps its lowest-loss size
    return out
