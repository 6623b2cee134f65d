"""Hypothesis strategies for property tests of counts and FLOPs (ours and yours)."""

from __future__ import annotations

from hypothesis import strategies as st

from scaling.config import GPTConfig


@st.composite
def gpt_configs(draw, *, max_layers: int, max_heads: int, max_head_dim: int, max_ctx: int,
                max_vocab: int, max_ff: int, min_vocab: int = 1) -> GPTConfig:
    """Valid `GPTConfig`s up to the given sizes: d_model a multiple of n_head, d_ff default or drawn."""
    n_head = draw(st.integers(1, max_heads))
    return GPTConfig(
        n_layer=draw(st.integers(1, max_layers)),
        d_model=n_head * draw(st.integers(1, max_head_dim)),
        n_head=n_head,
        n_ctx=draw(st.integers(1, max_ctx)),
        vocab_size=draw(st.integers(min_vocab, max_vocab)),
        d_ff=draw(st.none() | st.integers(1, max_ff)),
        tie_embeddings=draw(st.booleans()),
        bias=draw(st.booleans()),
    )
