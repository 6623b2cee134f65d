"""Tests for scaling.schedule: LR rules, warmup + cosine, log-spaced curve steps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.schedule import MAX_DEFAULT_LR, curve_steps, default_lr, kaplan_lr, lr_at


@settings(max_examples=60, deadline=None)
@given(steps=st.integers(1, 5000), warm_frac=st.floats(0, 0.5), min_frac=st.floats(0, 1),
       lr=st.floats(1e-5, 1e-1))
def test_schedule_warms_up_then_decays_to_the_floor(steps, warm_frac, min_frac, lr):
    """LR rises linearly to the peak over warmup, never exceeds it, and ends at min_lr_frac·peak."""
    w = math.ceil(warm_frac * steps)
    lrs = np.array([lr_at(s, steps, w, lr, min_frac) for s in range(1, steps + 1)])
    assert np.all(lrs <= lr * (1 + 1e-12)) and np.all(lrs >= 0)
    if w:
        assert lrs[w - 1] == pytest.approx(lr)
        assert np.all(np.diff(lrs[:w]) > 0)
    if steps > w:
        assert lrs[-1] == pytest.approx(lr * min_frac)
        assert np.all(np.diff(lrs[w:]) <= 1e-15)


@settings(max_examples=60, deadline=None)
@given(steps=st.integers(1, 10**7), points=st.integers(2, 64))
def test_curve_steps_are_unique_bounded_and_include_the_end(steps, points):
    """curve_steps gives at most `points` distinct steps in 1..steps, starting at 1, ending at steps."""
    got = curve_steps(steps, points)
    assert got[0] == 1 and got[-1] == steps
    assert len(got) <= points and got == sorted(set(got))


def test_kaplan_lr_is_eq_d1_floored():
    """kaplan_lr is Kaplan's eq. D.1, decreasing in N and floored positive for huge N."""
    assert kaplan_lr(10**6) == pytest.approx(0.003239 - 0.0001395 * math.log(1e6))
    assert kaplan_lr(10**12) == 1e-4


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 10**12), m=st.integers(1, 10**12))
def test_default_lr_is_monotone_bounded_and_kaplan_for_big_models(n, m):
    """The default LR never rises with N, stays in [Kaplan D.1, 2e-2], and is Kaplan's beyond 1e7."""
    lo, hi = sorted((n, m))
    assert default_lr(lo) >= default_lr(hi)
    assert kaplan_lr(n) <= default_lr(n) <= MAX_DEFAULT_LR
    if n >= 10**7:
        assert default_lr(n) == kaplan_lr(n)
