"""N* ∝ C^a from dense IsoFLOP profiles: a local parabola per budget, a bootstrap interval on a.

Hoffmann et al. 2022 (Approach 2) fit one parabola in log N to each budget's whole profile
(`scaling.optimal.fit_isoflop`). Profiles that span decades of N, as Porian et al. 2024's do
(up to 1000x at one budget), are far from a parabola over that range: the steep small-model
side pulls the vertex. Here the parabola goes through the lowest-loss model and up to
`half_window` neighbours on each side (in log N), the same vertex and the same refusal of an
unbracketed minimum (`scaling.optimal.isoflop_minimum`) on that window. a is the least-squares
slope of log N* on log C through the bracketed budgets.

The bootstrap redraws both sources of uncertainty in a: every loss gets Gaussian noise of the
run-to-run std (`noise_std`, e.g. Porian et al.'s seed noise), every budget's optimum is
found again (a replicate where it is not bracketed leaves that budget out, as Porian et al.
drop such replicates), and the budgets are resampled with replacement (the scatter of the
optima about the power law, which per-point noise alone does not see).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scaling.fit import FitError
from scaling.fit.bootstrap import Interval, percentile_interval
from scaling.optimal import IsoFLOPMinimum, isoflop_minimum

HALF_WINDOW = 2  # two neighbours each side: 5 points, 2 degrees of freedom beyond the parabola


@dataclass(frozen=True, eq=False)
class LocalIsoFLOPFit:
    """a and k of N* = k·C^a through the bracketed budgets' local-parabola minima."""

    minima: tuple[IsoFLOPMinimum, ...]
    a: float
    k_N: float
    interval: Interval | None  # bootstrap percentile interval of a (None without a bootstrap)
    samples: np.ndarray  # the bootstrap draws of a (NaN where a replicate had < 2 budgets)
    refused: tuple[str, ...]  # one message per budget whose minimum was not bracketed
    n_budgets: int  # budgets in the data, bracketed or not

    def N_opt(self, C):
        """N* at budget C from the fitted power law."""
        return self.k_N * np.asarray(C, dtype=float) ** self.a


def budgets(C) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct budgets (equal to 1e-9 in log C) and the row indices of each, ascending."""
    C = np.asarray(C, dtype=float)
    keys, inverse = np.unique(np.round(np.log(C), 9), return_inverse=True)
    return np.exp(keys), [np.flatnonzero(inverse == i) for i in range(keys.size)]


def window(L, half_window: int = HALF_WINDOW) -> slice:
    """Indices (into runs sorted by N) of the lowest loss and up to half_window neighbours each side."""
    if isinstance(half_window, bool) or not isinstance(half_window, (int, np.integer)) or half_window < 1:
        raise ValueError(f"'half_window' must be an integer >= 1 (got half_window={half_window!r})")
    i = int(np.argmin(L))
    return slice(max(0, i - half_window), min(len(L), i + half_window + 1))


def local_minimum(N, L, C: float, half_window: int = HALF_WINDOW) -> IsoFLOPMinimum:
    """One budget's IsoFLOP minimum from the parabola in log N on the window about its lowest loss.

    FitError (from `isoflop_minimum`, naming the budget) when the lowest loss is the smallest
    or largest model, or the vertex falls outside the window: the optimum is not bracketed.
    """
    N, L = np.asarray(N, dtype=float), np.asarray(L, dtype=float)
    order = np.argsort(N)
    w = window(L[order], half_window)
    return isoflop_minimum(N[order][w], L[order][w], C)


def power_law(C, N_star) -> tuple[float, float]:
    """(a, k) of the least-squares line log N* = log k + a log C."""
    a, log_k = np.polyfit(np.log(C), np.log(N_star), 1)
    return float(a), math.exp(log_k)


def fit_local_isoflop(C, N, L, *, noise_std=0.0, half_window: int = HALF_WINDOW,
                      bootstrap: int = 0, level: float = 0.95, seed: int | None = 0) -> LocalIsoFLOPFit:
    """Local-parabola minima per budget, N* ∝ C^a through them, a bootstrap interval on a.

    C, N, L: one entry per run (budget, parameters, loss). noise_std: a scalar or one value
    per run, the std of the Gaussian noise the bootstrap adds to each loss. Budgets whose
    minimum is not bracketed are left out and named in `refused`; FitError when fewer than 2
    remain.
    """
    C, N, L = (np.asarray(v, dtype=float).ravel() for v in (C, N, L))
    if not (C.size == N.size == L.size):
        raise ValueError(f"'C', 'N' and 'L' must have the same length (got {C.size}, {N.size}, {L.size})")
    for name, v in (("C", C), ("N", N), ("L", L)):
        if v.size == 0 or not np.all(np.isfinite(v) & (v > 0)):
            raise ValueError(f"{name!r} must be finite and positive numbers (got {name}={v[:5]!r}...)")
    noise = np.broadcast_to(np.asarray(noise_std, dtype=float), C.shape)
    if not np.all(np.isfinite(noise) & (noise >= 0)):
        raise ValueError(f"'noise_std' must be finite and >= 0 (got {noise_std!r})")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise ValueError(f"'bootstrap' must be an integer >= 0 (got bootstrap={bootstrap!r})")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"'level' must be in (0, 1) (got level={level!r})")
    window(L[:1], half_window)  # validates half_window
    values, groups = budgets(C)
    minima, kept, refused = [], [], []
    for c, rows in zip(values, groups):
        try:
            minima.append(local_minimum(N[rows], L[rows], c, half_window))
            kept.append(rows)
        except (FitError, ValueError) as e:
            refused.append(str(e))
    if len(minima) < 2:
        raise FitError(f"need bracketed IsoFLOP minima at 2 or more budgets for N* ∝ C^a "
                       f"(got {len(minima)} of {len(groups)}): {'; '.join(refused)}")
    a, k = power_law([m.C for m in minima], [m.N_opt for m in minima])
    samples = np.full(int(bootstrap), np.nan)
    if bootstrap:
        rng = np.random.default_rng(seed)
        log_c = np.log([m.C for m in minima])
        log_n = np.column_stack([_replicate_vertices(N[r], L[r], noise[r], half_window, int(bootstrap), rng)
                                 for r in kept])  # (bootstrap, budgets)
        pick = rng.integers(0, len(kept), size=(int(bootstrap), len(kept)))
        samples = _slopes(log_c[pick], np.take_along_axis(log_n, pick, 1))
    interval = percentile_interval(samples, level) if bootstrap else None
    return LocalIsoFLOPFit(minima=tuple(minima), a=a, k_N=k, interval=interval, samples=samples,
                           refused=tuple(refused), n_budgets=len(groups))


def _replicate_vertices(N, L, noise, half_window, B, rng) -> np.ndarray:
    """log N* of B noisy copies of one budget's profile (NaN where not bracketed), vectorized."""
    order = np.argsort(N)
    u, L, noise = np.log(N[order]), L[order], noise[order]
    Y = L[None, :] + noise[None, :] * rng.standard_normal((B, u.size))
    best = np.argmin(Y, axis=1)
    out = np.full(B, np.nan)
    for i in np.unique(best):
        if i in (0, u.size - 1):
            continue  # the lowest loss at an end of the profile: not bracketed
        rows = np.flatnonzero(best == i)
        w = slice(max(0, i - half_window), min(u.size, i + half_window + 1))
        uw = u[w] - u[w].mean()
        p2, p1, _ = np.polyfit(uw, Y[rows][:, w].T, 2)  # one parabola per replicate (column)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = -p1 / (2 * p2)
        ok = (p2 > 0) & (v > uw.min()) & (v < uw.max())  # isoflop_minimum's bracketing rule
        out[rows[ok]] = v[ok] + u[w].mean()
    return out


def _slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise least-squares slopes of y on x, ignoring NaN; NaN with < 2 distinct x."""
    ok = np.isfinite(y)
    n = ok.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        xm = np.where(ok, x, 0).sum(axis=1) / n
        ym = np.where(ok, y, 0).sum(axis=1) / n
        dx = np.where(ok, x - xm[:, None], 0)
        sxx = (dx * dx).sum(axis=1)
        slope = (dx * np.where(ok, y - ym[:, None], 0)).sum(axis=1) / sxx
    return np.where(sxx > 1e-12, slope, np.nan)


def summary(fit: LocalIsoFLOPFit) -> dict:
    """The fit as plain numbers (for JSON and for printing): a, its interval, the minima, refusals."""
    iv = fit.interval
    return {"a": fit.a, "k_N": fit.k_N,
            "interval": None if iv is None else {"low": iv.low, "high": iv.high, "level": iv.level, "se": iv.se},
            "bootstrap": int(fit.samples.size),
            "minima": [{"C": m.C, "N_opt": m.N_opt, "loss": m.loss, "n_points": m.n_points} for m in fit.minima],
            "budgets": fit.n_budgets, "refused": list(fit.refused)}
