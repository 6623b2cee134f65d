"""`Run`: the result of one training run, as the run store keeps it (torch-free).

The trainer (`scaling.train`) makes runs; the store (`scaling.store`) and the claims read
them. Keeping the record apart from the trainer lets the store and the reports load without
importing torch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from scaling.config import GPTConfig


# Bump when anything that changes a run's numbers changes (loop, schedule, default LR rule,
# optimizer, eval set): it is part of every run key, so older engines' runs are not reused.
# 2: parameters and gradients in one flat buffer per weight-decay group; gradient clipping's
#    global norm is one norm over the gradient buffer (the same formula, another summation order);
#    GELU's tanh form on CPU through x·σ(2u) (`scaling.model.GeluTanh`: the same function, other
#    rounding).
ENGINE_VERSION = "2"


@dataclass(frozen=True)
class Run:
    """The result of one training run; JSON round-trip with `to_dict`/`from_dict`.

    eval_loss: mean cross-entropy (nats/token) on the fixed held-out set; NaN if diverged.
    curve: [{step, tokens, lr, train_loss, eval_loss?}] at log-spaced steps; train_loss is
    the mean over the steps since the previous point (None once the loss is not finite).
    params: {total, embedding, non_embedding} from `scaling.params.count_params`.
    flops: training FLOPs for the D tokens trained: "6nd" (6·N_total·D, Chinchilla's
    convention), "6nd_non_embedding" (Kaplan's C ≈ 6ND), "kaplan" (Kaplan Table 1 with
    the attention term), "palm" (6N + 12·L·d·n_ctx per token, the MFU numerator),
    "measured" (FlopCounterMode on one real forward+backward, × D) and
    "measured_per_token".
    tokens_per_s: training tokens over the time spent in training steps (no eval).
    """

    config: dict[str, Any]
    source: dict[str, Any]
    settings: dict[str, Any]
    eval_loss: float
    curve: list[dict[str, Any]]
    tokens: int
    steps: int
    lr: float
    params: dict[str, int]
    flops: dict[str, float]
    wall_s: float
    tokens_per_s: float
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    threads: int = 1
    engine_version: str = ENGINE_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-able dict (NaN and infinities become None)."""
        return _json_safe(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Run:
        """Rebuild a Run; keys this engine does not know (a newer engine's) are ignored."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        required = [n for n, f in fields.items()
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [n for n in required if n not in d]
        if missing:
            raise ValueError(f"Run.from_dict is missing fields {missing} (got keys {sorted(d)})")
        kw = {k: v for k, v in d.items() if k in fields}
        if kw["eval_loss"] is None:  # a diverged run's NaN, stored as JSON null
            kw["eval_loss"] = math.nan
        return cls(**kw)

    @property
    def gpt_config(self) -> GPTConfig:
        """The run's model config as a GPTConfig."""
        return GPTConfig(**self.config)


def _json_safe(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x
