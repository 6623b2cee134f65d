"""Fitting scaling laws the way Hoffmann et al. 2022 did, made fast and checked.

- `fit_chinchilla`: L = E + A/N^alpha + B/D^beta by Chinchilla App. D.2 (eq 3): Huber
  (delta = 1e-3) on log-space residuals of the log-sum-exp form, L-BFGS from the grid
  alpha, beta in {0, 0.5, .., 2}, e in {-1, -0.5, .., 1}, a, b in {0, 5, .., 25} (4,500 starts),
  the best kept. The objective is a sum (not a mean) and the winners are refined to tight
  tolerances, because Besiroglu et al. 2024 found the original stopped early.
- `fit_power_law`: L = E + (x_c/x)^alpha (or E = 0) with the same objective and a data-driven
  grid of starts.
- Bootstrap intervals for every parameter and derived quantity, R^2 and RMSE in log space, a
  status naming soft failures (best start on the grid edge, a bound hit, not converged), and
  `extrapolation_error` for held-out points.
Bad input is a ValueError naming it; a fit that cannot succeed is a FitError.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np

from scaling.fit.bootstrap import METHODS as BOOTSTRAP_METHODS
from scaling.fit.bootstrap import Interval, percentile_interval, refit_resamples
from scaling.fit.lbfgs import MultistartResult, multistart
from scaling.fit.objective import LSEObjective
from scaling.laws import (
    ChinchillaLaw,
    PowerLaw,
    chinchilla_frontier,
    frontier_exponents,
)


class FitStatus(str, Enum):
    """A soft failure of a fit: flagged in `FitResult.status`, explained in `messages`."""

    GRID_EDGE = "grid_edge"  # the best start (or an IsoFLOP minimum) sits on the edge of its grid
    BOUND_HIT = "bound_hit"  # a parameter ended on one of its bounds
    NOT_CONVERGED = "not_converged"  # the optimizer stopped before its gradient tolerance

    __str__ = str.__str__  # prints as its value, as the report and the CLI show it


HUBER_DELTA = 1e-3  # Chinchilla App. D.2
MAX_EXPONENT = 10.0  # safety rail on alpha, beta; a fit that reaches it is flagged
E_FLOOR = 30.0  # e >= log(min L) - 30: E below that is "no irreducible loss" (flagged)
E_COLLAPSED = 1e-4  # E below this fraction of the smallest loss counts as E -> 0
GTOL = 1e-9  # projected gradient of the delta-scaled objective (O(1) per point) at convergence


class FitError(RuntimeError):
    """A fit that cannot succeed (no finite objective, a degenerate or divergent optimum)."""


def hoffmann_grid() -> np.ndarray:
    """Hoffmann's 4,500 starts (Chinchilla App. D.2) as rows (a, b, e, alpha, beta)."""
    a = b = np.arange(0.0, 25.0 + 1e-9, 5.0)
    e = np.arange(-1.0, 1.0 + 1e-9, 0.5)
    alpha = beta = np.arange(0.0, 2.0 + 1e-9, 0.5)
    return np.array(list(itertools.product(a, b, e, alpha, beta)))


@dataclass(frozen=True, eq=False)
class FitResult:
    """A fitted law with its intervals, diagnostics and status (empty status: no warnings)."""

    law: PowerLaw | ChinchillaLaw
    params: Mapping[str, float]  # fitted and derived point estimates
    intervals: Mapping[str, Interval]  # bootstrap intervals; empty when bootstrap=0
    r2_log: float  # R^2 of log L
    rmse_log: float  # root mean square log-space residual
    objective: float  # sum of Huber losses (or of r^2/2) at the optimum
    status: tuple[FitStatus, ...]
    messages: tuple[str, ...]  # one sentence per status flag
    residuals: np.ndarray  # log L - log L_hat, per point
    n_points: int
    n_starts: int
    grad_norm: float  # projected gradient at the optimum (delta-scaled objective)
    samples: Mapping[str, np.ndarray] = field(default_factory=dict)  # bootstrap draws

    @property
    def ok(self) -> bool:
        """True when no soft failure was flagged."""
        return not self.status


@dataclass(frozen=True, eq=False)
class Extrapolation:
    """How a law predicts held-out points: relative and log-space errors."""

    predicted: np.ndarray
    observed: np.ndarray
    relative_error: np.ndarray  # (predicted - observed) / observed
    max_abs_relative_error: float
    rmse_log: float


# --- input checks ---------------------------------------------------------------------------

def _as_data(**arrays) -> list[np.ndarray]:
    out = []
    for name, value in arrays.items():
        arr = np.asarray(value, dtype=float)
        if arr.ndim != 1:
            raise ValueError(f"{name!r} must be a 1-d sequence (got shape {arr.shape})")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ValueError(f"{name!r} must be finite (got {name}[{bad[0]}]={float(arr[bad[0]])!r})")
        bad = np.flatnonzero(arr <= 0)
        if bad.size:
            raise ValueError(f"{name!r} must be positive (got {name}[{bad[0]}]={float(arr[bad[0]])!r})")
        out.append(arr)
    lengths = {n: a.size for n, a in zip(arrays, out)}
    if len(set(lengths.values())) > 1:
        got = ", ".join(f"{n}={k}" for n, k in lengths.items())
        raise ValueError(f"{', '.join(map(repr, arrays))} must have the same length (got {got})")
    return out


def _need(n_points: int, n_params: int, distinct: Mapping[str, tuple[np.ndarray, int]]) -> None:
    if n_points < n_params:
        raise ValueError(f"need at least {n_params} points to fit {n_params} parameters "
                         f"(got {n_points})")
    for name, (arr, need) in distinct.items():
        k = np.unique(arr).size
        if k < need:
            raise ValueError(f"{name!r} must take at least {need} distinct values "
                             f"(got {k}: {np.unique(arr)[:3].tolist()})")


# --- the shared core ------------------------------------------------------------------------

def _run(obj: LSEObjective, starts: np.ndarray, lower, upper) -> MultistartResult:
    try:
        return multistart(obj, starts, lower=lower, upper=upper, gtol=GTOL)
    except FloatingPointError as e:
        raise FitError(f"the fit cannot start: {e}") from None


def _bound_flags(theta, lower, upper, names) -> list[str]:
    msgs = []
    for v, lo, hi, name in zip(theta, lower, upper, names):
        for b, side in ((lo, "lower"), (hi, "upper")):
            if np.isfinite(b) and abs(v - b) <= 1e-7 * max(1.0, abs(b)):
                msgs.append(f"{name} is at its {side} bound ({b:.4g})")
    return msgs


def _e_collapsed(E: float, y_min: float) -> list[str]:
    """E at its natural bound 0 (or the floor of e): the data show no irreducible loss."""
    if E <= E_COLLAPSED * y_min:
        return [f"E is at its lower limit 0 (E/min(L) = {E / y_min:.2g}): no irreducible loss in the data"]
    return []


def _diagnostics(T: np.ndarray, fitted: np.ndarray) -> tuple[np.ndarray, float, float]:
    resid = T - fitted
    ss_tot = float(np.sum((T - T.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / ss_tot if ss_tot > 0 else math.nan
    return resid, r2, float(np.sqrt(np.mean(resid ** 2)))


def _summaries(samples: dict[str, np.ndarray], params: dict[str, float], level: float,
               dof: int) -> dict[str, Interval]:
    return {k: percentile_interval(v, level, estimate=params[k], dof=dof) for k, v in samples.items()}


def _check_bootstrap(bootstrap: int, method: str, level: float) -> None:
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, float, np.number)) \
            or not (math.isfinite(bootstrap) and bootstrap >= 0 and int(bootstrap) == bootstrap):
        raise ValueError(f"'bootstrap' must be a non-negative integer (got bootstrap={bootstrap!r})")
    if method not in BOOTSTRAP_METHODS:
        raise ValueError(f"'bootstrap_method' must be one of {', '.join(BOOTSTRAP_METHODS)} "
                         f"(got {method!r})")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"'level' must be in (0, 1) (got level={level!r})")


def _check_delta(delta: float | None) -> None:
    if delta is not None and not (isinstance(delta, (int, float)) and math.isfinite(delta) and delta > 0):
        raise ValueError(f"'delta' must be positive or None for least squares (got delta={delta!r})")


# --- Chinchilla ------------------------------------------------------------------------------

def fit_chinchilla(N, D, L, *, delta: float | None = HUBER_DELTA, starts=None,
                   bootstrap: int = 0, bootstrap_method: str = "pairs", bootstrap_starts: int = 4,
                   level: float = 0.95, budgets: Sequence[float] = (), seed: int | None = 0,
                   bootstrap_weights=None) -> FitResult:
    """Fit L = E + A/N^alpha + B/D^beta by Hoffmann's procedure (Chinchilla App. D.2, eq 3).

    starts: rows (a, b, e, alpha, beta), default `hoffmann_grid()` (4,500 starts).
    bootstrap: resamples (refitted from the `bootstrap_starts` best distinct minima of the
    full fit); intervals at `level` for E, A, B, alpha, beta, a, b, G and, for each C in
    `budgets`, N_opt@C, D_opt@C and tokens_per_param@C (keys formatted as f"{C:.3g}").
    bootstrap_weights: (resamples, points) counts refitted instead of drawn pairs resamples, so
    a caller can compute its own statistic on the very same resamples (`bootstrap` is ignored).
    """
    N, D, L = _as_data(N=N, D=D, L=L)
    if bootstrap_weights is not None:
        bootstrap_weights = np.asarray(bootstrap_weights, dtype=float)
        if bootstrap_weights.ndim != 2:
            raise ValueError(f"'bootstrap_weights' must be (resamples, points) counts (got shape {bootstrap_weights.shape})")
        bootstrap, bootstrap_method = bootstrap_weights.shape[0], "pairs"
    _need(N.size, 5, {"N": (N, 2), "D": (D, 2)})
    _check_delta(delta)
    _check_bootstrap(bootstrap, bootstrap_method, level)
    budgets = [float(c) for c in budgets]
    for c in budgets:
        if not (math.isfinite(c) and c > 0):
            raise ValueError(f"'budgets' must be positive FLOP counts (got {c!r})")
    grid = hoffmann_grid() if starts is None else np.atleast_2d(np.asarray(starts, dtype=float))
    if grid.ndim != 2 or grid.shape[1] != 5 or not np.all(np.isfinite(grid)):
        raise ValueError(f"'starts' must be finite rows (a, b, e, alpha, beta) (got shape {grid.shape})")

    # centre log N and log D: a' = a - alpha*mean(log N) decorrelates a and alpha (same minima)
    lx, ly, T = np.log(N), np.log(D), np.log(L)
    mx, my = lx.mean(), ly.mean()
    X = np.column_stack([lx - mx, ly - my])

    def to_int(p):  # rows (a, b, e, alpha, beta) -> (a', b', e, alpha, beta)
        return np.column_stack([p[:, 0] - p[:, 3] * mx, p[:, 1] - p[:, 4] * my, p[:, 2:]])

    def to_user(t):
        return np.column_stack([t[:, 0] + t[:, 3] * mx, t[:, 1] + t[:, 4] * my, t[:, 2:]])

    lower = np.array([-np.inf, -np.inf, T.min() - E_FLOOR, 0.0, 0.0])
    upper = np.array([np.inf, np.inf, np.inf, MAX_EXPONENT, MAX_EXPONENT])
    obj = LSEObjective(X, T, irreducible=True, delta=delta)
    ms = _run(obj, to_int(grid), lower, upper)
    a, b, e, alpha, beta = to_user(ms.x[None, :])[0]
    if max(a, b, e) > 700:
        raise FitError(f"the fit diverged: log A={a:.4g}, log B={b:.4g}, log E={e:.4g}")
    if alpha <= 0 or beta <= 0:
        raise FitError(f"the fitted exponents are degenerate (alpha={alpha:.4g}, beta={beta:.4g}): "
                       "the loss does not fall with N or with D in these data")
    law = ChinchillaLaw.from_log(a, b, e, alpha, beta)

    status, messages = [], []
    bound = _bound_flags(ms.x[[0, 1, 3, 4]], lower[[0, 1, 3, 4]], upper[[0, 1, 3, 4]],
                         ["log A'", "log B'", "alpha", "beta"]) + _e_collapsed(law.E, L.min())
    if bound:
        status.append(FitStatus.BOUND_HIT)
        messages.append("; ".join(bound))
    g_lo, g_hi = grid.min(axis=0), grid.max(axis=0)
    on_edge = np.any((grid == g_lo) | (grid == g_hi), axis=1)
    user = np.array([a, b, e, alpha, beta])
    outside = [n for n, v, lo, hi in zip(("a", "b", "e", "alpha", "beta"), user, g_lo, g_hi)
               if not lo <= v <= hi]
    if grid.shape[0] > 1 and (on_edge[ms.near_best].all() or outside):
        status.append(FitStatus.GRID_EDGE)
        messages.append("the best fit was reached only from starts on the grid edge"
                        if not outside else f"the fitted {', '.join(outside)} lie outside the grid of starts")
    if not ms.converged:
        status.append(FitStatus.NOT_CONVERGED)
        messages.append(f"L-BFGS did not converge (projected gradient {ms.grad_norm:.2e})")

    def quantities(p: np.ndarray) -> dict[str, np.ndarray]:
        A, B, E = np.exp(p[:, 0]), np.exp(p[:, 1]), np.exp(p[:, 2])
        al, be = p[:, 3], p[:, 4]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            fa, fb = frontier_exponents(al, be)
            q = {"E": E, "A": A, "B": B, "alpha": al, "beta": be, "a": fa, "b": fb,
                 "G": np.exp((np.log(al * A) - np.log(be * B)) / (al + be))}
            for c in budgets:
                n_opt, d_opt = chinchilla_frontier(A, B, al, be, c)
                q[f"N_opt@{c:.3g}"], q[f"D_opt@{c:.3g}"] = n_opt, d_opt
                q[f"tokens_per_param@{c:.3g}"] = d_opt / n_opt
        return q

    params = {k: float(v[0]) for k, v in quantities(user[None, :]).items()}
    return _result(law, params, lambda t: quantities(to_user(t)), obj, ms, X, T, lower, upper,
                   starts=ms.optima[:max(1, bootstrap_starts)], n_starts=grid.shape[0], n_params=5,
                   status=status, messages=messages, bootstrap=bootstrap, method=bootstrap_method,
                   irreducible=True, delta=delta, level=level, seed=seed, weights=bootstrap_weights)


# --- one-variable power laws -----------------------------------------------------------------

def fit_power_law(x, y, irreducible: bool = True, *, delta: float | None = HUBER_DELTA,
                  bootstrap: int = 0, bootstrap_method: str = "residual", level: float = 0.95,
                  seed: int | None = 0) -> FitResult:
    """Fit y = E + (x_c/x)^alpha (E = 0 when not `irreducible`) by Huber in log space.

    Starts: E at fractions of min(y) crossed with alpha from a log-log regression of y - E
    (times 0.5, 1, 2). bootstrap: resamples (residual bootstrap by default: a sweep's sizes
    are a fixed design); intervals at `level` for alpha, x_c and E.
    """
    x, y = _as_data(x=x, y=y)
    P = 3 if irreducible else 2
    _need(x.size, P, {"x": (x, P)})
    _check_delta(delta)
    _check_bootstrap(bootstrap, bootstrap_method, level)
    lx, T = np.log(x), np.log(y)
    m = lx.mean()
    X = (lx - m)[:, None]
    starts = _power_law_starts(X[:, 0], y, irreducible)
    e_lo = T.min() - E_FLOOR
    lower = np.array([-np.inf, e_lo, 0.0] if irreducible else [-np.inf, 0.0])
    upper = np.array([np.inf, np.inf, MAX_EXPONENT] if irreducible else [np.inf, MAX_EXPONENT])
    obj = LSEObjective(X, T, irreducible=irreducible, delta=delta)
    ms = _run(obj, starts, lower, upper)
    alpha = ms.x[-1]
    if alpha <= 1e-12:
        raise FitError(f"the fitted exponent is {alpha:.3g}: y does not fall with x "
                       f"(y from {y[np.argmin(x)]:.4g} at the smallest x to {y[np.argmax(x)]:.4g} at the largest)")

    def quantities(t: np.ndarray) -> dict[str, np.ndarray]:
        al = t[:, -1]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            q = {"alpha": al, "x_c": np.exp(t[:, 0] / al + m)}
            q["E"] = np.exp(t[:, 1]) if irreducible else np.zeros_like(al)
        return q

    params = {k: float(v[0]) for k, v in quantities(ms.x[None, :]).items()}
    if not (math.isfinite(params["x_c"]) and params["x_c"] > 0):
        raise FitError(f"the fitted scale x_c overflows (log x_c = {ms.x[0] / alpha + m:.4g})")
    law = PowerLaw(alpha=params["alpha"], x_c=params["x_c"], E=params["E"])
    status, messages = [], []
    bound = _bound_flags(ms.x, lower, upper, ["log x_c", "log E", "alpha"] if irreducible
                         else ["log x_c", "alpha"])
    if irreducible:
        bound += _e_collapsed(params["E"], y.min())
    if bound:
        status.append(FitStatus.BOUND_HIT)
        messages.append("; ".join(bound))
    if not ms.converged:
        status.append(FitStatus.NOT_CONVERGED)
        messages.append(f"L-BFGS did not converge (projected gradient {ms.grad_norm:.2e})")
    return _result(law, params, quantities, obj, ms, X, T, lower, upper, starts=ms.optima[:4],
                   n_starts=starts.shape[0], n_params=P, status=status, messages=messages,
                   bootstrap=bootstrap, method=bootstrap_method, irreducible=irreducible,
                   delta=delta, level=level, seed=seed)


def _result(law, params, quantities, obj, ms, X, T, lower, upper, *, starts, n_starts, n_params,
            status, messages, bootstrap, method, irreducible, delta, level, seed,
            weights=None) -> FitResult:
    """The FitResult of a finished fit: bootstrap intervals (refits from `starts`), diagnostics."""
    samples, intervals = {}, {}
    if bootstrap:
        rng = np.random.default_rng(seed)
        draws = refit_resamples(X, T, ms.x, starts, n_resamples=int(bootstrap), method=method,
                                irreducible=irreducible, delta=delta, lower=lower, upper=upper, rng=rng,
                                weights=weights)
        samples = quantities(draws)
        intervals = _summaries(samples, params, level, T.size - n_params)
    resid, r2, rmse = _diagnostics(T, obj.predict_log(ms.x[None, :])[0])
    return FitResult(
        law=law, params=MappingProxyType(params), intervals=MappingProxyType(intervals),
        r2_log=r2, rmse_log=rmse, objective=ms.f * obj.scale,
        status=tuple(status), messages=tuple(messages), residuals=resid, n_points=T.size,
        n_starts=n_starts, grad_norm=ms.grad_norm, samples=MappingProxyType(samples))


def _power_law_starts(X: np.ndarray, y: np.ndarray, irreducible: bool) -> np.ndarray:
    """Rows (c, [e], alpha): alpha and c from a log-log regression of y - E0 on centred log x."""
    fractions = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99) if irreducible else (0.0,)
    rows = []
    for frac in fractions:
        E0 = frac * y.min()
        slope, intercept = np.polyfit(X, np.log(y - E0), 1)
        for mult in (0.5, 1.0, 2.0):
            al = min(max(-slope * mult, 1e-3), MAX_EXPONENT / 2)
            row = [intercept, al]
            if irreducible:
                row.insert(1, math.log(max(E0, 1e-3 * y.min())))
            rows.append(row)
    return np.array(rows)


# --- held-out points -------------------------------------------------------------------------

def extrapolation_error(law, inputs, observed) -> Extrapolation:
    """Errors of `law` on held-out points: inputs is x for a PowerLaw, (N, D) for L(N, D) laws."""
    observed = _as_data(observed=observed)[0]
    if isinstance(law, PowerLaw):
        predicted = law.predict(np.asarray(inputs, dtype=float))
    else:
        if not (isinstance(inputs, (tuple, list)) and len(inputs) == 2):
            raise ValueError(f"'inputs' must be a pair (N, D) for {type(law).__name__} "
                             f"(got {type(inputs).__name__})")
        predicted = law.predict(*inputs)
    predicted = np.asarray(predicted, dtype=float)
    if predicted.shape != observed.shape:
        raise ValueError(f"'inputs' and 'observed' must have the same length "
                         f"(got {predicted.size} and {observed.size})")
    rel = (predicted - observed) / observed
    return Extrapolation(predicted=predicted, observed=observed, relative_error=rel,
                         max_abs_relative_error=float(np.max(np.abs(rel))),
                         rmse_log=float(np.sqrt(np.mean((np.log(predicted) - np.log(observed)) ** 2))))
