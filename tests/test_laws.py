"""Tests for scaling.laws: law forms, published instances, the closed-form frontier."""

import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from scaling.laws import (
    CHINCHILLA_2022,
    CHINCHILLA_2022_UNROUNDED,
    EPOCH_2024,
    KAPLAN_2020,
    KAPLAN_2020_N,
    ChinchillaLaw,
    KaplanLaw,
    PowerLaw,
    chinchilla_frontier,
    frontier_exponents,
)

exponents = st.floats(0.05, 1.5)
scales = st.floats(1e3, 1e15)


def test_power_law_predict_matches_formula():
    """PowerLaw.predict is E + (x_c/x)^alpha."""
    law = PowerLaw(alpha=0.3, x_c=1e6, E=1.5)
    x = np.array([1e3, 1e6, 1e9])
    np.testing.assert_allclose(law.predict(x), 1.5 + (1e6 / x) ** 0.3, rtol=1e-14)


def test_power_law_without_irreducible_term_is_kaplan_form():
    """E defaults to 0, Kaplan's pure L(N) = (N_c/N)^alpha_N (eq 1.1)."""
    assert KAPLAN_2020_N.E == 0.0
    assert KAPLAN_2020_N.predict(8.8e13) == pytest.approx(1.0)


@settings(max_examples=50, deadline=None)
@given(alpha=exponents, x_c=scales, E=st.floats(0.0, 5.0), log_x=st.floats(0.0, 30.0))
def test_power_law_inverse_round_trips(alpha, x_c, E, log_x):
    """inverse(predict(x)) returns x wherever the power term is resolvable in float64."""
    law = PowerLaw(alpha, x_c, E)
    x = math.exp(log_x)
    y = float(law.predict(x))
    if y - E < 1e-8 * max(E, 1.0):  # the power term vanished below rounding
        return
    assert float(law.inverse(y)) == pytest.approx(x, rel=1e-5)


def test_power_law_inverse_refuses_loss_below_irreducible():
    """A target at or below E is a ValueError naming 'loss'."""
    with pytest.raises(ValueError, match="'loss' must exceed the irreducible loss E=1.5"):
        PowerLaw(0.3, 1e6, 1.5).inverse(1.5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(alpha=-0.1, x_c=1.0), "'alpha' must be positive"),
    (dict(alpha=0.1, x_c=float("nan")), "'x_c' must be a finite number"),
    (dict(alpha=0.1, x_c=1.0, E=-1.0), "'E' must be non-negative"),
])
def test_power_law_validates_fields(kwargs, message):
    """Invalid parameters are a ValueError naming the field and its value."""
    with pytest.raises(ValueError, match=message):
        PowerLaw(**kwargs)


def test_predict_refuses_non_positive_input():
    """predict names the argument that is not positive."""
    with pytest.raises(ValueError, match="'D' must be finite and positive"):
        CHINCHILLA_2022.predict(1e9, 0.0)


def test_laws_are_frozen():
    """Law instances are immutable."""
    with pytest.raises(FrozenInstanceError):
        CHINCHILLA_2022.E = 2.0


def test_chinchilla_predict_matches_formula():
    """ChinchillaLaw.predict is E + A/N^alpha + B/D^beta (Hoffmann eq 2)."""
    N, D = 7e10, 1.4e12
    law = CHINCHILLA_2022
    assert law.predict(N, D) == pytest.approx(1.69 + 406.4 / N ** 0.34 + 410.7 / D ** 0.28, rel=1e-13)


def test_unrounded_chinchilla_rounds_to_the_printed_law():
    """The TeX-source digits round to the printed E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28."""
    u = CHINCHILLA_2022_UNROUNDED
    assert round(u.E, 2) == CHINCHILLA_2022.E
    assert round(u.A, 1) == CHINCHILLA_2022.A
    assert round(u.B, 1) == CHINCHILLA_2022.B
    assert (round(u.alpha, 2), round(u.beta, 2)) == (CHINCHILLA_2022.alpha, CHINCHILLA_2022.beta)


@settings(max_examples=30, deadline=None)
@given(a=st.floats(0, 20), b=st.floats(0, 20), e=st.floats(-2, 2), alpha=exponents, beta=exponents)
def test_chinchilla_log_params_round_trip(a, b, e, alpha, beta):
    """from_log and log_params are inverse: (a, b, e) = (log A, log B, log E)."""
    law = ChinchillaLaw.from_log(a, b, e, alpha, beta)
    np.testing.assert_allclose(law.log_params, (a, b, e, alpha, beta), rtol=1e-12, atol=1e-12)


def test_kaplan_law_reduces_to_l_of_n_with_infinite_data():
    """Kaplan eq 1.5 with D -> infinity is (N_c/N)^alpha_N."""
    N = 1e9
    assert KAPLAN_2020.predict(N, 1e300) == pytest.approx((6.4e13 / N) ** 0.076, rel=1e-12)


def test_kaplan_law_validates_fields():
    """A non-positive Kaplan constant is a ValueError naming it."""
    with pytest.raises(ValueError, match="'D_c' must be positive"):
        KaplanLaw(alpha_N=0.076, alpha_D=0.103, N_c=6.4e13, D_c=0.0)


def test_frontier_exponents_sum_to_one():
    """a + b = 1 and a = beta/(alpha+beta) (Hoffmann eq 4)."""
    a, b = frontier_exponents(0.34, 0.28)
    assert a + b == pytest.approx(1.0)
    assert a == pytest.approx(0.28 / 0.62)


@settings(max_examples=40, deadline=None)
@given(alpha=exponents, beta=exponents, log_A=st.floats(0, 15), log_B=st.floats(0, 15),
       log_C=st.floats(40, 60))
def test_chinchilla_frontier_minimizes_loss_on_the_budget(alpha, beta, log_A, log_B, log_C):
    """The closed form (eq 4) spends exactly C = 6ND and no N on that budget has lower loss."""
    law = ChinchillaLaw(E=1.0, A=math.exp(log_A), B=math.exp(log_B), alpha=alpha, beta=beta)
    C = math.exp(log_C)
    N, D = chinchilla_frontier(law.A, law.B, alpha, beta, C)
    assert 6 * N * D == pytest.approx(C, rel=1e-10)
    res = minimize_scalar(lambda u: float(law.predict(math.exp(u), C / (6 * math.exp(u)))),
                          bounds=(math.log(N) - 3, math.log(N) + 3), method="bounded",
                          options={"xatol": 1e-10})
    assert float(law.predict(N, D)) <= res.fun * (1 + 1e-12)


def test_epoch_frontier_gives_about_18_tokens_per_param():
    """Besiroglu et al.: Epoch's law allocates ~72B params and ~1.33T tokens at 5.76e23 FLOPs."""
    N, D = chinchilla_frontier(EPOCH_2024.A, EPOCH_2024.B, EPOCH_2024.alpha, EPOCH_2024.beta, 5.76e23)
    assert N == pytest.approx(72e9, rel=0.02)
    assert D == pytest.approx(1.33e12, rel=0.02)
