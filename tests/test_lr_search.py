"""Tests for scaling.lr_search: the learning-rate search on fake loss surfaces with known optima."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.lr_search import (
    MAX_D_EXTRAPOLATION,
    AnchorSearch,
    LRSearchPlan,
    fit_lr_rule,
    lattice_index,
    lattice_rate,
    pick_anchors,
    round_lr,
    search,
)


def bowl(lr_star, width=1.0):
    """Held-out loss of a fake run: a parabola in log lr with its minimum at lr_star(n)."""
    def loss(n, lr):
        return 1.0 + (math.log(lr) - math.log(lr_star(n))) ** 2 / width
    return loss


def evaluator(loss, ns, calls=None):
    def evaluate(points):
        if calls is not None:
            calls.append(list(points))
        return [loss(ns[i], lr) for i, lr in points]
    return evaluate


def test_power_law_optimum_is_recovered():
    """Optima on a known LR*(N) = 0.01·(N/1e4)^-0.3 are found at each anchor and the fit recovers it."""
    truth = lambda n: 0.01 * (n / 1e4) ** -0.3  # noqa: E731
    ns = [1e3, 1e4, 1e5]
    rule = search(ns, [1000] * 3, lambda n: 0.01, evaluator(bowl(truth), ns), LRSearchPlan())
    assert rule.bracketed == 3 and not rule.messages
    for a in rule.anchors:
        assert a.lr_opt == pytest.approx(truth(a.n), rel=1e-2)  # a parabola is exact on a parabola
    assert rule.b == pytest.approx(-0.3, abs=1e-2)
    assert rule(1e4, 1000) == pytest.approx(0.01, rel=1e-2)
    assert "3 bracketed" in rule.text() and "N = 1e+04: 0.01 at D = 1e+03;" in rule.text()


def test_edge_optimum_extends_the_grid_one_rate_per_round():
    """An optimum 3 lattice steps above the first grid's edge is reached by 3 extensions, one per round."""
    ns = [1e4]
    k0 = lattice_index(0.004, 2.0)
    truth = lattice_rate(k0 + 2 + 3, 2.0)  # the first grid is k0-2..k0+2
    calls = []
    plan = LRSearchPlan(rates=5, max_extension=4)
    rule = search(ns, [1], lambda n: 0.004, evaluator(bowl(lambda n: truth), ns, calls), plan)
    assert [len(c) for c in calls] == [5, 1, 1, 1, 1]  # the 4th extension shows the 3rd was the optimum
    a = rule.anchors[0]
    assert a.bracketed and a.lr_opt == pytest.approx(truth, rel=1e-2)
    assert list(a.rates) == sorted(a.rates) and len(a.rates) == 9


def test_unbracketed_anchor_is_reported_and_left_out():
    """An anchor still on an edge after max_extension is named in the messages and not fitted."""
    ns = [1e3, 1e4, 1e5]
    truth = lambda n: 1.0 if n == 1e5 else 0.01  # noqa: E731 - far above the grid at the largest size
    rule = search(ns, [1] * 3, lambda n: 0.01, evaluator(bowl(truth), ns), LRSearchPlan(max_extension=1))
    assert [a.bracketed for a in rule.anchors] == [True, True, False]
    assert rule.anchors[2].side == 1 and len(rule.anchors[2].rates) == 6
    assert any("N = 1e+05" in m and "not bracketed" in m for m in rule.messages)
    assert rule.b == pytest.approx(0.0, abs=1e-3) and rule(1e5, 1) == pytest.approx(0.01, rel=1e-2)


def test_one_bracketed_anchor_falls_back_to_b_zero():
    """With one usable anchor the rule is flat (b = 0) and says so."""
    rule = fit_lr_rule([AnchorSearch(1e4, 1, (0.01, 0.02, 0.04), (2.0, 1.0, 2.0))])
    assert rule.b == 0.0 and rule(1e2, 1) == rule(1e6, 1) == 0.02
    assert any("b = 0" in m for m in rule.messages)


def test_no_bracketed_anchor_uses_the_edges_and_says_so():
    """When no anchor is bracketed the rule runs through the best edge rates, flagged in messages."""
    anchors = [AnchorSearch(1e3, 1, (0.01, 0.02, 0.04), (3.0, 2.0, 1.0)),
               AnchorSearch(1e5, 1, (0.01, 0.02, 0.04), (1.0, 2.0, 3.0))]
    rule = fit_lr_rule(anchors)
    assert rule.bracketed == 0 and any("no anchor bracketed" in m for m in rule.messages)
    assert rule(1e3, 1) == pytest.approx(0.04) and rule(1e5, 1) == pytest.approx(0.01)


def test_diverged_runs_count_as_worst_and_extend_downward():
    """Diverged runs (NaN) are worse than any loss: all-diverged anchors extend to lower rates."""
    ns = [1e4]
    loss = lambda n, lr: math.nan if lr > 0.003 else 1.0 + (math.log(lr / 0.001)) ** 2  # noqa: E731
    rule = search(ns, [1], lambda n: 0.016, evaluator(loss, ns), LRSearchPlan(max_extension=4))
    a = rule.anchors[0]
    assert a.bracketed and a.lr_opt == pytest.approx(0.001, rel=0.05)
    assert math.inf in a.losses


def test_diverged_neighbour_keeps_the_best_rate():
    """A best rate whose upper neighbour diverged is bracketed, and the optimum is that rate itself."""
    a = AnchorSearch(1e4, 1, (0.01, 0.02, 0.04), (1.5, 1.0, math.inf))
    assert a.bracketed and a.lr_opt == 0.02 and a.margin == 0.5
    assert math.isnan(AnchorSearch(1e4, 1, (0.01, 0.02), (2.0, 1.0)).margin)


@settings(max_examples=30, deadline=None)
@given(st.floats(-3, 3), st.floats(-0.8, 0.3), st.floats(0.3, 3.0))
def test_recovered_slope_matches_the_planted_one(log_shift, b, width):
    """Any planted LR*(N) ∝ N^b within the extension range is recovered to within the lattice's precision."""
    truth = lambda n: 0.004 * math.exp(log_shift * 0.5) * (n / 1e4) ** b  # noqa: E731
    ns = [1e3, 1e4, 1e5]
    rule = search(ns, [1] * 3, lambda n: 0.004, evaluator(bowl(truth, width), ns), LRSearchPlan(max_extension=6))
    assert rule.bracketed == 3
    assert rule.b == pytest.approx(b, abs=0.01)


def test_horizon_dependence_is_recovered():
    """A planted LR*(N, D) whose slope in D steepens as N falls is reproduced from 3 sizes at 2 lengths each."""
    def truth(n, d):
        u, v = math.log(n / 1e4), math.log(d / 1e6)
        return 0.01 * math.exp(-0.3 * u - 0.2 * v + 0.05 * u * v)
    ns, ds = [1e3, 1e3, 1e4, 1e4, 1e5, 1e5], [1e5, 1e7] * 3

    def evaluate(points):
        return [1.0 + (math.log(lr) - math.log(truth(ns[i], ds[i]))) ** 2 for i, lr in points]

    rule = search(ns, ds, lambda n: 0.01, evaluate, LRSearchPlan(max_extension=6))
    assert rule.bracketed == 6 and not rule.messages
    assert [ln.slope for ln in rule.lines] == pytest.approx([-0.2 + 0.05 * math.log(n / 1e4) for n in (1e3, 1e4, 1e5)],
                                                            abs=0.01)
    for n, d in [(3e3, 3e5), (1e5, 1e7), (2e4, 2e7)]:  # between sizes, and 2x beyond the lengths searched
        assert rule(n, d) == pytest.approx(truth(n, d), rel=0.03)
    assert rule.b == pytest.approx(-0.3, abs=0.01) and "∝ D^-0.20" in rule.text()


def test_one_length_borrowed_slopes_and_the_extrapolation_limit():
    """One length per size gives a rule flat in D; a size bracketed at one length borrows the nearest size's
    slope and says so; a rate is carried at most MAX_D_EXTRAPOLATION beyond the lengths searched."""
    bowl_at = lambda n, d, lr: AnchorSearch(n, d, (lr / 2, lr, lr * 2), (2.0, 1.0, 2.0))  # noqa: E731
    flat = fit_lr_rule([bowl_at(n, 100, 0.01) for n in (1e3, 1e4, 1e5)])
    assert not flat.messages and flat(1e4, 5) == flat(1e4, 5000) == 0.01
    rule = fit_lr_rule([bowl_at(1e3, 1000, 0.04), bowl_at(1e3, 4000, 0.02), bowl_at(1e5, 1000, 0.01)])
    assert [ln.slope for ln in rule.lines] == pytest.approx([-0.5, -0.5])
    assert any("N = 1e+05: bracketed at one length only" in m for m in rule.messages)
    limit = 4000 * MAX_D_EXTRAPOLATION
    assert rule(1e3, limit * 10) == rule(1e3, limit) == pytest.approx(0.02 * MAX_D_EXTRAPOLATION ** -0.5, rel=0.01)


def test_pick_anchors_spans_the_sizes():
    """Anchors are the smallest, the largest and the size nearest the geometric middle, distinct."""
    ns = [100, 300, 1000, 2000, 10000, 10000]
    idx = pick_anchors(ns, 3)
    assert [ns[i] for i in idx] == [100, 1000, 10000]
    assert pick_anchors([5, 5, 5], 3) == [0]
    assert pick_anchors([7, 3], 1) == [1]


def test_rates_are_rounded_lattice_points():
    """Lattice rates are 1e-3·factor^k rounded to 3 significant digits; the index inverts them."""
    assert lattice_rate(4, 2.0) == 0.016 and lattice_rate(-1, 2.0) == 0.0005
    assert all(lattice_index(lattice_rate(k, 2.0), 2.0) == k for k in range(-8, 8))
    assert round_lr(0.0123456) == 0.0123


@pytest.mark.parametrize("field, value, msg", [
    ("anchors", 0, "'anchors' must be an integer >= 1 (got anchors=0)"),
    ("rates", 2, "'rates' must be an integer >= 3"),
    ("factor", 1.0, "'factor' must be a finite number > 1 (got factor=1.0)"),
    ("max_extension", -1, "'max_extension' must be an integer >= 0"),
    ("tokens_frac", 1.5, "'tokens_frac' must be in (0, 1] (got tokens_frac=1.5)"),
])
def test_plan_rejects_bad_values(field, value, msg):
    """A bad plan field is a ValueError naming the field and the value."""
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        LRSearchPlan(**{field: value})


def test_bad_inputs_are_named():
    """Bad sizes, rates, evaluators and rule arguments are ValueErrors naming the value."""
    with pytest.raises(ValueError, match="'ns' must be a non-empty sequence of positive sizes"):
        pick_anchors([1.0, -2.0], 2)
    with pytest.raises(ValueError, match=r"'lr' must be a finite number > 0 \(got lr=0\)"):
        lattice_index(0, 2.0)
    with pytest.raises(ValueError, match="'ns' must hold at least one anchor size"):
        search([], [], lambda n: 0.01, lambda p: [], LRSearchPlan())
    with pytest.raises(ValueError, match=r"'tokens' must give one run length per anchor \(got 0 for 1\)"):
        search([1e4], [], lambda n: 0.01, lambda p: [], LRSearchPlan())
    with pytest.raises(ValueError, match=r"'evaluate' must return one loss per point \(got 0 for 5\)"):
        search([1e4], [1], lambda n: 0.01, lambda p: [], LRSearchPlan())
    with pytest.raises(ValueError, match="'anchors' must hold at least one searched anchor"):
        fit_lr_rule([])
    rule = fit_lr_rule([AnchorSearch(1e4, 100, (0.01, 0.02, 0.04), (2.0, 1.0, 2.0))])
    with pytest.raises(ValueError, match=r"'tokens' must be a finite number > 0 \(got tokens=0\)"):
        rule(1e4, 0)
    rule = fit_lr_rule([AnchorSearch(1e4, 1, (0.01, 0.02, 0.04), (2.0, 1.0, 2.0))])
    with pytest.raises(ValueError, match=r"'n' must be a finite number > 0 \(got n=-1\)"):
        rule(-1, 100)
