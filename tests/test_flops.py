"""Tests for scaling.flops: the analytic conventions, PF-days and the measured FLOP count."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from scaling.flops import (
    METHODS,
    PF_DAY,
    MeasuredFlops,
    flops_6nd,
    measure_training_flops,
    measure_training_flops_parts,
    pf_days,
    training_flops,
    training_flops_per_token,
)
from scaling.model import GPT, GPTConfig
from scaling.params import count_params
from scaling.strategies import gpt_configs

CFG = GPTConfig(n_layer=2, d_model=32, n_head=4, n_ctx=16, vocab_size=50)


def configs():
    return gpt_configs(max_layers=96, max_heads=16, max_head_dim=256, max_ctx=8192,
                       max_vocab=100_000, max_ff=20_000)


@settings(max_examples=60, deadline=None)
@given(cfg=configs())
def test_conventions_follow_their_formulas(cfg):
    """6n, kaplan and palm equal their published formulas term by term."""
    p = count_params(cfg)
    L, d, s, V = cfg.n_layer, cfg.d_model, cfg.n_ctx, cfg.vocab_size
    assert training_flops_per_token(cfg, "6n") == 6 * p.non_embedding
    assert training_flops_per_token(cfg, "kaplan") == 6 * p.kaplan_exact + 6 * L * s * d
    assert training_flops_per_token(cfg, "palm") == 6 * (p.non_embedding + V * d) + 12 * L * d * s


def test_default_method_is_6n():
    """Without a method the count is 6N."""
    assert training_flops_per_token(CFG) == 6 * count_params(CFG).non_embedding


def test_palm_equals_nanogpt_estimate_for_tied_models():
    """For a tied model, palm is nanoGPT's 6·(total − wpe) + 12·L·H·Q·T."""
    cfg = GPTConfig(12, 768, 12, 1024, 50257, tie_embeddings=True)
    p = count_params(cfg)
    n = p.total - p.breakdown["wpe.weight"]
    assert training_flops_per_token(cfg, "palm") == 6 * n + 12 * 12 * 12 * 64 * 1024


@settings(max_examples=60, deadline=None)
@given(cfg=configs())
def test_chinchilla_embeddings_add_two_matmuls(cfg):
    """include_embeddings adds 3·(2·V·d + 2·d·V) per token, and is on by default."""
    with_emb = training_flops_per_token(cfg, "chinchilla", include_embeddings=True)
    without = training_flops_per_token(cfg, "chinchilla", include_embeddings=False)
    assert with_emb - without == 12 * cfg.vocab_size * cfg.d_model
    assert training_flops_per_token(cfg, "chinchilla") == with_emb


def test_chinchilla_table_a4_row():
    """The 305M row of Hoffmann Table A4 (seq 2048): App. F without embeddings / 6N = 1.10."""
    cfg = GPTConfig(20, 1024, 16, 2048, 32000, d_ff=4096)
    ratio = training_flops_per_token(cfg, "chinchilla", include_embeddings=False) / (6 * 305e6)
    assert round(ratio, 2) == 1.10


def test_training_flops_scales_per_token_count():
    """training_flops is the per-token count times the tokens."""
    assert training_flops(CFG, 1000, "kaplan") == 1000 * training_flops_per_token(CFG, "kaplan")


def test_gpt3_compute():
    """6·N·D for 175B params on 300B tokens is 3.15e23 FLOPs, about 3,646 PF-days."""
    c = flops_6nd(175e9, 300e9)
    assert c == pytest.approx(3.15e23)
    assert pf_days(c) == pytest.approx(3645.83, rel=1e-5)


def test_pf_day_constant():
    """One PF-day is 8.64e19 FLOPs."""
    assert PF_DAY == 8.64e19 and pf_days(PF_DAY) == 1.0 and pf_days(0) == 0.0


@pytest.mark.parametrize("method", ["6N", "fvcore", "", None])
def test_unknown_method_is_rejected(method):
    """An unknown method is a ValueError naming it and the choices."""
    with pytest.raises(ValueError, match=r"'method' must be one of 6n, kaplan, chinchilla, palm \(got method="):
        training_flops_per_token(CFG, method)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "chinchilla"])
def test_include_embeddings_only_for_chinchilla(method):
    """include_embeddings with another method is an error rather than silently ignored."""
    with pytest.raises(ValueError, match="'include_embeddings' applies to method='chinchilla' only"):
        training_flops_per_token(CFG, method, include_embeddings=False)


@pytest.mark.parametrize("tokens", [0, -1, -1e9, math.nan, math.inf, True, "300B"])
def test_non_positive_tokens_are_rejected(tokens):
    """Token counts must be finite and positive; the error names the value."""
    with pytest.raises(ValueError, match=r"'tokens' must be a finite number > 0 \(got tokens="):
        training_flops(CFG, tokens)
    with pytest.raises(ValueError, match=r"'tokens' must be a finite number > 0"):
        flops_6nd(1e6, tokens)


@pytest.mark.parametrize("n", [0, -5, math.nan])
def test_non_positive_params_are_rejected(n):
    """flops_6nd needs a positive parameter count."""
    with pytest.raises(ValueError, match=r"'n_params' must be a finite number > 0 \(got n_params="):
        flops_6nd(n, 1e9)


@pytest.mark.parametrize("flops", [-1.0, math.inf, math.nan, "1e20"])
def test_pf_days_rejects_bad_flops(flops):
    """pf_days needs a finite, non-negative number."""
    with pytest.raises(ValueError, match=r"'flops' must be a finite number >= 0 \(got flops="):
        pf_days(flops)


def test_analytic_counts_reject_non_config():
    """training_flops_per_token needs a GPTConfig."""
    with pytest.raises(ValueError, match="'config' must be a GPTConfig"):
        training_flops_per_token(1e9)


# --- measured -----------------------------------------------------------------------------

@pytest.mark.parametrize("tie,bias", [(False, True), (True, False)])
def test_measured_equals_dense_matmul_count(tie, bias):
    """The counter sees exactly 3·(2·N_matmul + 4·L·T·d + 2·d·V) FLOPs per token (dense attention)."""
    torch.manual_seed(0)
    cfg = GPTConfig(2, 32, 4, 16, 50, d_ff=48, tie_embeddings=tie, bias=bias)
    idx = torch.randint(0, 50, (3, 16))
    got = measure_training_flops_parts(GPT(cfg), idx)
    L, d, T, V = cfg.n_layer, cfg.d_model, 16, cfg.vocab_size
    per_token = 3 * (2 * count_params(cfg).kaplan_exact + 4 * L * T * d + 2 * d * V)
    assert isinstance(got, MeasuredFlops)
    assert got.total == per_token * idx.numel()
    assert got.attention == 3 * 4 * L * T * d * idx.numel()
    assert got.head == 3 * 2 * d * V * idx.numel()
    assert got.body == got.total - got.head


@pytest.mark.parametrize("cfg", [
    CFG,
    GPTConfig(n_layer=2, d_model=32, n_head=2, n_ctx=64, vocab_size=64),
    GPTConfig(n_layer=3, d_model=48, n_head=3, n_ctx=24, vocab_size=100, tie_embeddings=True),
    GPTConfig(n_layer=1, d_model=16, n_head=1, n_ctx=8, vocab_size=10, d_ff=24, bias=False),
])
def test_measure_training_flops_equals_flop_counter_mode(cfg):
    """The dynamo-free count equals FlopCounterMode's total on the model, for (idx, targets) batches too."""
    torch.manual_seed(0)
    model = GPT(cfg)
    idx = torch.randint(0, cfg.vocab_size, (2, cfg.n_ctx))
    counter = FlopCounterMode(display=False)
    with model.math_attention(), counter:
        torch.autograd.grad(model(idx, idx)[1], list(model.parameters()))
    assert measure_training_flops(model, (idx, idx)) == counter.get_total_flops() > 0
    assert measure_training_flops(model, idx) == measure_training_flops_parts(model, idx).total


def test_measure_training_flops_does_not_import_dynamo():
    """Counting a run's FLOPs in a fresh process leaves torch._dynamo unimported (1.7 s per worker)."""
    code = ("import sys, torch; from scaling.model import GPT, GPTConfig; "
            "from scaling.flops import measure_training_flops as m; "
            "n = m(GPT(GPTConfig(1, 16, 1, 8, 10)), torch.zeros(1, 8, dtype=torch.long)); "
            "print(n > 0, 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_sdpa_path_misses_attention_on_cpu():
    """On CPU the SDPA kernel is counted as zero (torch 2.13), which is why the math path is used."""
    torch.manual_seed(0)
    model = GPT(CFG)
    idx = torch.randint(0, 50, (2, 16))
    math_path = measure_training_flops_parts(model, idx)
    sdpa = measure_training_flops_parts(model, idx, math_attention=False)
    assert sdpa.attention == 0
    assert sdpa.total == math_path.total - math_path.attention


def test_measuring_leaves_model_untouched():
    """Measuring neither fills .grad nor leaves the math path switched on."""
    model = GPT(CFG)
    measure_training_flops(model, torch.zeros(1, 8, dtype=torch.long))
    assert all(p.grad is None for p in model.parameters())
    assert model.use_math_attention is False


@pytest.mark.parametrize("batch", [torch.zeros(8, dtype=torch.long), torch.zeros(0, 4, dtype=torch.long), [1, 2]])
def test_measure_rejects_bad_batch(batch):
    """A batch that is not a non-empty (B, T) tensor is a ValueError."""
    with pytest.raises(ValueError, match="'batch' must hold a non-empty"):
        measure_training_flops(GPT(CFG), batch)


def test_measure_rejects_frozen_model():
    """A model with nothing to train has no backward to count."""
    model = GPT(CFG).requires_grad_(False)
    with pytest.raises(ValueError, match="'model' must have parameters that require grad"):
        measure_training_flops(model, torch.zeros(1, 4, dtype=torch.long))
