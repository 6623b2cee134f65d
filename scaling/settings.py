"""What a run is asked to do besides its model: `TrainSettings`, and `validate` (torch-free).

`scaling.train` re-exports both. They live apart from the trainer so that a sweep can
check and key its whole grid (`scaling.sweep`) in a process that never imports torch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from scaling.config import GPTConfig
from scaling.params import count_params
from scaling.schedule import default_lr


@dataclass(frozen=True)
class TrainSettings:
    """Everything about a run besides the model and the data.

    tokens: training token budget (rounded down to whole steps of batch_size·n_ctx).
    lr: peak learning rate; None uses `default_lr` for the model's non-embedding N.
    warmup_tokens_frac: fraction of the budget spent warming up linearly from 0.
    min_lr_frac: the cosine decays to this fraction of the peak at the last step.
    eval_seqs: sequences in the fixed held-out set behind `Run.eval_loss`.
    curve_points: log-spaced steps at which the loss curve is recorded.
    curve_eval_seqs: eval sequences behind the curve's eval_loss (a prefix of the eval
    set, kept small because it is evaluated at every curve point); 0 to skip.
    grad_clip: global gradient-norm clip (0 disables).
    """

    tokens: int
    batch_size: int = 32
    lr: float | None = None
    warmup_tokens_frac: float = 0.05
    min_lr_frac: float = 0.1
    weight_decay: float = 0.1
    seed: int = 0
    device: str = "cpu"
    eval_seqs: int = 128
    curve_points: int = 16
    curve_eval_seqs: int = 32
    grad_clip: float = 1.0

    def __post_init__(self):
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                raise ValueError(f"{name!r} must be {what} (got {name}={getattr(self, name)!r})")

        def is_int(v) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

        def is_num(v) -> bool:
            return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(v)

        # Step and token counts are int64 in torch and numpy: a larger budget would overflow there.
        need(is_int(self.tokens) and 0 < self.tokens < 2**63, "tokens", "a positive integer below 2**63")
        need(is_int(self.batch_size) and self.batch_size > 0, "batch_size", "a positive integer")
        need(self.lr is None or (is_num(self.lr) and self.lr > 0), "lr", "None or a positive number")
        need(is_num(self.warmup_tokens_frac) and 0 <= self.warmup_tokens_frac < 1,
             "warmup_tokens_frac", "in [0, 1)")
        need(is_num(self.min_lr_frac) and 0 <= self.min_lr_frac <= 1, "min_lr_frac", "in [0, 1]")
        need(is_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "a number >= 0")
        need(is_int(self.seed) and self.seed >= 0, "seed", "an integer >= 0")
        need(isinstance(self.device, str) and self.device.split(":")[0] in ("cpu", "cuda"),
             "device", "'cpu', 'cuda' or 'cuda:N'")
        need(is_int(self.eval_seqs) and self.eval_seqs > 0, "eval_seqs", "a positive integer")
        need(is_int(self.curve_points) and self.curve_points >= 2, "curve_points", "an integer >= 2")
        need(is_int(self.curve_eval_seqs) and 0 <= self.curve_eval_seqs <= self.eval_seqs,
             "curve_eval_seqs", f"an integer in [0, eval_seqs={self.eval_seqs}]")
        need(is_num(self.grad_clip) and self.grad_clip >= 0, "grad_clip", "a number >= 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Plan:
    """What `validate` derives from a config, a source and settings before any training."""

    steps: int
    tokens: int
    lr: float
    warmup_steps: int


def validate(config: GPTConfig, source, settings: TrainSettings) -> Plan:
    """Check that the three fit together; ValueError naming the value otherwise."""
    if not isinstance(config, GPTConfig):
        raise ValueError(f"'config' must be a GPTConfig (got {type(config).__name__})")
    if not isinstance(settings, TrainSettings):
        raise ValueError(f"'settings' must be a TrainSettings (got {type(settings).__name__})")
    if config.vocab_size < source.vocab_size:
        raise ValueError(
            f"'vocab_size' must cover the source's vocabulary (got vocab_size={config.vocab_size}, "
            f"source {source.name!r} has {source.vocab_size} tokens)"
        )
    per_step = settings.batch_size * config.n_ctx
    steps = settings.tokens // per_step
    if steps < 1:
        raise ValueError(
            f"'tokens' must be at least one batch of batch_size·n_ctx = "
            f"{settings.batch_size}·{config.n_ctx} = {per_step} tokens (got tokens={settings.tokens})"
        )
    if settings.device.startswith("cuda") and not _cuda_available():
        raise ValueError(f"'device' {settings.device!r} is not available (torch sees no CUDA device)")
    n = count_params(config).non_embedding
    lr = settings.lr if settings.lr is not None else default_lr(n)
    warmup = math.ceil(settings.warmup_tokens_frac * steps)
    return Plan(steps=steps, tokens=steps * per_step, lr=lr, warmup_steps=warmup)


def _cuda_available() -> bool:
    import torch  # deferred: only a CUDA run needs torch to plan (a CPU sweep plans without it)

    return torch.cuda.is_available()
