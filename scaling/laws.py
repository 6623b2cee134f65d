"""Scaling-law forms as frozen dataclasses with `predict`, and the published instances.

Losses are in nats/token. N is parameters, D training tokens, C compute (the unit of C is
whatever the law was fitted in: Kaplan's L(C) laws use PF-days, 8.64e19 FLOPs).
numpy only: fitting lives in `scaling.fit`, allocation in `scaling.optimal`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _check(name: str, value: float, *, positive: bool = True) -> None:
    """ValueError naming `name` unless `value` is finite and positive (or non-negative)."""
    if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value):
        raise ValueError(f"{name!r} must be a finite number (got {name}={value!r})")
    value = float(value)
    if positive and value <= 0:
        raise ValueError(f"{name!r} must be positive (got {name}={value!r})")
    if not positive and value < 0:
        raise ValueError(f"{name!r} must be non-negative (got {name}={value!r})")


def _positive_array(name: str, x) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        bad = arr[~(np.isfinite(arr) & (arr > 0))].ravel()[0]
        raise ValueError(f"{name!r} must be finite and positive (got {name}={float(bad)!r})")
    return arr


@dataclass(frozen=True)
class PowerLaw:
    """L(x) = E + (x_c / x)^alpha; E = 0 gives Kaplan's pure laws (eqs 1.1-1.3)."""

    alpha: float
    x_c: float
    E: float = 0.0

    def __post_init__(self) -> None:
        _check("alpha", self.alpha)
        _check("x_c", self.x_c)
        _check("E", self.E, positive=False)

    def predict(self, x) -> np.ndarray:
        """The loss at `x` (array or scalar, positive)."""
        x = _positive_array("x", x)
        # exp/log form: (x_c/x)^alpha overflows for tiny x long before its log does
        return self.E + np.exp(self.alpha * (math.log(self.x_c) - np.log(x)))

    def inverse(self, loss) -> np.ndarray:
        """The x at which the law predicts `loss`; loss must exceed E."""
        loss = np.asarray(loss, dtype=float)
        if not np.all(np.isfinite(loss)) or np.any(loss <= self.E):
            bad = loss[~(np.isfinite(loss) & (loss > self.E))].ravel()[0]
            raise ValueError(f"'loss' must exceed the irreducible loss E={self.E:g} (got loss={float(bad)!r})")
        return self.x_c * (loss - self.E) ** (-1.0 / self.alpha)


@dataclass(frozen=True)
class KaplanLaw:
    """Kaplan et al. 2020 eq 1.5: L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D."""

    alpha_N: float
    alpha_D: float
    N_c: float
    D_c: float

    def __post_init__(self) -> None:
        for name in ("alpha_N", "alpha_D", "N_c", "D_c"):
            _check(name, getattr(self, name))

    def predict(self, N, D) -> np.ndarray:
        """The loss of N parameters trained on D tokens."""
        N, D = _positive_array("N", N), _positive_array("D", D)
        return ((self.N_c / N) ** (self.alpha_N / self.alpha_D) + self.D_c / D) ** self.alpha_D


@dataclass(frozen=True)
class ChinchillaLaw:
    """Hoffmann et al. 2022 eq 2: L(N, D) = E + A/N^alpha + B/D^beta."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def __post_init__(self) -> None:
        _check("E", self.E, positive=False)
        _check("A", self.A)
        _check("B", self.B)
        # an exponent of 0 is a legitimate (degenerate) fit at its bound, so allowed here
        _check("alpha", self.alpha, positive=False)
        _check("beta", self.beta, positive=False)

    @classmethod
    def from_log(cls, a: float, b: float, e: float, alpha: float, beta: float) -> "ChinchillaLaw":
        """Build from Hoffmann's fitted parameters: A = e^a, B = e^b, E = e^e (eq 3)."""
        return cls(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=float(alpha), beta=float(beta))

    @property
    def log_params(self) -> tuple[float, float, float, float, float]:
        """(a, b, e, alpha, beta) = (log A, log B, log E, alpha, beta), Hoffmann's eq 3 variables."""
        e = math.log(self.E) if self.E > 0 else -math.inf
        return (math.log(self.A), math.log(self.B), e, self.alpha, self.beta)

    def predict(self, N, D) -> np.ndarray:
        """The loss of N parameters trained on D tokens."""
        N, D = _positive_array("N", N), _positive_array("D", D)
        return (self.E + np.exp(math.log(self.A) - self.alpha * np.log(N))
                + np.exp(math.log(self.B) - self.beta * np.log(D)))


def frontier_exponents(alpha, beta):
    """(a, b) with N_opt ∝ C^a, D_opt ∝ C^b: a = beta/(alpha+beta), b = alpha/(alpha+beta) (Hoffmann eq 4)."""
    alpha, beta = np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float)
    return beta / (alpha + beta), alpha / (alpha + beta)


def chinchilla_frontier(A, B, alpha, beta, C):
    """(N_opt, D_opt) minimizing E + A/N^alpha + B/D^beta under C = 6ND (Hoffmann eq 4).

    N_opt = G (C/6)^a, D_opt = (C/6)^b / G, G = (alpha A / (beta B))^(1/(alpha+beta)).
    Broadcasts over arrays of parameters (bootstrap samples) and budgets.
    """
    A, B, alpha, beta = (np.asarray(v, dtype=float) for v in (A, B, alpha, beta))
    C = _positive_array("C", C)
    a, b = frontier_exponents(alpha, beta)
    log_G = (np.log(alpha * A) - np.log(beta * B)) / (alpha + beta)
    log_c6 = np.log(C / 6.0)
    return np.exp(log_G + a * log_c6), np.exp(b * log_c6 - log_G)


# --- published instances (each cites its paper, table or equation) ---------------------------

# Kaplan et al. 2020 Table 2: the joint L(N, D) fit of eq 1.5 (N non-embedding, WebText2).
KAPLAN_2020 = KaplanLaw(alpha_N=0.076, alpha_D=0.103, N_c=6.4e13, D_c=1.8e13)
# Kaplan eqs 1.1-1.3 and Table 5: the one-variable laws (C in PF-days).
KAPLAN_2020_N = PowerLaw(alpha=0.076, x_c=8.8e13)
KAPLAN_2020_D = PowerLaw(alpha=0.095, x_c=5.4e13)
KAPLAN_2020_CMIN = PowerLaw(alpha=0.050, x_c=3.1e8)
KAPLAN_2020_C = PowerLaw(alpha=0.057, x_c=1.6e7)

# Hoffmann et al. 2022 eq 10, as printed (rounded): Approach 3.
CHINCHILLA_2022 = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
# The same fit with the digits of the paper's TeX source (log A, log B, log E).
CHINCHILLA_2022_UNROUNDED = ChinchillaLaw.from_log(
    a=6.0073404, b=6.0179186, e=0.5267228, alpha=0.33917084, beta=0.2849083)
# Besiroglu et al. 2024 (Epoch AI), the refit on 240 points of Chinchilla Fig. 4.
EPOCH_2024 = ChinchillaLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
