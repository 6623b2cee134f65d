"""A small decoder-only transformer (GPT-2 layout), readable top to bottom.

Pre-LayerNorm blocks, learned position embeddings, GELU MLP (GPT-2's tanh form; on CPU
through `GeluTanh`, vectorized), causal self-attention through
`F.scaled_dot_product_attention`, a final LayerNorm and an optional tied output head.
Module names follow nanoGPT / GPT-2 (`wte`, `wpe`, `h.{i}.attn.c_attn`, ...), so that the
analytic counts in `scaling.params` can be checked against `named_parameters()` one
component at a time.

References: Radford et al. 2019 (GPT-2); Karpathy, nanoGPT `model.py`;
Vaswani et al. 2017 (attention).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from scaling.config import GPTConfig  # torch-free, so that a sweep can plan without torch

# GPT-2's initialization (Radford et al. 2019, §2.3; nanoGPT `_init_weights`).
INIT_STD = 0.02
# GELU's tanh approximation (Hendrycks & Gimpel 2016, §2), as GPT-2 uses it:
# gelu(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) = x·σ(2·√(2/π)·(x + 0.044715·x³)).
GELU_C, GELU_A = math.sqrt(2.0 / math.pi), 0.044715


class GeluTanh(torch.autograd.Function):
    """GELU's tanh form in four vectorized passes forward and five backward.

    The same function as `F.gelu(x, approximate="tanh")` up to float rounding, through the
    identity 0.5·(1 + tanh(u)) = σ(2u). torch 2.13's CPU kernel for the tanh form is not
    vectorized (on a Xeon: 0.5-0.7 ms forward on 2048×128 floats, against 0.1 ms for a tanh),
    and at the tiny widths the claims train it was the largest item of a step (measured on
    that Xeon, one thread, batch 32×64: 5-6% of a d_model 32 step, 3% at 48).
    Backward is the closed form: d/dx x·σ(w) = σ(w)·(1 + x·(1 − σ(w))·dw/dx), with
    w = 2c·(x + a·x³) and x·dw/dx = x·(2c + 6ca·x²).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        w = torch.addcmul(x.new_full((), 2 * GELU_C), x, x, value=2 * GELU_C * GELU_A)
        s = w.mul_(x).sigmoid_()  # σ(2c·x + 2ca·x³)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        x, s = ctx.saved_tensors
        t = torch.addcmul(x.new_full((), 2 * GELU_C), x, x, value=6 * GELU_C * GELU_A).mul_(x)
        t.addcmul_(t, s, value=-1)  # x·dw/dx·(1 − σ)
        return torch.addcmul(s, t, s).mul_(grad)  # σ + σ·t, times the incoming gradient


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's GELU (tanh form): `GeluTanh` on CPU floats, torch's own kernel elsewhere.

    On CUDA torch's kernel is one vectorized pass (`GeluTanh` would launch nine), and it
    computes half-precision inputs in float32, which `GeluTanh`'s passes would not.
    """
    if x.is_cpu and x.dtype in (torch.float32, torch.float64):
        return GeluTanh.apply(x)
    return F.gelu(x, approximate="tanh")


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention; `use_math_attention` picks the explicit path."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.d_model, 3 * config.d_attn, bias=config.bias)  # q, k, v
        self.c_proj = nn.Linear(config.d_attn, config.d_model, bias=config.bias)
        # The explicit softmax(QKᵀ/√d)·V path: slower, but every matmul is a visible aten op,
        # so torch's FlopCounterMode counts it (it counts CPU SDPA as 0 in torch 2.13).
        self.use_math_attention = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)  # each (B, T, C)
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        if self.use_math_attention:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B, nh, T, T)
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
            y = att @ v  # (B, nh, T, hs)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble heads: (B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    """Position-wise feed-forward: d_model -> d_ff -> d_model with GELU (GPT-2's tanh form)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.d_model, config.d_ff, bias=config.bias)
        self.c_proj = nn.Linear(config.d_ff, config.d_model, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(gelu_tanh(self.c_fc(x)))  # (B, T, C)


class Block(nn.Module):
    """Pre-LN transformer block: x + attn(ln(x)), then x + mlp(ln(x)) (GPT-2 §2.3)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    """Decoder-only transformer; `forward(idx)` -> logits, `forward(idx, targets)` -> (logits, loss)."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise ValueError(f"'config' must be a GPTConfig (got config={config!r})")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)  # token embedding
        self.wpe = nn.Embedding(config.n_ctx, config.d_model)  # learned positions
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model, bias=config.bias)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_embeddings:
            # Press & Wolf 2017; GPT-2 ties. `wte` is registered first, so named_parameters()
            # reports the shared tensor once, as "wte.weight".
            self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        # GPT-2 §2.3: scale the residual projections by 1/√N, N = 2·n_layer residual adds.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=INIT_STD / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameters of the built module; `non_embedding` drops wte, wpe and an untied head."""
        n = sum(p.numel() for p in self.parameters())  # shared tensors are counted once
        if non_embedding:
            n -= self.wte.weight.numel() + self.wpe.weight.numel()
            if not self.config.tie_embeddings:
                n -= self.lm_head.weight.numel()
        return n

    @property
    def use_math_attention(self) -> bool:
        """True when every block runs the explicit softmax(QKᵀ/√d)·V attention."""
        return all(block.attn.use_math_attention for block in self.h)

    @use_math_attention.setter
    def use_math_attention(self, value: bool) -> None:
        for block in self.h:
            block.attn.use_math_attention = bool(value)

    @contextlib.contextmanager
    def math_attention(self) -> Iterator[GPT]:
        """Run attention through the explicit math path inside the block, then restore."""
        before = [block.attn.use_math_attention for block in self.h]
        self.use_math_attention = True
        try:
            yield self
        finally:
            for block, flag in zip(self.h, before):
                block.attn.use_math_attention = flag

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if idx.dim() != 2:
            raise ValueError(f"'idx' must have shape (B, T) (got shape={tuple(idx.shape)})")
        if idx.dtype not in (torch.long, torch.int32):
            raise ValueError(f"'idx' must hold integer token ids, int64 or int32 (got dtype={idx.dtype})")
        B, T = idx.size()
        if T > self.config.n_ctx:
            raise ValueError(
                f"'idx' is longer than the context (got T={T}, n_ctx={self.config.n_ctx})"
            )
        pos = torch.arange(T, dtype=torch.long, device=idx.device)  # (T,)
        try:
            tok = self.wte(idx)  # (B, T, C)
        except IndexError:  # looked into only on failure: a max() every step would sync CUDA
            bad = idx[(idx < 0) | (idx >= self.config.vocab_size)].flatten()
            raise ValueError(f"'idx' holds token id {int(bad[0])}, outside [0, vocab_size) "
                             f"(vocab_size={self.config.vocab_size})") from None
        x = tok + self.wpe(pos)  # (B, T, C)
        for block in self.h:
            x = block(x)  # (B, T, C)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits
        # Mean cross-entropy in nats per token; -1 marks positions to ignore (nanoGPT).
        loss = F.cross_entropy(
            logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1
        )
        return logits, loss
