"""`GPTConfig`: the shape of a GPT, validated on construction (torch-free).

The model (`scaling.model`, which re-exports it) builds from it; parameter counts, FLOP
conventions, size dials and a sweep's planning read it without importing torch, so a
command line can plan and key a grid of runs while its workers import torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GPTConfig:
    """Shape of a GPT; validated on construction. `d_ff` defaults to 4·d_model (GPT-2)."""

    n_layer: int
    d_model: int
    n_head: int
    n_ctx: int
    vocab_size: int
    d_ff: int | None = None
    tie_embeddings: bool = False
    bias: bool = True

    def __post_init__(self) -> None:
        if self.d_ff is None:
            object.__setattr__(self, "d_ff", 4 * self.d_model)
        for name in ("n_layer", "d_model", "n_head", "n_ctx", "vocab_size", "d_ff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"'{name}' must be a positive integer (got {name}={value!r})")
        for name in ("tie_embeddings", "bias"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"'{name}' must be a bool (got {name}={value!r})")
        if self.d_model % self.n_head:
            raise ValueError(
                "'d_model' must be divisible by n_head "
                f"(got d_model={self.d_model}, n_head={self.n_head})"
            )

    @property
    def d_attn(self) -> int:
        """Width of the attention projections (Kaplan's d_attn); equal to d_model here."""
        return self.d_model

    @property
    def head_dim(self) -> int:
        """Per-head width d_model / n_head."""
        return self.d_model // self.n_head
