"""The training grids of the empirical claims, per budget tier, shared through the run store.

Each claim asks for its grid here instead of writing its own, so that grids that should be
the same are the same jobs, and the store (keyed by everything that determines a run)
trains each once: `extrapolation` reads the `kaplan-sweep` runs, `allocation-race` reads
the IsoFLOP grid of `compute-optimal` at its middle budget (seed 0) and only trains the
extra seeds. A second session with a warm store trains nothing.

Budgets are tables keyed by tier name. On CUDA the `standard` tier runs the `full`
budgets (a GPU affords them in the time a CPU spends on `standard`); `smoke` stays smoke
everywhere, because CI asks for it by name. Sizes are asked of the model family by their
non-embedding (Kaplan) or total (Chinchilla) parameter count, never by width, so a user's
`model_family` override runs the same grids on their own architecture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scaling import data
from scaling.family import Member, ModelFamily
from scaling.fit.replicates import SizeStats
from scaling.run import Run
from scaling.scheduling import default_workers
from scaling.sweep import Job, sweep
from scaling.train import TrainSettings


def budget_tier(tier_name: str, device: str) -> str:
    """The budget table row to use: `standard` on CUDA means `full`."""
    if tier_name == "standard" and device.startswith("cuda"):
        return "full"
    return tier_name


@dataclass(frozen=True)
class Trained:
    """A family member trained once: the member, the run, and the job that made it."""

    member: Member
    run: Run
    seed: int

    @property
    def loss(self) -> float:
        return self.run.eval_loss

    @property
    def n(self) -> int:
        """Non-embedding parameters (Kaplan's N)."""
        return self.member.n

    @property
    def n_total(self) -> int:
        """All parameters (Chinchilla's N)."""
        return self.run.params["total"]


@dataclass(frozen=True)
class Training:
    """Settings shared by a grid: sequences per step, context, eval set, curve.

    The peak learning rate is not here: each grid is given a rule LR(N, D) (non-embedding N, run
    length D), the one searched for its setup by `scaling.tuning`.
    """

    batch_size: int
    n_ctx: int
    eval_seqs: int = 256
    curve_points: int = 12
    curve_eval_seqs: int = 32

    def settings(self, tokens: int, seed: int, device: str, lr: float) -> TrainSettings:
        return TrainSettings(tokens=int(tokens), batch_size=self.batch_size, lr=lr, seed=seed,
                             device=device, eval_seqs=self.eval_seqs, curve_points=self.curve_points,
                             curve_eval_seqs=self.curve_eval_seqs)

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.n_ctx


def train_all(pairs: Sequence[tuple[Member, Job]], store_path: Path, device: str) -> tuple[list[Trained], int]:
    """Train (or read from the store) every job; (results in order, how many were trained now).

    Workers, threads and order are the sweep's scheduling policy (`scaling.scheduling`) for
    `device`.
    """
    result = sweep([j for _, j in pairs], store_path, workers=default_workers(device))
    out = [Trained(m, r, j.settings.seed) for (m, j), r in zip(pairs, result.runs)]
    return out, len(set(result.keys) - result.reused)


LRRule = Callable[[int, int], float]  # (non-embedding N, tokens) -> peak learning rate (a searched `LRRule`)


def vocab_size_of(source_spec: str) -> int:
    """The vocabulary size of a data source spec (sources are numpy-only and cheap to build)."""
    return data.make_source(source_spec).vocab_size


# --- kaplan-sweep (and extrapolation): loss vs N and D, on a grid of sizes x token budgets ------

@dataclass(frozen=True)
class SizeSweep:
    """Sizes log-spaced in non-embedding N, each trained on every token budget of `budgets`.

    Kaplan's L(N) is the loss at convergence (Kaplan et al. 2020, §3.1: early-stopped on
    22B tokens). Tiny models trained here still improve by a few hundredths of a nat per
    doubling of D at every affordable budget (measured below), so no single budget makes
    every size converged; instead each size is trained at several budgets and the claims
    take L(N) = L(N, D -> ∞) from the law L(N, D) fitted over the grid (Kaplan §4 eq. 1.5,
    Hoffmann et al. 2022 eq. 2). `tokens` is the largest budget: every size is trained there
    with `seeds` seeds (the seed noise behind the lack-of-fit test, 2 degrees of freedom per
    size at 3 seeds), every other cell with seed 0 only; the `held_out` largest sizes' seeds are
    the extrapolation's targets.
    """

    n_min: float
    n_max: float
    sizes: int
    tokens: int
    training: Training
    held_out: int = 2
    shorter: tuple[int, ...] = ()  # the smaller token budgets every size is also trained on

    @property
    def budgets(self) -> tuple[int, ...]:
        """Every token budget of the grid, smallest first (the last is `tokens`)."""
        return tuple(sorted(set(self.shorter))) + (self.tokens,)


# Measured (synthetic source, 2-layer width family, the earlier fixed LR rule, batch 32x32, one seed): from 1M to 4M
# tokens the loss fell by 0.06-0.075 nats at every N from 1.8e3 to 1e5; from 4M to 8M by 0.003 at
# N = 1.8e3 and 0.010 at N = 1.4e4. Converging every size would take 8M+ tokens each, so the
# budgets double from 0.5M to 4M (8x in D: the data term's curvature) and n_max stops at 5.7e4
# (the 1e5 size cost as much as the four smallest together). Seeds at every size of the largest
# budget (the lack-of-fit test's noise, which falls with N) cost 10 more runs at standard (about
# 90 s of a cold run: 769 -> 860 s) and about 17% more of the full tier's sweep compute (10 sizes
# at 200M tokens).
KAPLAN_SWEEP = {
    "smoke": SizeSweep(1.5e3, 6e4, 6, tokens=600_000, training=Training(batch_size=32, n_ctx=32),
                       shorter=(150_000, 300_000)),
    "standard": SizeSweep(1.5e3, 5.7e4, 7, tokens=4_000_000, training=Training(batch_size=32, n_ctx=32),
                          shorter=(500_000, 1_000_000, 2_000_000)),
    "full": SizeSweep(1e4, 1e7, 10, tokens=200_000_000,
                      training=Training(batch_size=64, n_ctx=128),
                      shorter=(25_000_000, 50_000_000, 100_000_000)),
}


def kaplan_jobs(family: ModelFamily, source_spec: str, tier_name: str, seeds: int,
                device: str, lr: LRRule) -> tuple[SizeSweep, list[tuple[Member, Job]]]:
    """The plan of `kaplan-sweep` and its jobs: every size at every budget (seed 0), and at the
    largest budget with `seeds` seeds; at peak rates lr(N, D)."""
    plan = KAPLAN_SWEEP[budget_tier(tier_name, device)]
    members = family.span(plan.n_min, plan.n_max, plan.sizes, n_ctx=plan.training.n_ctx,
                          vocab_size=vocab_size_of(source_spec))
    pairs = []
    for m in members:
        for tokens in plan.budgets:
            for s in range(seeds if tokens == plan.tokens else 1):
                settings = plan.training.settings(tokens, s, device, lr(m.n, tokens))
                pairs.append((m, Job(m.config, source_spec, settings)))
    return plan, pairs


def kaplan_sweep(family: ModelFamily, source_spec: str, tier_name: str, seeds: int, device: str,
                 store_path: Path, lr: LRRule) -> tuple[SizeSweep, list[Trained], int]:
    """The sweep of `kaplan-sweep`: (its plan, the trained runs, how many trained now)."""
    plan, pairs = kaplan_jobs(family, source_spec, tier_name, seeds, device, lr)
    trained, new = train_all(pairs, store_path, device)
    return plan, trained, new


# --- compute-optimal (and allocation-race): IsoFLOP profiles -----------------------------------

@dataclass(frozen=True)
class IsoFLOPGrid:
    """FLOP budgets C (6·N_total·D, Chinchilla's convention) × sizes around a design centre.

    At each budget the sizes are log-spaced in total N over [N_c/spread, N_c·spread] with
    N_c = sqrt(C / (6·design_tokens_per_param)): the design guess only places the grid;
    the measured optimum must fall inside it (else `fit_isoflop` refuses the budget).
    """

    budgets: tuple[float, ...]
    sizes: int
    spread: float
    design_tokens_per_param: float
    training: Training
    # An unbracketed minimum gets sizes added on its side, one per round, up to this many per
    # side and budget (each continues the grid's log spacing): the grid finds its own optimum.
    max_extension: int = 3

    def centre(self, C: float) -> float:
        return math.sqrt(C / (6.0 * self.design_tokens_per_param))


ISOFLOP_GRID = {
    "smoke": IsoFLOPGrid((1e10, 3e10, 1e11), 5, spread=4.0, design_tokens_per_param=20.0,
                         training=Training(batch_size=32, n_ctx=32)),
    "standard": IsoFLOPGrid((1e10, 3e10, 1e11, 3e11), 7, spread=5.0, design_tokens_per_param=20.0,
                            training=Training(batch_size=32, n_ctx=32)),
    "full": IsoFLOPGrid((1e14, 3e14, 1e15, 3e15, 1e16), 9, spread=8.0, design_tokens_per_param=20.0,
                        training=Training(batch_size=64, n_ctx=128)),
}


def isoflop_members(family: ModelFamily, grid: IsoFLOPGrid, C: float, vocab_size: int) -> list[Member]:
    """The grid's sizes at budget C, chosen by total parameters."""
    return family.span(grid.centre(C) / grid.spread, grid.centre(C) * grid.spread, grid.sizes,
                       n_ctx=grid.training.n_ctx, vocab_size=vocab_size, by="total")


def isoflop_job(member: Member, grid: IsoFLOPGrid, C: float, source_spec: str, seed: int,
                device: str, lr: LRRule) -> Job:
    """The run of `member` at budget C: D = C / (6·N_total), rounded down to whole steps."""
    tokens = int(C // (6 * member.n_total))
    return Job(member.config, source_spec, grid.training.settings(tokens, seed, device, lr(member.n, tokens)))


def isoflop_jobs(family: ModelFamily, source_spec: str, tier_name: str, device: str,
                 lr: LRRule) -> tuple[IsoFLOPGrid, list[float], list[tuple[Member, Job]]]:
    """The IsoFLOP grid of `compute-optimal`: (plan, budget of each job, jobs), seed 0."""
    grid = ISOFLOP_GRID[budget_tier(tier_name, device)]
    vocab = vocab_size_of(source_spec)
    pairs, budgets = [], []
    for C in grid.budgets:
        for m in isoflop_members(family, grid, C, vocab):
            pairs.append((m, isoflop_job(m, grid, C, source_spec, 0, device, lr)))
            budgets.append(C)
    return grid, budgets, pairs


def isoflop_grid(family: ModelFamily, source_spec: str, tier_name: str, device: str,
                 store_path: Path, lr: LRRule) -> tuple[IsoFLOPGrid, list[tuple[float, Trained]], int]:
    """The IsoFLOP grid of `compute-optimal`: (plan, [(budget C, trained run)], trained now).

    Where a budget's lowest loss sits at its smallest or largest size, the next size beyond
    it (continuing the log spacing) is trained and the budget looked at again, up to
    `grid.max_extension` sizes per side: the grid extends until each minimum is bracketed.
    """
    grid, budgets, pairs = isoflop_jobs(family, source_spec, tier_name, device, lr)
    trained, new = train_all(pairs, store_path, device)
    runs = list(zip(budgets, trained))
    vocab = vocab_size_of(source_spec)
    offered = family.members(family.dials, n_ctx=grid.training.n_ctx, vocab_size=vocab)
    step = grid.spread ** (2.0 / (grid.sizes - 1))  # the grid's ratio between adjacent sizes
    added = {(C, side): 0 for C in grid.budgets for side in (-1, 1)}
    for _ in range(grid.max_extension):
        extra = []
        for C in grid.budgets:
            at = sorted((t for c, t in runs if c == C), key=lambda t: t.n_total)
            best = min(range(len(at)), key=lambda i: at[i].loss)
            side = -1 if best == 0 else 1 if best == len(at) - 1 else 0
            if side == 0 or added[(C, side)] >= grid.max_extension:
                continue
            edge = at[0] if side < 0 else at[-1]
            m = _next_size(offered, edge.n_total, step, side, C // (6 * grid.training.tokens_per_step))
            if m is not None:
                added[(C, side)] += 1
                extra.append((C, (m, isoflop_job(m, grid, C, source_spec, 0, device, lr))))
        if not extra:
            break
        more, n_new = train_all([p for _, p in extra], store_path, device)
        runs += [(C, t) for (C, _), t in zip(extra, more)]
        new += n_new
    return grid, runs, new


def _next_size(offered: Sequence[Member], n_total: int, step: float, side: int, n_cap: float) -> Member | None:
    """The offered member nearest (in log N) to n_total·step^side beyond n_total, at most n_cap
    total parameters (the largest that still trains one full step at the budget)."""
    beyond = [m for m in offered if (m.n_total - n_total) * side > 0 and m.n_total <= n_cap]
    if not beyond:
        return None
    target = math.log(n_total) + side * math.log(step)
    return min(beyond, key=lambda m: abs(math.log(m.n_total) - target))


# --- emergence ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskSweep:
    """Sizes log-spaced in non-embedding N on the addition task (`task`, a source spec), one budget,
    every size trained with `seeds` seeds (a threshold must not rest on one run per size)."""

    task: str
    n_min: float
    n_max: float
    sizes: int
    tokens: int
    training: Training
    seeds: int = 3


def _one_problem_ctx(task: str) -> int:
    """n_ctx of one problem per row (problem_len - 1: inputs are the problem minus its last token)."""
    return data.make_source(task).problem_len - 1


# Measured (2-layer default family, 1 thread): at n_ctx 32 or 64 (several problems per row, at
# shifting offsets) every size of 1e3..1e5 parameters stays on the "marginal digits" plateau
# (answer NLL 1.73) for 1-3M tokens; at one problem per row and batch 64 the held-out loss falls
# down a staircase (1.54, 1.35, 1.16, 0.96 nats: one more digit right per step), each step at a
# time that varies by seed: at 2M tokens most runs of N = 6.6e3..1e5 were still mid-staircase,
# so whether a size "had" the skill was a per-seed lottery (1 or 2 seeds of 3). In a 4M-token
# pilot (at the rates searched for 2M) every seed of N = 2e4 and 1e5 finished it (exact match
# >= 0.99) and no seed of N = 3.8e3 did (<= 0.1): the standard budget is 4M, over 7 sizes (0.3
# decades apart) to pay for it. The learning rate is searched like every grid's (at 4M, with the
# searched rates, 5 of the 7 sizes still split their seeds). Two later pilots (3 seeds each, N = 3.8e3,
# 1.45e4, 4.8e4) found neither a longer run nor a higher rate ends that lottery: at 8M tokens and the
# same rates 0, 2 and 1 of 3 seeds finished; at 4M and 2x / 4x the searched rates 1/3 and 0/3, 1/3 and
# 2/3, 3/3 and 2/3. Each answer digit is a sum mod 10 of two operand digits, neither of which alone
# predicts it: a parity-like target, whose loss plateaus SGD leaves at random times (Barak et al. 2022,
# arXiv:2207.08799); every run's curve sits at 1.54 nats (3 digits unknown) until 0.8-1.8M tokens.
ADDITION_CTX = _one_problem_ctx("arithmetic")
EMERGENCE = {
    "smoke": TaskSweep("arithmetic", 1.5e3, 6e4, 6, tokens=500_000,
                       training=Training(batch_size=64, n_ctx=ADDITION_CTX)),
    "standard": TaskSweep("arithmetic", 1.5e3, 1e5, 7, tokens=4_000_000,
                          training=Training(batch_size=64, n_ctx=ADDITION_CTX)),
    "full": TaskSweep("arithmetic", 1e4, 1e7, 12, tokens=100_000_000,
                      training=Training(batch_size=64, n_ctx=ADDITION_CTX)),
}


def emergence_jobs(family: ModelFamily, tier_name: str, device: str,
                   lr: LRRule) -> tuple[TaskSweep, list[tuple[Member, Job]]]:
    """The plan of `emergence` and its jobs, `plan.seeds` per size."""
    plan = EMERGENCE[budget_tier(tier_name, device)]
    members = family.span(plan.n_min, plan.n_max, plan.sizes, n_ctx=plan.training.n_ctx,
                          vocab_size=vocab_size_of(plan.task))
    rate = {m: lr(m.n, plan.tokens) for m in members}
    return plan, [(m, Job(m.config, plan.task, plan.training.settings(plan.tokens, s, device, rate[m])))
                  for m in members for s in range(plan.seeds)]


def emergence_sweep(family: ModelFamily, tier_name: str, device: str, store_path: Path,
                    lr: LRRule) -> tuple[TaskSweep, list[Trained], int]:
    """The addition-task sweep of `emergence`: (plan, trained runs by size then seed, trained now)."""
    plan, pairs = emergence_jobs(family, tier_name, device, lr)
    trained, new = train_all(pairs, store_path, device)
    return plan, trained, new


# --- summaries shared by the claims ------------------------------------------------------------

def by_size(trained: Sequence[Trained]) -> list[SizeStats]:
    """Runs grouped by family member (all seeds), smallest N first."""
    groups: dict[Member, list[float]] = {}
    for t in trained:
        groups.setdefault(t.member, []).append(t.loss)
    return sorted((SizeStats(m, tuple(v)) for m, v in groups.items()), key=lambda s: s.n)
