"""Training FLOPs: analytic counts per token in each paper's convention, and measured ones.

Every number here counts a multiply-add as 2 FLOPs, and a training step as forward +
backward with backward = 2 × forward (Kaplan et al. 2020, §2.1; Hoffmann et al. 2022, App. F).
Conventions, by name (`training_flops_per_token(config, method=...)`):

- "6n": 6·N, N = non-embedding parameters (Kaplan §2.1: C ≈ 6N per training token).
- "kaplan": 3 × Kaplan Table 1's non-embedding forward total, 2N + 2·n_layer·n_ctx·d_attn,
  N = 2·d_model·n_layer·(2·d_attn + d_ff) (the table's parameter column: matmul weights).
- "chinchilla": 3 × Hoffmann App. F's forward count (QKV, K@Q, softmax 3·h·s, softmax@V,
  output, dense) with `include_embeddings` adding the embedding and final-logit matmuls
  (2·V·d each). Table A4's ratios reproduce without them.
- "palm": 6N + 12·L·H·Q·T (Chowdhery et al. 2022, App. B; nanoGPT's MFU), with N the
  non-embedding parameters plus the output projection (nanoGPT's `total - wpe` for a tied
  model): the head is a matmul, the embedding lookups are not.

`measure_training_flops(model, batch)` counts one real forward+backward by the formulas of
`torch.utils.flop_counter` (FlopCounterMode's total, through a dispatch mode that does not
import torch._dynamo); `measure_training_flops_parts` runs FlopCounterMode itself, to split
the count by module. That counter has no formula for CPU
`scaled_dot_product_attention` in torch 2.13 and counts it as 0, so attention runs through
the model's math path while counting (`GPT.math_attention()`); the math path computes the
full n_ctx × n_ctx score matrix, masked half included, as dense kernels do.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from scaling.config import GPTConfig
from scaling.params import count_params

METHODS = ("6n", "kaplan", "chinchilla", "palm")

# One petaFLOP/s sustained for a day (Kaplan §1.1 footnote; GPT-3 Table D.1).
PF_DAY = 1e15 * 24 * 3600  # = 8.64e19 FLOPs

# Ops that run attention: bmm/baddbmm in the math path, the fused kernels otherwise.
_ATTENTION_OPS = ("bmm", "baddbmm", "attention")


def training_flops_per_token(
    config: GPTConfig, method: str = "6n", *, include_embeddings: bool | None = None
) -> int:
    """FLOPs of one training token (forward + backward) under the named convention."""
    if not isinstance(config, GPTConfig):
        raise ValueError(f"'config' must be a GPTConfig (got config={config!r})")
    if method not in METHODS:
        raise ValueError(f"'method' must be one of {', '.join(METHODS)} (got method={method!r})")
    if include_embeddings is not None and method != "chinchilla":
        raise ValueError(
            "'include_embeddings' applies to method='chinchilla' only "
            f"(got include_embeddings={include_embeddings!r}, method={method!r})"
        )
    counts = count_params(config)
    L, d, d_attn, d_ff = config.n_layer, config.d_model, config.d_attn, config.d_ff
    s, V, h = config.n_ctx, config.vocab_size, config.n_head

    if method == "6n":
        return 6 * counts.non_embedding
    if method == "kaplan":  # Table 1: 2N + 2·n_layer·n_ctx·d_attn forward
        return 3 * (2 * counts.kaplan_exact + 2 * L * s * d_attn)
    if method == "palm":  # App. B: 6N + 12·L·H·Q·T, H·Q = d_attn
        return 6 * (counts.non_embedding + V * d) + 12 * L * d_attn * s
    # Chinchilla App. F, divided by seq_len to make it per token.
    per_layer = (
        2 * 3 * d * d_attn  # key, query, value projections
        + 2 * s * d_attn  # K @ Q logits
        + 3 * h * s  # softmax
        + 2 * s * d_attn  # softmax @ V
        + 2 * d_attn * d  # output projection
        + 2 * 2 * d * d_ff  # dense block
    )
    forward = L * per_layer
    if include_embeddings is None or include_embeddings:
        forward += 2 * V * d + 2 * d * V  # embeddings, final logits
    return 3 * forward


def training_flops(
    config: GPTConfig,
    tokens: float,
    method: str = "6n",
    *,
    include_embeddings: bool | None = None,
) -> float:
    """FLOPs to train `config` on `tokens` tokens under the named convention."""
    _check_positive("tokens", tokens)
    return training_flops_per_token(config, method, include_embeddings=include_embeddings) * tokens


def flops_6nd(n_params: float, tokens: float) -> float:
    """C ≈ 6·N·D (Kaplan §2.1; Hoffmann eq. 4's constraint) for raw N and D."""
    _check_positive("n_params", n_params)
    _check_positive("tokens", tokens)
    return 6 * n_params * tokens


def pf_days(flops: float) -> float:
    """FLOPs expressed in PF-days (1 PF-day = 8.64e19 FLOPs)."""
    if isinstance(flops, bool) or not isinstance(flops, (int, float)) or not (
        math.isfinite(flops) and flops >= 0
    ):
        raise ValueError(f"'flops' must be a finite number >= 0 (got flops={flops!r})")
    return flops / PF_DAY


@dataclass(frozen=True)
class MeasuredFlops:
    """FLOPs of one forward+backward as counted by FlopCounterMode, split by where they ran."""

    total: int
    attention: int  # the attention matmuls (QKᵀ and ·V) or fused attention kernels
    head: int  # the output projection `lm_head` (Kaplan's "de-embed")

    @property
    def body(self) -> int:
        """Everything but the head: Kaplan's non-embedding compute."""
        return self.total - self.head


class _CountFlops(TorchDispatchMode):
    """Total FLOPs of the aten ops run inside it, by `torch.utils.flop_counter`'s own formulas.

    The same registry and the same rule as FlopCounterMode (an op without a formula is
    decomposed, and its parts counted), without the module tracking behind per-module
    counts, and without importing torch._dynamo: FlopCounterMode's mode lets torch wrap its
    dispatch in `torch._disable_dynamo`, whose first call imports torch._dynamo (1.7 s in
    every training worker). Nothing is compiled inside this mode, so it opts out of that
    wrapping (`_should_skip_dynamo`, torch.utils._python_dispatch).
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        formula = flop_registry.get(func._overloadpacket)
        if formula is None and func is not torch.ops.prim.device.default:
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        out = func(*args, **kwargs)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def _forward_backward(model: torch.nn.Module, batch, math_attention: bool, counter) -> None:
    """One forward+backward of `model` on `batch` ((B, T) ids or (ids, targets)) inside `counter`."""
    idx, targets = batch if isinstance(batch, (tuple, list)) else (batch, batch)
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.numel() == 0:
        raise ValueError(f"'batch' must hold a non-empty (B, T) tensor of token ids (got {idx!r})")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("'model' must have parameters that require grad (got none)")
    use_math = getattr(model, "math_attention", None)
    mode = use_math() if (math_attention and use_math is not None) else contextlib.nullcontext()
    with mode, counter:
        out = model(idx, targets)
        loss = out[1] if isinstance(out, tuple) else out.float().mean()
        # autograd.grad, not backward(): same FLOPs, and the model's .grad stays untouched.
        torch.autograd.grad(loss, params)


def measure_training_flops_parts(
    model: torch.nn.Module,
    batch: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
    *,
    math_attention: bool = True,
) -> MeasuredFlops:
    """Count one forward+backward of `model` on `batch` ((B, T) ids or (ids, targets))."""
    counter = FlopCounterMode(display=False)
    _forward_backward(model, batch, math_attention, counter)
    counts = counter.get_flop_counts()
    total = int(counter.get_total_flops())
    attention = sum(
        int(n) for op, n in counts.get("Global", {}).items() if any(a in str(op) for a in _ATTENTION_OPS)
    )
    head = sum(
        int(n)
        for name, ops in counts.items()
        if name.split(".")[1:] == ["lm_head"]
        for n in ops.values()
    )
    return MeasuredFlops(total=total, attention=attention, head=head)


def measure_training_flops(
    model: torch.nn.Module,
    batch: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
    *,
    math_attention: bool = True,
) -> int:
    """FLOPs of one real forward+backward of `model` on `batch`: FlopCounterMode's total,
    counted by the same formulas without importing torch._dynamo (what a training worker uses)."""
    counter = _CountFlops()
    _forward_backward(model, batch, math_attention, counter)
    return counter.total


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"'{name}' must be a finite number > 0 (got {name}={value!r})")
