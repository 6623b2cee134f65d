"""Learning-rate rules and schedule, and the log-spaced steps of a loss curve.

`default_lr(N)`: the peak LR for a model size when none is given (Kaplan's eq. D.1 for big
models, a rule fitted at this project's scale for tiny ones); `lr_at`: warmup + cosine.
"""

from __future__ import annotations

import math

import numpy as np


def kaplan_lr(n_non_embedding: int) -> float:
    """Kaplan et al. 2020, App. D.6, eq. D.1: LR(N) ≈ 0.003239 − 0.0001395·log(N).

    N is the non-embedding parameter count. Floored at 1e-4: the linear-in-log form
    crosses zero near N ≈ 1.2e10.
    """
    return max(1e-4, 0.003239 - 0.0001395 * math.log(max(n_non_embedding, 1)))


# Small-model LR rule, lr = 8e-3·(N / 3e4)^-0.5, fitted here to LR sweeps (factors of 2) of
# 2-layer models at batch 32×64, 0.4M-1.6M tokens. Best LR found, by non-embedding N:
# synthetic 6.6k: >=1.6e-2, 57k: ~1.5e-2, 397k: ~6e-3; stdlib bytes 14k: 7e-3..1.3e-2 (flat),
# 25k: ~1e-2, 224k: <=2.2e-3. The optimum moves with the data by ~2-3×; the rule sits
# between the sources, erring low where a too-high LR diverges. Kaplan's eq. D.1 (fitted on
# 250k-step runs at 0.5M-token batches) is 2-8× below all of these optima.
SMALL_LR_REF, SMALL_LR_N_REF, SMALL_LR_EXPONENT = 8e-3, 3e4, 0.5
MAX_DEFAULT_LR = 2e-2  # a 25k-parameter run at 3e-2 was worse than at 1e-2 in the same sweeps


def default_lr(n_non_embedding: int) -> float:
    """Peak LR for a model with N non-embedding parameters when TrainSettings.lr is None.

    The larger of Kaplan's eq. D.1 (`kaplan_lr`) and the small-model rule above; they
    cross near N ≈ 1.2e6, so big models get Kaplan's LR and tiny ones the rule fitted at
    our scale; capped at 2e-2. The claims' grids do not train at it: it only centres the
    learning-rate search (`scaling.tuning`) that sets their rates.
    """
    n = max(n_non_embedding, 1)
    small = SMALL_LR_REF * (n / SMALL_LR_N_REF) ** -SMALL_LR_EXPONENT
    return min(MAX_DEFAULT_LR, max(kaplan_lr(n), small))


def lr_at(step: int, steps: int, warmup_steps: int, peak: float, min_lr_frac: float) -> float:
    """Linear warmup to `peak` over `warmup_steps`, then cosine down to min_lr_frac·peak.

    `step` counts from 1 to `steps` (GPT-3 App. B; the cosine spans the run's own length,
    which Hoffmann et al. 2022 §3.1 found matters).
    """
    if step <= warmup_steps:
        return peak * step / warmup_steps
    span = steps - warmup_steps
    progress = (step - warmup_steps) / span if span > 0 else 1.0
    return peak * (min_lr_frac + (1 - min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def curve_steps(steps: int, points: int) -> list[int]:
    """About `points` log-spaced steps in 1..steps, always including the last."""
    grid = np.unique(np.round(np.geomspace(1, steps, num=points)).astype(int))
    return [int(s) for s in grid]
