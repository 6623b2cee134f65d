"""The sweep's one scheduling policy: runs at a time, torch threads per run, and run order.

Every sweep uses it, the claims' grids and `scaling sweep` alike:

- workers (`default_workers`): one run per core on CPU; a few runs per GPU, whose tiny
  models leave it mostly idle;
- threads (`threads_for`): a tiny model gains little from a second torch thread (its
  matmuls are too small to split) and loses a lot when cores are busy, so small runs get
  one thread each and as many workers as cores; a large model alone gets every core;
- order (`longest_first`): the most expensive runs start first (Graham's LPT rule,
  Graham 1969), so that no core sits idle at the end of a grid while one long run finishes;
- start (`start_worker_server`): local workers fork from one server process that imports
  torch and the trainer once. This module does not import torch, so a command line can
  start that server first and let it import torch while its own process does the same.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
from collections.abc import Sequence

# Below this many training FLOPs per step (6·N·batch·n_ctx; ~0.4M params at batch 32×64) a
# run stays on one thread: on a 2-core EPYC a second thread gave a 30k-100k model at most
# 1.2-1.5× on an idle machine and 5-15× slowdowns on a busy one (OpenMP barriers waiting on
# a descheduled thread), while a second single-thread worker gives 2×.
THREADED_FLOPS_PER_STEP = 5e9
CUDA_WORKERS = 4  # concurrent runs sharing one GPU: tiny models leave it mostly idle
# Rough single-thread cost of a step (measured order on a 2-core Xeon): a fixed part for
# Python and kernel launches plus the FLOPs at a CPU's sustained fp32 rate. Only the order
# of runs depends on it, never a result.
STEP_OVERHEAD_S = 4e-3
SUSTAINED_FLOPS = 2e10


def available_cores() -> int:
    """CPU cores this process may run on (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(device: str = "cpu") -> int:
    """Runs at a time when none is asked for: one per core on CPU, `CUDA_WORKERS` on a GPU."""
    return CUDA_WORKERS if str(device).startswith("cuda") else available_cores()


def threads_for(config, batch_size: int, concurrent_runs: int, cores: int | None = None) -> int:
    """torch threads for one run of `config` when `concurrent_runs` runs share `cores` cores."""
    from scaling.params import count_params  # deferred: params imports torch (see module doc)

    cores = available_cores() if cores is None else cores
    flops_per_step = 6 * count_params(config).total * batch_size * config.n_ctx
    if flops_per_step < THREADED_FLOPS_PER_STEP:
        return 1
    return max(1, cores // max(1, concurrent_runs))


def run_cost(config, settings) -> float:
    """Rough seconds of a run on one CPU thread: per-step overhead plus FLOPs."""
    from scaling.params import count_params  # deferred: params imports torch (see module doc)

    per_step = settings.batch_size * config.n_ctx
    steps = settings.tokens // per_step
    return steps * (STEP_OVERHEAD_S + 6.0 * count_params(config).total * per_step / SUSTAINED_FLOPS)


def longest_first(jobs: Sequence) -> list[int]:
    """Indices of `jobs` (each with .config and .settings), most expensive first; ties keep order."""
    return sorted(range(len(jobs)), key=lambda i: -run_cost(jobs[i].config, jobs[i].settings))


def concurrency(executor: str, workers: int, n_runs: int) -> int | None:
    """How many runs share this machine's cores (None: a remote Dask worker decides from its slots)."""
    if executor.startswith("dask://"):
        return None
    return max(1, min(workers, n_runs))


def sweep_workers(workers: int | None, devices: Sequence[str]) -> int:
    """The workers a sweep uses: `workers` if given, else the policy's default for its devices."""
    if workers is None:
        return max((default_workers(d) for d in devices), default=available_cores())
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"'workers' must be a positive integer (got workers={workers!r})")
    return workers


# What every worker imports: torch and the trainer. Not torch._dynamo (1.7 s more): the
# trainer never imports it (FLOPs through a dispatch mode that does not, `scaling.flops`; AdamW
# on torch's fused kernel without torch.optim, whose methods do, `scaling.train`). And the
# server's own settings (`scaling.worker_server`): a malloc that keeps freed memory, a quick exit.
WORKER_PRELOAD = ["scaling.worker", "scaling.worker_server"]


def worker_context() -> multiprocessing.context.BaseContext:
    """The start method of local workers: a forkserver preloaded with `WORKER_PRELOAD`.

    Not fork: forking a process after torch has started its OpenMP threads can hang the
    child. The server imports torch and the trainer once and runs no torch op, so every
    fork from it is clean, and costs milliseconds instead of an interpreter and a torch import.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(WORKER_PRELOAD)
    return ctx


def start_worker_server() -> None:
    """Start the local workers' server now, without waiting for it (idempotent).

    A command line that calls it before importing torch itself (`scaling.sweep` does) has
    the server's import and its own run side by side on two cores; the pool starts it anyway.
    """
    worker_context()
    multiprocessing.forkserver.ensure_running()
