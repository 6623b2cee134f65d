"""Tests for scaling.optimal: allocation under C = 6ND, the IsoFLOP method, calculators."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.fit import FitError
from scaling.laws import CHINCHILLA_2022, EPOCH_2024, KAPLAN_2020, KAPLAN_2020_N, ChinchillaLaw
from scaling.optimal import (
    allocation_exponents,
    chinchilla_plan,
    chinchilla_tokens,
    compute_for_loss,
    compute_optimal,
    fit_isoflop,
    isoflop_minimum,
    params_for_loss,
    tokens_per_param,
    training_steps,
)


def _kaplan_closed_form(law, C):
    """Minimum of eq 1.5 under D = C/(6N): N^(p+1) = p N_c^p C / (6 D_c), p = alpha_N/alpha_D."""
    p = law.alpha_N / law.alpha_D
    return (p * law.N_c ** p * C / (6 * law.D_c)) ** (1 / (p + 1))


def test_compute_optimal_spends_the_budget():
    """N_opt * D_opt * 6 = C for Chinchilla and Kaplan laws, scalars in, scalars out."""
    for law in (CHINCHILLA_2022, KAPLAN_2020):
        N, D = compute_optimal(law, 1e21)
        assert isinstance(N, float) and 6 * N * D == pytest.approx(1e21, rel=1e-12)


def test_compute_optimal_refuses_a_budget_below_one_parameter():
    """A budget whose closed-form optimum is under one parameter or token is an error naming C."""
    with pytest.raises(ValueError, match=r"C=10: its optimum is N=.*below one parameter"):
        compute_optimal(CHINCHILLA_2022, np.array([10.0, 1e21]))


def test_compute_optimal_numeric_search_matches_kaplan_closed_form():
    """The numeric search (used for non-Chinchilla laws) finds Kaplan's analytic optimum."""
    C = np.array([1e18, 1e21, 1e24])
    N, _ = compute_optimal(KAPLAN_2020, C)
    np.testing.assert_allclose(N, _kaplan_closed_form(KAPLAN_2020, C), rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(0.1, 1.0), beta=st.floats(0.1, 1.0), log_C=st.floats(40, 60))
def test_closed_form_agrees_with_numeric_search(alpha, beta, log_C):
    """For Chinchilla laws the closed form (eq 4) and a generic numeric search agree."""
    # E = 0: with E = 1.7 the reducible terms (~1e-9 at large C) fall below float resolution
    law = ChinchillaLaw(E=0.0, A=400.0, B=400.0, alpha=alpha, beta=beta)

    class Wrapped:  # the same law, hidden from the closed form
        def predict(self, N, D):
            return law.predict(N, D)

    C = math.exp(log_C)
    N_closed, _ = compute_optimal(law, C)
    try:
        N_num, _ = compute_optimal(Wrapped(), C)
    except ValueError:  # optimum beyond [1, C/6]: nothing to compare
        return
    assert N_num == pytest.approx(N_closed, rel=1e-5)


def test_compute_optimal_refuses_one_variable_laws():
    """A PowerLaw has no N-D trade-off: ValueError naming 'law'."""
    with pytest.raises(ValueError, match="'law' must be a law of N and D"):
        compute_optimal(KAPLAN_2020_N, 1e21)


def test_compute_optimal_refuses_non_positive_budget():
    """C must be positive: ValueError naming 'C'."""
    with pytest.raises(ValueError, match="'C' must be finite and positive"):
        compute_optimal(CHINCHILLA_2022, -1.0)


def test_allocation_exponents():
    """Chinchilla's a = beta/(alpha+beta) exactly; Kaplan eq 1.5 gives alpha_D/(alpha_N+alpha_D) locally."""
    assert allocation_exponents(CHINCHILLA_2022) == pytest.approx((0.28 / 0.62, 0.34 / 0.62))
    a, b = allocation_exponents(KAPLAN_2020, C=1e21)
    assert a == pytest.approx(0.103 / 0.179, rel=1e-5)
    assert a + b == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="'C' is needed"):
        allocation_exponents(KAPLAN_2020)


def test_tokens_per_param_of_epoch_law():
    """Epoch's refit gives ~18 tokens per parameter at Chinchilla's 5.76e23 FLOPs."""
    assert tokens_per_param(EPOCH_2024, 5.76e23) == pytest.approx(18.4, abs=0.2)


# --- IsoFLOP ----------------------------------------------------------------------------------

def _isoflop_runs(law, budgets, span=1.5, k=9):
    """Runs on a log-spaced N grid of +-span decades around each budget's true optimum."""
    C, N = [], []
    for c in budgets:
        n_opt, _ = compute_optimal(law, c)
        for n in n_opt * np.logspace(-span, span, k):
            C.append(c)
            N.append(n)
    C, N = np.array(C), np.array(N)
    return C, N, law.predict(N, C / (6 * N))


def test_isoflop_recovers_the_frontier_exponent():
    """On losses from a Chinchilla law the IsoFLOP a and b are beta/(alpha+beta), alpha/(alpha+beta)."""
    C, N, L = _isoflop_runs(EPOCH_2024, [1e18, 1e19, 1e20, 1e21])
    res = fit_isoflop(C, N, L)
    a, b = allocation_exponents(EPOCH_2024)
    assert res.a == pytest.approx(a, abs=0.01)
    assert res.b == pytest.approx(b, abs=0.01)
    assert res.a + res.b == pytest.approx(1.0, abs=1e-9)
    for m in res.minima:
        assert m.N_opt == pytest.approx(compute_optimal(EPOCH_2024, m.C)[0], rel=0.1)
    assert res.N_opt(1e20) == pytest.approx(compute_optimal(EPOCH_2024, 1e20)[0], rel=0.05)


def test_isoflop_refuses_a_minimum_on_the_grid_edge():
    """A budget whose runs all lie on one side of the optimum is a FitError saying what to add."""
    n_opt, _ = compute_optimal(EPOCH_2024, 1e20)
    N = n_opt * np.logspace(0.3, 1.5, 6)  # all larger than optimal
    L = EPOCH_2024.predict(N, 1e20 / (6 * N))
    with pytest.raises(FitError, match="grid edge .* add smaller models"):
        isoflop_minimum(N, L, 1e20)


def test_fit_isoflop_can_drop_edge_budgets_with_a_status():
    """on_edge='drop' leaves the unbracketed budget out and reports it in status and messages."""
    C, N, L = _isoflop_runs(EPOCH_2024, [1e18, 1e19, 1e20])
    n_opt, _ = compute_optimal(EPOCH_2024, 1e21)
    Ne = n_opt * np.logspace(0.3, 1.5, 6)
    C2 = np.r_[C, np.full(6, 1e21)]
    N2 = np.r_[N, Ne]
    L2 = np.r_[L, EPOCH_2024.predict(Ne, 1e21 / (6 * Ne))]
    with pytest.raises(FitError, match="C=1e\\+21"):
        fit_isoflop(C2, N2, L2)
    res = fit_isoflop(C2, N2, L2, on_edge="drop")
    assert res.status == ("grid_edge",) and len(res.minima) == 3
    assert "C=1e+21" in res.messages[0]


def test_fit_isoflop_bootstrap_gives_intervals():
    """With noisy losses the bootstrap gives an interval for a that contains the estimate."""
    C, N, L = _isoflop_runs(EPOCH_2024, [1e18, 1e19, 1e20])
    L = L * np.exp(0.002 * np.random.default_rng(0).standard_normal(L.size))
    res = fit_isoflop(C, N, L, bootstrap=50)
    assert res.intervals["a"].low <= res.a <= res.intervals["a"].high


def test_isoflop_needs_two_budgets():
    """A single budget gives no exponent: FitError."""
    C, N, L = _isoflop_runs(EPOCH_2024, [1e19])
    with pytest.raises(FitError, match="2 or more budgets"):
        fit_isoflop(C, N, L)


def test_isoflop_refuses_concave_curve():
    """A curve that bends down has no minimum: FitError."""
    N = np.logspace(6, 8, 5)
    with pytest.raises(FitError, match="not convex"):
        isoflop_minimum(N, 3.0 - (np.log(N) - 16) ** 2 * 0.01, 1e18)


# --- calculators ------------------------------------------------------------------------------

@pytest.mark.parametrize("law, tokens", [(CHINCHILLA_2022, None), (CHINCHILLA_2022, 1e12),
                                         (KAPLAN_2020, None), (KAPLAN_2020, 1e12),
                                         (KAPLAN_2020_N, None)])
def test_params_for_loss_round_trips(law, tokens):
    """The law at the returned N (and the given tokens) predicts the target loss."""
    target = 2.2 if law is CHINCHILLA_2022 else 2.6
    N = params_for_loss(law, target, tokens=tokens)
    got = law.predict(N) if tokens is None and law is KAPLAN_2020_N else law.predict(N, tokens or 1e300)
    assert float(got) == pytest.approx(target, rel=1e-9)


def test_params_for_loss_refuses_unreachable_target():
    """A target at or below E (plus the data term) is a ValueError naming 'target'."""
    with pytest.raises(ValueError, match="'target' loss 1.6 is unreachable: it must exceed 1.69"):
        params_for_loss(CHINCHILLA_2022, 1.6)


def test_compute_for_loss_reaches_the_target_optimally():
    """At the returned budget the compute-optimal model's loss equals the target."""
    C, N, D = compute_for_loss(CHINCHILLA_2022, 2.0)
    assert float(CHINCHILLA_2022.predict(N, D)) == pytest.approx(2.0, rel=1e-9)
    assert 6 * N * D == pytest.approx(C, rel=1e-9)


def test_chinchilla_tokens_and_plan():
    """20 tokens per parameter; Chinchilla's 70B gives 1.4T tokens and 5.88e23 FLOPs by 6ND."""
    assert chinchilla_tokens(70e9) == pytest.approx(1.4e12)
    plan = chinchilla_plan(70e9, batch_size=1536, seq_len=2048)
    assert plan.flops == pytest.approx(5.88e23)
    assert plan.steps == math.ceil(1.4e12 / (1536 * 2048))
    with pytest.raises(ValueError, match="'batch_size' and 'seq_len' must be given together"):
        chinchilla_plan(70e9, batch_size=8)


def test_training_steps_rounds_up_exactly():
    """Steps are tokens / (batch * seq) rounded up, exact for integer token counts."""
    assert training_steps(1_000_000, 4, 250) == 1000
    assert training_steps(1_000_001, 4, 250) == 1001
    with pytest.raises(ValueError, match="'seq_len' must be a positive integer"):
        training_steps(1e6, 4, 0)


def test_fit_isoflop_reads_tokens_from_d_when_given():
    """With D passed explicitly (here exactly C/6N) the minima and exponents are unchanged."""
    C, N, L = _isoflop_runs(EPOCH_2024, [1e18, 1e19, 1e20])
    plain = fit_isoflop(C, N, L)
    given = fit_isoflop(C, N, L, D=C / (6 * N))
    assert given.b == pytest.approx(plain.b, abs=1e-9)
    assert given.minima[1].D_opt == pytest.approx(plain.minima[1].D_opt, rel=1e-9)


def test_allocation_refuses_a_law_with_a_zero_exponent():
    """A ChinchillaLaw with alpha or beta = 0 has no frontier: a ValueError naming both, not a warning."""
    flat = ChinchillaLaw(E=1.0, A=1.0, B=1.0, alpha=0.0, beta=0.3)
    with pytest.raises(ValueError, match=r"alpha=0.0, beta=0.3"):
        compute_optimal(flat, 1e20)
    with pytest.raises(ValueError, match=r"alpha=0.0, beta=0.3"):
        allocation_exponents(flat)


def test_calculators_name_bad_targets_and_counts():
    """A NaN or non-numeric target, step count or budget is a ValueError naming the argument and value."""
    with pytest.raises(ValueError, match=r"'target' must be a finite loss > 0 \(got target=nan\)"):
        params_for_loss(CHINCHILLA_2022, math.nan)
    with pytest.raises(ValueError, match=r"got target=inf"):
        params_for_loss(CHINCHILLA_2022, math.inf)
    with pytest.raises(ValueError, match=r"got target=nan"):
        compute_for_loss(CHINCHILLA_2022, math.nan)
    with pytest.raises(ValueError, match=r"'batch_size' must be a positive integer \(got batch_size=nan\)"):
        training_steps(1e6, math.nan, 4)
    with pytest.raises(ValueError, match=r"got seq_len='a'"):
        training_steps(1e6, 4, "a")
    with pytest.raises(ValueError, match=r"'C' must be a positive number or array \(got C='x'\)"):
        compute_optimal(CHINCHILLA_2022, "x")


def test_isoflop_names_bad_bootstrap_level_and_lengths():
    """fit_isoflop names a negative bootstrap or a bad level; isoflop_minimum names mismatched D."""
    C, N, L = [1e18] * 3 + [1e19] * 3, [1, 2, 3, 1, 2, 3], [3, 2, 3, 3, 2, 3]
    with pytest.raises(ValueError, match=r"got bootstrap=-1"):
        fit_isoflop(C, N, L, bootstrap=-1)
    with pytest.raises(ValueError, match=r"got level=1.5"):
        fit_isoflop(C, N, L, bootstrap=10, level=1.5)
    with pytest.raises(ValueError, match=r"'D' and 'N' must have the same length \(got 2 and 3\)"):
        isoflop_minimum([1, 2, 3], [3, 2, 3], 1e18, D=[1, 2])
