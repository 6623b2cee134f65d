"""Tests for scaling.model: GPTConfig validation and the GPT module."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import torch.nn.functional as F

from scaling.model import GPT, INIT_STD, GeluTanh, GPTConfig, gelu_tanh


def small(**kw) -> GPTConfig:
    base = dict(n_layer=2, d_model=32, n_head=4, n_ctx=16, vocab_size=50)
    return GPTConfig(**{**base, **kw})


# --- GPTConfig ----------------------------------------------------------------------------

def test_config_defaults_d_ff_to_four_d_model():
    """d_ff defaults to 4·d_model, as in GPT-2."""
    assert small(d_model=48, n_head=3).d_ff == 192


def test_config_is_frozen():
    """A config cannot be changed after construction."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        small().n_layer = 3


def test_config_derived_widths():
    """d_attn equals d_model and head_dim is d_model / n_head."""
    cfg = small(d_model=64, n_head=8)
    assert (cfg.d_attn, cfg.head_dim) == (64, 8)


@pytest.mark.parametrize("field", ["n_layer", "d_model", "n_head", "n_ctx", "vocab_size", "d_ff"])
@pytest.mark.parametrize("value", [0, -3, 2.0, True, "8"])
def test_config_rejects_non_positive_or_non_integer_sizes(field, value):
    """Every size must be a positive int; the error names the field and the value."""
    with pytest.raises(ValueError, match=rf"'{field}' must be a positive integer \(got {field}="):
        small(**{field: value})


def test_config_rejects_d_model_not_divisible_by_heads():
    """d_model must split evenly into heads; the error shows both numbers."""
    with pytest.raises(ValueError, match=r"'d_model' must be divisible by n_head \(got d_model=100, n_head=3\)"):
        small(d_model=100, n_head=3)


@pytest.mark.parametrize("field", ["tie_embeddings", "bias"])
def test_config_rejects_non_bool_flags(field):
    """The boolean switches accept only bools."""
    with pytest.raises(ValueError, match=rf"'{field}' must be a bool \(got {field}=1\)"):
        small(**{field: 1})


# --- GPT ----------------------------------------------------------------------------------

def test_gpt_rejects_non_config():
    """GPT needs a GPTConfig."""
    with pytest.raises(ValueError, match="'config' must be a GPTConfig"):
        GPT({"n_layer": 2})


@pytest.mark.parametrize(
    "n_layer,d_model,n_head,vocab_size",
    [(2, 32, 2, 100), (4, 64, 4, 256), (6, 128, 8, 500), (3, 96, 6, 300)],
)
def test_seed_configurations_build_and_run(n_layer, d_model, n_head, vocab_size):
    """The seed notebooks' sizes (d 32..128, 2..6 layers, vocab 100..500) give (B, T, V) logits."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer, d_model, n_head, n_ctx=32, vocab_size=vocab_size))
    logits = model(torch.randint(0, vocab_size, (3, 20)))
    assert logits.shape == (3, 20, vocab_size)
    assert torch.isfinite(logits).all()


def test_forward_with_targets_returns_logits_and_mean_loss():
    """With targets, forward returns (logits, loss) and the initial loss is about ln V nats."""
    torch.manual_seed(0)
    cfg = small(vocab_size=64)
    idx = torch.randint(0, 64, (4, 16))
    logits, loss = GPT(cfg)(idx, idx)
    assert logits.shape == (4, 16, 64) and loss.dim() == 0
    # GPT-2 init keeps logits near 0, so the prediction is near uniform: loss ≈ ln V.
    assert abs(loss.item() - math.log(64)) < 0.1


def test_loss_ignores_targets_marked_minus_one():
    """Targets equal to -1 do not contribute to the mean loss."""
    torch.manual_seed(0)
    model = GPT(small())
    idx = torch.randint(0, 50, (2, 8))
    targets = idx.clone()
    targets[:, 4:] = -1
    _, loss = model(idx, targets)
    logits = model(idx)
    want = torch.nn.functional.cross_entropy(logits[:, :4].reshape(-1, 50), idx[:, :4].reshape(-1))
    torch.testing.assert_close(loss, want)


def test_forward_rejects_too_long_or_badly_shaped_input():
    """A sequence longer than n_ctx, or a 1-D input, is a ValueError naming the numbers."""
    model = GPT(small(n_ctx=8))
    with pytest.raises(ValueError, match=r"\(got T=9, n_ctx=8\)"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match=r"'idx' must have shape \(B, T\)"):
        model(torch.zeros(8, dtype=torch.long))


@pytest.mark.parametrize("token", [50, 1000, -1])
def test_forward_rejects_a_token_outside_the_vocabulary(token):
    """A token id >= vocab_size (or negative) is a ValueError naming the id and vocab_size."""
    model = GPT(small(n_ctx=8, vocab_size=50))
    idx = torch.zeros(2, 8, dtype=torch.long)
    idx[1, 3] = token
    with pytest.raises(ValueError, match=rf"token id {token}, outside \[0, vocab_size\) \(vocab_size=50\)"):
        model(idx)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bool, torch.uint8])
def test_forward_rejects_token_ids_that_are_not_integers(dtype):
    """Token ids of a non-integer (or byte) dtype are a ValueError naming the dtype, not torch's error."""
    model = GPT(small(n_ctx=8))
    with pytest.raises(ValueError, match=rf"integer token ids, int64 or int32 \(got dtype={dtype}\)"):
        model(torch.zeros(2, 8, dtype=dtype))


@pytest.mark.parametrize("math_attention", [False, True])
def test_attention_is_causal(math_attention):
    """Changing a later token never changes the logits at earlier positions."""
    torch.manual_seed(0)
    model = GPT(small())
    model.use_math_attention = math_attention
    idx = torch.randint(0, 50, (1, 12))
    changed = idx.clone()
    changed[0, 7] = (idx[0, 7] + 1) % 50
    a, b = model(idx), model(changed)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


@settings(max_examples=15, deadline=None)
@given(
    n_layer=st.integers(1, 3),
    n_head=st.sampled_from([1, 2, 4]),
    head_dim=st.sampled_from([4, 8, 16]),
    T=st.integers(1, 12),
    tie=st.booleans(),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_math_and_sdpa_attention_agree(n_layer, n_head, head_dim, T, tie, bias, seed):
    """The explicit math path and F.scaled_dot_product_attention give the same logits, loss and grads."""
    torch.manual_seed(seed)
    cfg = GPTConfig(n_layer, n_head * head_dim, n_head, n_ctx=12, vocab_size=40,
                    tie_embeddings=tie, bias=bias)
    model = GPT(cfg)
    idx = torch.randint(0, 40, (2, T))
    outs = []
    for flag in (False, True):
        model.use_math_attention = flag
        logits, loss = model(idx, idx)
        grads = torch.autograd.grad(loss, list(model.parameters()))
        outs.append((logits, loss, grads))
    (la, sa, ga), (lb, sb, gb) = outs
    # float32 kernels sum in different orders: agreement to ~1e-6 relative, not bitwise.
    torch.testing.assert_close(la, lb, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sa, sb, rtol=1e-5, atol=1e-5)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)


def test_math_attention_context_restores_the_flag():
    """math_attention() turns the math path on inside the block and restores it after, even on error."""
    model = GPT(small())
    assert model.use_math_attention is False
    with model.math_attention():
        assert model.use_math_attention is True
    assert model.use_math_attention is False
    with pytest.raises(RuntimeError), model.math_attention():
        raise RuntimeError("boom")
    assert model.use_math_attention is False


def test_tied_embeddings_share_one_tensor():
    """With tie_embeddings the head is the token embedding, counted once."""
    model = GPT(small(tie_embeddings=True))
    assert model.lm_head.weight is model.wte.weight
    names = [n for n, _ in model.named_parameters()]
    assert "wte.weight" in names and "lm_head.weight" not in names
    assert model.num_params() == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("tie", [False, True])
def test_num_params_non_embedding_drops_embeddings_and_untied_head(tie):
    """num_params(non_embedding=True) is the total minus wte, wpe and an untied head."""
    cfg = small(tie_embeddings=tie)
    model = GPT(cfg)
    emb = (cfg.vocab_size + cfg.n_ctx) * cfg.d_model + (0 if tie else cfg.vocab_size * cfg.d_model)
    assert model.num_params() - model.num_params(non_embedding=True) == emb


def test_bias_false_removes_every_bias():
    """bias=False builds linears and LayerNorms without biases."""
    model = GPT(small(bias=False))
    assert not [n for n, _ in model.named_parameters() if n.endswith(".bias")]


def test_init_follows_gpt2():
    """Weights ~ N(0, 0.02), residual projections ~ N(0, 0.02/√(2L)), biases 0, norms 1."""
    torch.manual_seed(0)
    cfg = GPTConfig(n_layer=8, d_model=128, n_head=4, n_ctx=64, vocab_size=500)
    model = GPT(cfg)
    residual = torch.cat([b.attn.c_proj.weight.flatten() for b in model.h]
                         + [b.mlp.c_proj.weight.flatten() for b in model.h])
    other = torch.cat([b.mlp.c_fc.weight.flatten() for b in model.h] + [model.wte.weight.flatten()])
    # ~260k and ~330k samples: the sample std is within 1% of the true std.
    assert residual.std().item() == pytest.approx(INIT_STD / math.sqrt(2 * cfg.n_layer), rel=0.01)
    assert other.std().item() == pytest.approx(INIT_STD, rel=0.01)
    assert all((b.attn.c_attn.bias == 0).all() for b in model.h)
    assert (model.ln_f.weight == 1).all()


def test_gelu_tanh_gradients_pass_gradcheck():
    """GeluTanh's closed-form backward matches finite differences in float64, across the GELU's bend."""
    x = torch.linspace(-6, 6, 41, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(GeluTanh.apply, (x,))


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_gelu_tanh_is_torchs_tanh_gelu(dtype, tol):
    """Values and gradients equal F.gelu(approximate='tanh') to float rounding, over ±20 and tiny inputs."""
    torch.manual_seed(0)
    x = torch.cat([torch.randn(4096, dtype=dtype) * 4, torch.linspace(-20, 20, 401, dtype=dtype),
                   torch.tensor([0.0, 1e-30, -1e-30], dtype=dtype)])
    mine, ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    g = torch.randn_like(x)
    y, y_ref = gelu_tanh(mine), F.gelu(ref, approximate="tanh")
    (y * g).sum().backward()
    (y_ref * g).sum().backward()
    torch.testing.assert_close(y, y_ref, rtol=tol, atol=tol)
    torch.testing.assert_close(mine.grad, ref.grad, rtol=tol, atol=tol)
