"""Replicated runs: per-size seed statistics, pooled seed noise, and the lack-of-fit F test.

Pure numpy/scipy, like the rest of `scaling.fit`: the claims hand in losses grouped by size
(one value per seed) and get back the numbers their decisions rest on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Sized(Protocol):
    """Anything with a parameter count `n` (a family member, say)."""

    @property
    def n(self) -> int: ...


@dataclass(frozen=True)
class SizeStats:
    """The held-out losses of one size over its seeds."""

    member: Sized
    losses: tuple[float, ...]

    @property
    def n(self) -> int:
        return self.member.n

    @property
    def mean(self) -> float:
        return float(sum(self.losses) / len(self.losses))

    @property
    def std(self) -> float:
        """Sample standard deviation over seeds (NaN with one seed)."""
        k = len(self.losses)
        if k < 2:
            return math.nan
        m = self.mean
        return math.sqrt(sum((x - m) ** 2 for x in self.losses) / (k - 1))


def seed_noise(stats: Sequence[SizeStats], relative: bool = False) -> tuple[float, int]:
    """Pooled seed-to-seed standard deviation of the loss and its degrees of freedom.

    Pooled over the sizes trained with two or more seeds: sqrt(Σ(k_i-1)s_i² / Σ(k_i-1)).
    `relative` pools s_i / mean_i instead (the noise in log L, for log-space residuals).
    """
    num, dof = 0.0, 0
    for s in stats:
        k = len(s.losses)
        if k >= 2:
            sd = s.std / s.mean if relative else s.std
            num += (k - 1) * sd * sd
            dof += k - 1
    return (math.sqrt(num / dof) if dof else math.nan), dof


@dataclass(frozen=True)
class LackOfFit:
    """The lack-of-fit F test of a law against replicated runs (pure error from seeds)."""

    F: float
    p_value: float
    df_lack: int
    df_pure: int


def lack_of_fit(stats: Sequence[SizeStats], predicted: Sequence[float], n_params: int = 3) -> LackOfFit:
    """Lack-of-fit F test in log L (Draper & Smith 1998, §2.1): does the law miss the size means
    by more than the seed-to-seed scatter of the replicated sizes explains?

    F = [Σ_i k_i (mean_i - pred_i)² / (m - P)] / [Σ_ij (y_ij - mean_i)² / Σ_i (k_i - 1)] in log L,
    m sizes (or cells of a grid), k_i seeds at size i, P = `n_params` parameters fitted (3 for
    E + (N_c/N)^α, 5 for L(N, D)); p from F(m - P, Σ(k_i - 1)).
    """
    from scipy.stats import f as f_dist  # deferred: scipy.stats takes ~0.5 s to import

    if len(stats) != len(predicted):
        raise ValueError(f"'predicted' must have one value per size (got {len(predicted)} for {len(stats)})")
    ss_lack = ss_pure = 0.0
    df_pure = 0
    for s, p in zip(stats, predicted):
        y = [math.log(v) for v in s.losses]
        m = sum(y) / len(y)
        ss_lack += len(y) * (m - math.log(p)) ** 2
        ss_pure += sum((v - m) ** 2 for v in y)
        df_pure += len(y) - 1
    df_lack = len(stats) - n_params
    if df_lack < 1 or df_pure < 1 or ss_pure <= 0:
        raise ValueError(f"a lack-of-fit test needs more than {n_params} sizes and replicated seeds "
                         f"(got {len(stats)} sizes, {df_pure} pure-error degrees of freedom)")
    F = (ss_lack / df_lack) / (ss_pure / df_pure)
    return LackOfFit(F=F, p_value=float(f_dist.sf(F, df_lack, df_pure)), df_lack=df_lack, df_pure=df_pure)
