"""Tests for scaling.params: analytic parameter counts against built modules and known models."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.model import GPT, GPTConfig
from scaling.params import ParamCount, count_params, module_breakdown
from scaling.strategies import gpt_configs

# GPT-2 exact totals (Radford et al. 2019 checkpoints: tied head, biases, vocab 50257, n_ctx 1024).
GPT2 = [
    ("small", 12, 768, 12, 124_439_808),
    ("medium", 24, 1024, 16, 354_823_168),
    ("large", 36, 1280, 20, 774_030_080),
    ("xl", 48, 1600, 25, 1_557_611_200),
]


def configs():
    return gpt_configs(max_layers=3, max_heads=4, max_head_dim=12, max_ctx=40, max_vocab=80,
                       max_ff=70)


@settings(max_examples=40, deadline=None)
@given(cfg=configs())
def test_breakdown_matches_built_module_component_by_component(cfg):
    """Every breakdown entry equals the numel of the same-named parameters of GPT(cfg)."""
    with torch.device("meta"):  # shapes only; no memory, no init cost
        model = GPT(cfg)
    got = count_params(cfg)
    assert dict(got.breakdown) == module_breakdown(model.named_parameters())
    assert got.total == model.num_params()
    assert got.non_embedding == model.num_params(non_embedding=True)


@settings(max_examples=60, deadline=None)
@given(cfg=configs())
def test_conventions_are_consistent(cfg):
    """total = embedding + non_embedding = sum(breakdown); kaplan_exact is the blocks' matmul weights."""
    got = count_params(cfg)
    assert got.total == got.embedding + got.non_embedding == sum(got.breakdown.values())
    matmul = sum(n for k, n in got.breakdown.items()
                 if k.startswith("h.") and k.endswith(".weight") and ".ln_" not in k)
    assert got.kaplan_exact == matmul
    assert got.sub_leading == got.non_embedding - got.kaplan_exact >= 0


@settings(max_examples=60, deadline=None)
@given(L=st.integers(1, 200), h=st.integers(1, 128), hd=st.integers(1, 256),
       V=st.integers(1, 300_000), n_ctx=st.integers(1, 1 << 16))
def test_gpt2_layout_closed_form(L, h, hd, V, n_ctx):
    """With d_ff=4d, biases and a tied head: total = V·d + n_ctx·d + L·(12d² + 13d) + 2d."""
    d = h * hd
    got = count_params(GPTConfig(L, d, h, n_ctx, V, tie_embeddings=True))
    assert got.total == V * d + n_ctx * d + L * (12 * d * d + 13 * d) + 2 * d
    assert got.kaplan_12ld2 == got.kaplan_exact == 12 * L * d * d
    assert got.sub_leading == 13 * L * d + 2 * d


@pytest.mark.parametrize("name,L,d,h,published", GPT2)
def test_gpt2_totals(name, L, d, h, published):
    """GPT-2 small..xl totals equal the published exact numbers."""
    assert count_params(GPTConfig(L, d, h, 1024, 50257, tie_embeddings=True)).total == published


def test_untied_head_is_embedding():
    """An untied head adds V·d to total and to embedding, not to non_embedding."""
    tied = count_params(GPTConfig(2, 64, 4, 32, 100, tie_embeddings=True))
    untied = count_params(GPTConfig(2, 64, 4, 32, 100, tie_embeddings=False))
    assert untied.total - tied.total == untied.embedding - tied.embedding == 100 * 64
    assert untied.non_embedding == tied.non_embedding
    assert "lm_head.weight" in untied.breakdown and "lm_head.weight" not in tied.breakdown


def test_gpt3_175b_counts_without_building():
    """A 175B config is counted from the config alone, in exact integers."""
    got = count_params(GPTConfig(96, 12288, 96, 2048, 50257, tie_embeddings=True))
    assert got.total == 174_604_259_328
    assert got.kaplan_12ld2 == 12 * 96 * 12288**2


def test_param_count_is_frozen_with_read_only_breakdown():
    """ParamCount is a frozen dataclass and its breakdown cannot be edited."""
    got = count_params(GPTConfig(1, 8, 1, 4, 10))
    assert isinstance(got, ParamCount)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.total = 0
    with pytest.raises(TypeError):
        got.breakdown["wte.weight"] = 0


@pytest.mark.parametrize("bad", [None, {"n_layer": 2}, 12])
def test_count_params_rejects_non_config(bad):
    """count_params needs a GPTConfig; the error names the argument and value."""
    with pytest.raises(ValueError, match=r"'config' must be a GPTConfig \(got config="):
        count_params(bad)
