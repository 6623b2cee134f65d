"""Benchmarks of scaling.fit: Hoffmann's full grid, a 1,000-resample bootstrap, and the
plain scipy loop a user would write, timed on a subset of starts for the speed ratio.

Data: the 240 points of Chinchilla Fig. 4 (Besiroglu et al. 2024) from ../shared/data when
present, otherwise 240 synthetic points from Epoch's law with 1% noise on the same kind of
grid, so that the benchmark runs anywhere. Timings are reported, never asserted.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import huber, logsumexp

from scaling.fit import fit_chinchilla, hoffmann_grid
from scaling.laws import EPOCH_2024

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "chinchilla_fig4_epoch.csv"
N_REFERENCE_STARTS = 12  # plain-loop starts timed (about 0.3 s each here); ratio is per start


def _points():
    """(N, D, L, source) of 240 points: the real Fig. 4 data when present, else synthetic."""
    if DATA.exists():
        with open(DATA, newline="") as f:
            rows = list(csv.DictReader(f))
        N = np.array([float(r["Model Size"]) for r in rows])
        C = np.array([float(r["Training FLOP"]) for r in rows])
        L = np.array([float(r["loss"]) for r in rows])
        keep = np.argsort(L)[:-5]  # Besiroglu et al.: drop the 5 highest-loss points
        return N[keep], C[keep] / (6 * N[keep]), L[keep], "chinchilla_fig4_epoch.csv"
    rng = np.random.default_rng(0)
    N = np.exp(rng.uniform(np.log(4e7), np.log(1.6e10), 240))
    C = np.exp(rng.uniform(np.log(6e18), np.log(3e21), 240))
    D = C / (6 * N)
    return N, D, EPOCH_2024.predict(N, D) * np.exp(0.01 * rng.standard_normal(240)), "synthetic"


def _plain_scipy_fit(N, D, L, starts):
    """What a user writes from App. D.2: one L-BFGS-B call per start, numeric gradients."""
    lN, lD, lL = np.log(N), np.log(D), np.log(L)

    def objective(p):
        a, b, e, alpha, beta = p
        pred = logsumexp([a - alpha * lN, b - beta * lD, np.full_like(lN, e)], axis=0)
        return huber(1e-3, pred - lL).sum()

    return min((minimize(objective, s, method="L-BFGS-B") for s in starts), key=lambda r: r.fun)


def test_bench_fit_chinchilla_full_grid(benchmark):
    """Hoffmann's 4,500-start fit on 240 points runs in seconds."""
    N, D, L, source = _points()
    fit = benchmark.pedantic(fit_chinchilla, args=(N, D, L), rounds=2, iterations=1)
    benchmark.extra_info.update(
        data=source, n_points=int(N.size), n_starts=fit.n_starts, status=list(fit.status),
        E=fit.law.E, A=fit.law.A, B=fit.law.B, alpha=fit.law.alpha, beta=fit.law.beta)
    assert fit.n_starts == 4500


def test_bench_bootstrap_1000_resamples(benchmark):
    """1,000 pairs-bootstrap refits of the Chinchilla law, batched, started from the best fit."""
    N, D, L, source = _points()
    best = fit_chinchilla(N, D, L).law.log_params  # one start: the timing is the bootstrap's
    fit = benchmark.pedantic(fit_chinchilla, args=(N, D, L),
                             kwargs=dict(starts=[best], bootstrap=1000, seed=0), rounds=1, iterations=1)
    benchmark.extra_info.update(data=source, resamples=1000,
                                refits_ok=int(np.isfinite(fit.samples["alpha"]).sum()),
                                **{f"{k}_se": fit.intervals[k].se for k in ("E", "alpha", "beta", "a")})
    assert fit.samples["alpha"].shape == (1000,)


def test_bench_plain_scipy_loop_reference(benchmark):
    """The naive loop on a subset of starts; the per-start speed ratio goes into extra_info."""
    N, D, L, source = _points()
    grid = hoffmann_grid()
    subset = grid[np.random.default_rng(0).choice(len(grid), N_REFERENCE_STARTS, replace=False)]
    # wall and CPU time of both: CPU time is the fairer ratio on a shared machine
    t0, c0 = time.perf_counter(), time.process_time()
    fit = fit_chinchilla(N, D, L)
    ours, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    seconds = []

    def reference():
        t, c = time.perf_counter(), time.process_time()
        out = _plain_scipy_fit(N, D, L, subset)
        seconds.append((time.perf_counter() - t, time.process_time() - c))
        return out

    best = benchmark.pedantic(reference, rounds=1, iterations=1)
    per_start, per_start_cpu = (v / N_REFERENCE_STARTS for v in seconds[0])
    benchmark.extra_info.update(
        data=source, reference_starts=N_REFERENCE_STARTS,
        plain_loop_s_per_start=per_start, plain_loop_full_grid_s_extrapolated=per_start * len(grid),
        batched_full_grid_s=ours, speed_ratio_per_start=per_start * len(grid) / ours,
        plain_loop_cpu_s_per_start=per_start_cpu, batched_full_grid_cpu_s=ours_cpu,
        speed_ratio_per_start_cpu=per_start_cpu * len(grid) / ours_cpu,
        plain_loop_best_objective=float(best.fun), batched_objective=fit.objective)
    assert np.isfinite(best.fun)
