"""Tests for scaling.family: the size dial the empirical claims train along."""

import math
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.family import ModelFamily, default_model_family, width_family
from scaling.model import GPTConfig
from scaling.params import count_params


def test_default_family_builds_valid_configs_for_every_dial():
    """Every dial of the default family builds a GPTConfig with the data's n_ctx and vocabulary."""
    fam = default_model_family()
    members = fam.members(fam.dials, n_ctx=32, vocab_size=50)
    assert [m.dial for m in members] == list(fam.dials)
    for m in members:
        assert m.config.n_ctx == 32 and m.config.vocab_size == 50
        assert m.config.d_model == m.dial
        assert m.n == count_params(m.config).non_embedding


def test_default_family_n_increases_with_the_dial_over_several_decades():
    """Non-embedding N grows strictly with width and the dials cover 1e3..1e7 parameters."""
    ns = [m.n for m in default_model_family().members(default_model_family().dials, n_ctx=64, vocab_size=256)]
    assert all(b > a for a, b in zip(ns, ns[1:]))
    assert ns[0] < 1e3 and ns[-1] > 1e7


@settings(max_examples=30, deadline=None)
@given(lo=st.floats(1e4, 1e5), decades=st.floats(1.0, 2.0), count=st.integers(2, 7))
def test_span_returns_distinct_sizes_near_log_spaced_targets(lo, decades, count):
    """span() returns `count` distinct members, sorted by N, each within a dial step of its target."""
    fam = default_model_family()
    hi = lo * 10**decades
    members = fam.span(lo, hi, count, n_ctx=32, vocab_size=64)
    ns = [m.n for m in members]
    assert len(set(ns)) == count and ns == sorted(ns)
    assert ns[0] <= lo * 1.5 and ns[-1] >= hi / 1.5


def test_span_refuses_more_sizes_than_the_family_has():
    """Asking for more distinct sizes than the family offers in the range is a ValueError."""
    fam = width_family(widths=(8, 16, 32))
    with pytest.raises(ValueError, match="offers only 3 sizes"):
        fam.span(1e3, 1e5, 5, n_ctx=32, vocab_size=64)


def test_width_family_heads_divide_width():
    """Heads are the largest divisor of d_model at most d_model/head_dim (at least one)."""
    fam = width_family(head_dim=16)
    for d, heads in ((8, 1), (16, 1), (48, 3), (52, 2), (64, 4), (100, 5)):
        assert fam.config(d, n_ctx=16, vocab_size=10).n_head == heads


def test_custom_depth_family():
    """A user family with a depth dial spans sizes like the default one."""
    fam = ModelFamily("deep", lambda dial, n_ctx, vocab: GPTConfig(
        n_layer=dial, d_model=16, n_head=2, n_ctx=n_ctx, vocab_size=vocab), dials=range(1, 9))
    members = fam.span(3e3, 2.5e4, 3, n_ctx=16, vocab_size=32)
    assert [m.config.n_layer for m in members] == [1, 3, 8]


def test_family_must_respect_the_data_shape():
    """A family that ignores the requested n_ctx or vocab_size is refused, naming both."""
    fam = ModelFamily("fixed", lambda dial, n_ctx, vocab: GPTConfig(
        n_layer=1, d_model=dial, n_head=1, n_ctx=8, vocab_size=vocab), dials=(8, 16))
    with pytest.raises(ValueError, match="n_ctx=32"):
        fam.config(8, n_ctx=32, vocab_size=10)


@pytest.mark.parametrize("kw, match", [
    ({"name": "", "build": print, "dials": (1,)}, "'name'"),
    ({"name": "x", "build": 3, "dials": (1,)}, "'build'"),
    ({"name": "x", "build": print, "dials": ()}, "'dials'"),
    ({"name": "x", "build": print, "dials": (2, 1)}, "strictly increasing"),
])
def test_bad_family_is_a_value_error(kw, match):
    """Bad name, builder or dials are ValueErrors naming the field."""
    with pytest.raises(ValueError, match=match):
        ModelFamily(**kw)


def test_bad_span_arguments():
    """span() refuses a reversed range and a count below 2."""
    fam = default_model_family()
    with pytest.raises(ValueError, match="n_min"):
        fam.span(1e5, 1e3, 4, n_ctx=32, vocab_size=64)
    with pytest.raises(ValueError, match="'count'"):
        fam.span(1e3, 1e5, 1, n_ctx=32, vocab_size=64)


def test_width_family_pickles():
    """The default family crosses a process boundary (its builder is not a lambda)."""
    fam = default_model_family()
    again = pickle.loads(pickle.dumps(fam))
    assert again.config(24, n_ctx=32, vocab_size=64) == fam.config(24, n_ctx=32, vocab_size=64)
    assert math.isclose(again.members([24], n_ctx=32, vocab_size=64)[0].n,
                        fam.members([24], n_ctx=32, vocab_size=64)[0].n)
