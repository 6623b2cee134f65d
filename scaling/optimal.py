"""Compute-optimal allocation and the budget calculators.

- `compute_optimal(law, C)`: the (N, D) minimizing the law's loss under C = 6ND (Kaplan
  §2.1, Hoffmann §3): Hoffmann's closed form (eq 4) for a ChinchillaLaw, a bounded
  one-dimensional search in log N for any other law with `predict(N, D)`.
- The IsoFLOP method (Hoffmann §3.2, Approach 2): a parabola in log N per budget, its
  minimum refused when it is not bracketed by the runs, and power laws N_opt ∝ C^a,
  D_opt ∝ C^b through the minima.
- Calculators: parameters needed for a target loss, the compute for a target loss,
  Chinchilla-optimal tokens (~20 per parameter, Hoffmann Table 3), steps for a batch and
  sequence length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np
from scipy.optimize import minimize_scalar

from scaling.fit import FitError, FitStatus
from scaling.fit.bootstrap import Interval, percentile_interval
from scaling.laws import (
    ChinchillaLaw,
    KaplanLaw,
    PowerLaw,
    chinchilla_frontier,
    frontier_exponents,
)

CHINCHILLA_TOKENS_PER_PARAM = 20.0  # Hoffmann Table 3: D/N is 20-22 along the frontier


def _positive(name: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name!r} must be a positive number or array (got {name}={value!r})") from None
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        bad = arr[~(np.isfinite(arr) & (arr > 0))].ravel()[0]
        raise ValueError(f"{name!r} must be finite and positive (got {name}={float(bad)!r})")
    return arr


def _two_variable(law) -> None:
    if isinstance(law, PowerLaw) or not callable(getattr(law, "predict", None)):
        raise ValueError(f"'law' must be a law of N and D with predict(N, D), such as ChinchillaLaw "
                         f"or KaplanLaw (got {type(law).__name__})")
    if isinstance(law, ChinchillaLaw) and not (law.alpha > 0 and law.beta > 0):
        # eq 4 divides by alpha and beta: with a zero exponent the loss does not fall with N
        # (or D), so no finite allocation is optimal
        raise ValueError(f"'law' has no compute-optimal frontier: its exponents must be positive "
                         f"(got alpha={law.alpha!r}, beta={law.beta!r})")


def _target(target) -> float:
    try:
        value = float(target)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"'target' must be a finite loss > 0 (got target={target!r})")
    return value


# --- allocation under C = 6ND ----------------------------------------------------------------

def compute_optimal(law, C):
    """(N_opt, D_opt) minimizing law.predict(N, D) subject to 6·N·D = C (C in FLOPs).

    Scalars for a scalar C, arrays for an array. Closed form for a ChinchillaLaw (Hoffmann
    eq 4); otherwise a bounded search over log N in [1, C/6], an error if the minimum is
    at an end of that range (the law has no compute-optimal size at this budget).
    """
    _two_variable(law)
    C = _positive("C", C)
    if isinstance(law, ChinchillaLaw):
        N, D = chinchilla_frontier(law.A, law.B, law.alpha, law.beta, C)
        small = np.atleast_1d(np.minimum(N, D) < 1.0)
        if small.any():  # the closed form has no floor: below one parameter or token it means nothing
            c, n, d = (float(np.atleast_1d(v)[small][0]) for v in (C, N, D))
            raise ValueError(f"ChinchillaLaw has no compute-optimal size at C={c:.3g}: its optimum is "
                             f"N={n:.3g}, D={d:.3g}, below one parameter or one token")
        return (float(N), float(D)) if C.ndim == 0 else (N, D)
    flat = np.atleast_1d(C).ravel()
    N = np.array([_numeric_optimum(law, c) for c in flat]).reshape(C.shape)
    D = C / (6.0 * N)
    return (float(N), float(D)) if C.ndim == 0 else (N, D)


def _numeric_optimum(law, C: float) -> float:
    hi = math.log(C / 6.0)  # D >= 1 token
    if hi <= 0:
        raise ValueError(f"'C' must exceed 6 FLOPs (one parameter, one token) (got C={C!r})")
    grid = np.linspace(0.0, hi, 401)
    loss = np.asarray(law.predict(np.exp(grid), C / (6.0 * np.exp(grid))), dtype=float)
    i = int(np.nanargmin(loss))
    if i in (0, grid.size - 1):
        raise ValueError(f"{type(law).__name__} has no compute-optimal N at C={C:.3g}: its loss "
                         f"is lowest at the end of the search range (N={math.exp(grid[i]):.3g})")
    res = minimize_scalar(lambda u: float(law.predict(math.exp(u), C / (6.0 * math.exp(u)))),
                          bounds=(grid[i - 1], grid[i + 1]), method="bounded",
                          options={"xatol": 1e-10})
    return math.exp(res.x)


def allocation_exponents(law, C=None) -> tuple[float, float]:
    """(a, b) of N_opt ∝ C^a, D_opt ∝ C^b: exact for a ChinchillaLaw, local at C otherwise."""
    _two_variable(law)
    if isinstance(law, ChinchillaLaw):
        a, b = frontier_exponents(law.alpha, law.beta)
        return float(a), float(b)
    if C is None:
        raise ValueError(f"'C' is needed for the local exponents of a {type(law).__name__}")
    c = float(_positive("C", C))
    h = 0.05  # log step of a central difference; the frontier is smooth on this scale
    (n1, d1), (n2, d2) = compute_optimal(law, c * math.exp(-h)), compute_optimal(law, c * math.exp(h))
    return math.log(n2 / n1) / (2 * h), math.log(d2 / d1) / (2 * h)


def tokens_per_param(law, C):
    """D_opt / N_opt at budget C under the law."""
    N, D = compute_optimal(law, C)
    return D / N


# --- the IsoFLOP method (Hoffmann Approach 2) -------------------------------------------------

@dataclass(frozen=True)
class IsoFLOPMinimum:
    """The vertex of the parabola L(log N) at one budget."""

    C: float
    N_opt: float
    D_opt: float
    loss: float  # the parabola's value at its vertex
    curvature: float  # d²L/d(log N)² (> 0)
    n_points: int


@dataclass(frozen=True, eq=False)
class IsoFLOPResult:
    """Power laws N_opt = k_N·C^a and D_opt = k_D·C^b through the IsoFLOP minima."""

    minima: tuple[IsoFLOPMinimum, ...]
    a: float
    b: float
    k_N: float
    k_D: float
    intervals: Mapping[str, Interval] = field(default_factory=dict)  # 'a', 'b' when bootstrapped
    status: tuple[FitStatus, ...] = ()  # GRID_EDGE when a budget was dropped
    messages: tuple[str, ...] = ()

    def N_opt(self, C):
        """N_opt at budget C from the fitted power law."""
        return self.k_N * np.asarray(C, dtype=float) ** self.a

    def D_opt(self, C):
        """D_opt at budget C from the fitted power law."""
        return self.k_D * np.asarray(C, dtype=float) ** self.b


def isoflop_minimum(N, L, C: float, D=None) -> IsoFLOPMinimum:
    """Fit L = p0 + p1 u + p2 u² (u = log N) to one budget's runs; FitError if not bracketed.

    The minimum is refused (FitError naming the budget) when the curve is not convex, when
    the lowest observed loss is at the smallest or largest N, or when the vertex falls outside
    the sampled range: the optimum was not bracketed, so add smaller or larger models.
    D (tokens per run) defaults to C/(6N); when given, D_opt is read off a line of log D
    against log N.
    """
    N = _positive("N", N).ravel()
    L = _positive("L", L).ravel()
    if N.size != L.size:
        raise ValueError(f"'N' and 'L' must have the same length (got {N.size} and {L.size})")
    if np.unique(N).size < 3:
        raise ValueError(f"'N' must take at least 3 distinct values per budget for a parabola "
                         f"(got {np.unique(N).size} at C={C:.3g})")
    u = np.log(N)
    m = u.mean()
    p2, p1, p0 = np.polyfit(u - m, L, 2)
    lo, hi = u.min(), u.max()
    if p2 <= 0:
        raise FitError(f"the IsoFLOP curve at C={C:.3g} is not convex (curvature {2 * p2:.3g}): "
                       "no minimum to read off")
    v = -p1 / (2 * p2) + m
    order = np.argsort(u)
    i_min = int(np.argmin(L[order]))
    if i_min in (0, N.size - 1) or not lo < v < hi:
        raise FitError(f"the IsoFLOP minimum at C={C:.3g} is on the grid edge (vertex N="
                       f"{math.exp(v):.3g}, lowest loss at N={N[order][i_min]:.3g}, runs span "
                       f"N={math.exp(lo):.3g}..{math.exp(hi):.3g}): add "
                       f"{'smaller' if v <= lo or i_min == 0 else 'larger'} models")
    N_opt = math.exp(v)
    if D is None:
        D_opt = C / (6.0 * N_opt)
    else:
        D = _positive("D", D).ravel()
        if D.size != N.size:
            raise ValueError(f"'D' and 'N' must have the same length (got {D.size} and {N.size})")
        slope, icpt = np.polyfit(u, np.log(D), 1)
        D_opt = math.exp(icpt + slope * v)
    return IsoFLOPMinimum(C=float(C), N_opt=N_opt, D_opt=D_opt,
                          loss=float(p0 - p1 * p1 / (4 * p2)), curvature=float(2 * p2),
                          n_points=int(N.size))


def fit_isoflop(C, N, L, D=None, *, on_edge: str = "raise", bootstrap: int = 0,
                level: float = 0.8, seed: int | None = 0) -> IsoFLOPResult:
    """Hoffmann's Approach 2 on runs (C_i, N_i, L_i): minima per budget, then power laws in C.

    Runs are grouped by budget (C equal to 1e-6 relative). on_edge="raise" refuses a
    budget whose minimum is not bracketed (FitError); "drop" leaves it out and says so in
    `status`/`messages`. bootstrap resamples runs within each budget; intervals at `level`
    (Hoffmann Table 2 quotes the 10th-90th percentiles, level 0.8).
    """
    if on_edge not in ("raise", "drop"):
        raise ValueError(f"'on_edge' must be 'raise' or 'drop' (got {on_edge!r})")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, float, np.number)) \
            or not (math.isfinite(bootstrap) and bootstrap >= 0 and int(bootstrap) == bootstrap):
        raise ValueError(f"'bootstrap' must be a non-negative integer (got bootstrap={bootstrap!r})")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"'level' must be in (0, 1) (got level={level!r})")
    C = _positive("C", C).ravel()
    N = _positive("N", N).ravel()
    L = _positive("L", L).ravel()
    Dv = None if D is None else _positive("D", D).ravel()
    sizes = {len(v) for v in (C, N, L) + (() if Dv is None else (Dv,))}
    if len(sizes) != 1:
        raise ValueError(f"'C', 'N', 'L' (and 'D') must have the same length (got {C.size}, "
                         f"{N.size}, {L.size}{'' if Dv is None else f', {Dv.size}'})")
    groups = _budgets(C)
    minima, messages = [], []
    for c, rows in groups:
        try:
            minima.append(isoflop_minimum(N[rows], L[rows], c, None if Dv is None else Dv[rows]))
        except FitError as e:
            if on_edge == "raise":
                raise
            messages.append(f"dropped: {e}")
    if len(minima) < 2:
        raise FitError(f"need IsoFLOP minima at 2 or more budgets for a power law in C "
                       f"(got {len(minima)} of {len(groups)} budgets)")
    a, k_N, b, k_D = _power_laws(minima)
    intervals = {}
    if bootstrap:
        rng = np.random.default_rng(seed)
        draws = np.full((int(bootstrap), 2), np.nan)
        for r in range(int(bootstrap)):
            mins = []
            for c, rows in groups:
                pick = rng.choice(rows, size=rows.size, replace=True)
                try:
                    mins.append(isoflop_minimum(N[pick], L[pick], c, None if Dv is None else Dv[pick]))
                except (FitError, ValueError):
                    continue  # a resample that does not bracket this budget
            if len(mins) >= 2:
                ra, _, rb, _ = _power_laws(mins)
                draws[r] = ra, rb
        intervals = {"a": percentile_interval(draws[:, 0], level),
                     "b": percentile_interval(draws[:, 1], level)}
    return IsoFLOPResult(minima=tuple(minima), a=a, b=b, k_N=k_N, k_D=k_D,
                         intervals=MappingProxyType(intervals),
                         status=(FitStatus.GRID_EDGE,) if messages else (), messages=tuple(messages))


def _budgets(C: np.ndarray) -> list[tuple[float, np.ndarray]]:
    order = np.argsort(C)
    groups, start = [], 0
    for i in range(1, C.size + 1):
        if i == C.size or C[order[i]] > C[order[start]] * (1 + 1e-6):
            rows = order[start:i]
            groups.append((float(np.exp(np.mean(np.log(C[rows])))), rows))
            start = i
    return groups


def _power_laws(minima) -> tuple[float, float, float, float]:
    lc = np.log([m.C for m in minima])
    a, ln_kn = np.polyfit(lc, np.log([m.N_opt for m in minima]), 1)
    b, ln_kd = np.polyfit(lc, np.log([m.D_opt for m in minima]), 1)
    return float(a), math.exp(ln_kn), float(b), math.exp(ln_kd)


# --- calculators -------------------------------------------------------------------------------

def params_for_loss(law, target: float, *, tokens: float | None = None) -> float:
    """Parameters N at which the law reaches loss `target` (with infinite data, or `tokens`).

    PowerLaw: its inverse. ChinchillaLaw: A/N^alpha = target - E - B/D^beta. KaplanLaw:
    (N_c/N)^(alpha_N/alpha_D) = target^(1/alpha_D) - D_c/D. ValueError when unreachable.
    """
    target = _target(target)
    if isinstance(law, PowerLaw):
        if tokens is not None:
            raise ValueError("'tokens' applies to laws of N and D, not to a PowerLaw")
        return float(law.inverse(target))
    data = 0.0 if tokens is None else float(_positive("tokens", tokens))
    if isinstance(law, ChinchillaLaw):
        room = target - law.E - (law.B / data ** law.beta if data else 0.0)
        floor = target - room
        if room <= 0 or law.alpha == 0:
            raise ValueError(f"'target' loss {target:g} is unreachable: it must exceed {floor:.4g} "
                             f"(E{' + B/D^beta' if data else ''})")
        return (law.A / room) ** (1.0 / law.alpha)
    if isinstance(law, KaplanLaw):
        room = target ** (1.0 / law.alpha_D) - (law.D_c / data if data else 0.0)
        if not target > 0 or room <= 0:
            floor = (law.D_c / data) ** law.alpha_D if data else 0.0
            raise ValueError(f"'target' loss {target:g} is unreachable: it must exceed {floor:.4g}")
        return law.N_c * room ** (-law.alpha_D / law.alpha_N)
    raise ValueError(f"'law' must be a PowerLaw, ChinchillaLaw or KaplanLaw (got {type(law).__name__})")


def compute_for_loss(law, target: float) -> tuple[float, float, float]:
    """(C, N_opt, D_opt): the least compute whose compute-optimal model reaches `target`."""
    _two_variable(law)
    target = _target(target)

    def gap(log_c: float) -> float:
        n, d = compute_optimal(law, math.exp(log_c))
        return float(law.predict(n, d)) - target

    lo, hi = math.log(1e6), math.log(1e40)
    if gap(hi) > 0:
        raise ValueError(f"'target' loss {target:g} is unreachable below C=1e40 FLOPs "
                         f"(the law's compute-optimal loss there is {gap(hi) + target:.4g})")
    if gap(lo) <= 0:
        raise ValueError(f"'target' loss {target:g} is already reached at C=1e6 FLOPs")
    for _ in range(200):  # bisection in log C: the optimal loss falls monotonically with C
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if gap(mid) > 0 else (lo, mid)
        if hi - lo < 1e-12:
            break
    C = math.exp(hi)
    N, D = compute_optimal(law, C)
    return C, N, D


def chinchilla_tokens(N, tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM):
    """Compute-optimal training tokens for N parameters by Hoffmann's rule of ~20 per parameter."""
    if isinstance(tokens_per_param, bool) or not isinstance(tokens_per_param, (int, float, np.number)) \
            or not (math.isfinite(tokens_per_param) and tokens_per_param > 0):
        raise ValueError(f"'tokens_per_param' must be positive (got {tokens_per_param!r})")
    N = _positive("N", N)
    out = tokens_per_param * N
    return float(out) if out.ndim == 0 else out


def training_steps(tokens: float, batch_size: int, seq_len: int) -> int:
    """Optimizer steps to see `tokens` at `batch_size` sequences of `seq_len` tokens (rounded up)."""
    for name, v in (("batch_size", batch_size), ("seq_len", seq_len)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(v) or int(v) != v or v <= 0:
            raise ValueError(f"{name!r} must be a positive integer (got {name}={v!r})")
    tokens = float(_positive("tokens", tokens))
    per_step = int(batch_size) * int(seq_len)
    if tokens.is_integer():  # exact integer arithmetic: no 1e12/1e6 = 1000000.0000001 surprises
        return -(-int(tokens) // per_step)
    return int(math.ceil(tokens / per_step))


@dataclass(frozen=True)
class TrainingPlan:
    """A Chinchilla-style plan for N parameters: tokens, FLOPs (6ND) and steps."""

    params: float
    tokens: float
    flops: float
    steps: int | None


def chinchilla_plan(N: float, *, tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM,
                    batch_size: int | None = None, seq_len: int | None = None) -> TrainingPlan:
    """Tokens, 6ND FLOPs and (with batch_size and seq_len) steps for training N parameters."""
    tokens = chinchilla_tokens(float(N), tokens_per_param)
    steps = None
    if batch_size is not None or seq_len is not None:
        if batch_size is None or seq_len is None:
            raise ValueError("'batch_size' and 'seq_len' must be given together "
                             f"(got batch_size={batch_size!r}, seq_len={seq_len!r})")
        steps = training_steps(tokens, batch_size, seq_len)
    return TrainingPlan(params=float(N), tokens=tokens, flops=6.0 * float(N) * tokens, steps=steps)
