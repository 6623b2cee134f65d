"""Where the runs of a sweep execute: this process, local worker processes, or a Dask cluster.

Every executor takes JSON-able payloads ({config, source_spec, fingerprint, settings,
concurrent_runs}) and yields (index, result) as runs finish, where result is
`Run.to_dict()` or the exception the run raised. Results come back to the calling
process, which alone writes the store.

Threads (`threads_for`): a tiny model gains little from a second torch thread (its
matmuls are too small to split) and loses a lot when cores are busy, so small runs get one
thread each and as many workers as cores; a large model alone gets every core.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

import torch

from scaling.model import GPTConfig
from scaling.params import count_params
from scaling.train import TrainSettings, train

# Below this many training FLOPs per step (6·N·batch·n_ctx; ~0.4M params at batch 32×64) a
# run stays on one thread: on a 2-core EPYC a second thread gave a 30k-100k model at most
# 1.2-1.5× on an idle machine and 5-15× slowdowns on a busy one (OpenMP barriers waiting on
# a descheduled thread), while a second single-thread worker gives 2×.
THREADED_FLOPS_PER_STEP = 5e9

EXECUTORS = ("inline", "local", "dask-local", "dask://HOST:PORT")


def available_cores() -> int:
    """CPU cores this process may run on (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Runs at a time when none is asked for: one per core."""
    return available_cores()


def threads_for(config: GPTConfig, batch_size: int, concurrent_runs: int, cores: int | None = None) -> int:
    """torch threads for one run when `concurrent_runs` runs share `cores` cores."""
    cores = available_cores() if cores is None else cores
    flops_per_step = 6 * count_params(config).total * batch_size * config.n_ctx
    if flops_per_step < THREADED_FLOPS_PER_STEP:
        return 1
    return max(1, cores // max(1, concurrent_runs))


def check_executor(executor: str) -> str:
    """The executor name, or ValueError naming it."""
    if executor in ("inline", "local", "dask-local"):
        return executor
    if executor.startswith("dask://"):
        host, _, port = executor[len("dask://"):].rpartition(":")
        if host and port.isdigit():
            return executor
    raise ValueError(f"'executor' must be one of {', '.join(EXECUTORS)} (got executor={executor!r})")


def execute(payloads: Sequence[dict[str, Any]], executor: str, workers: int,
            sources: Mapping[str, Any] | None = None) -> Iterator[tuple[int, Any]]:
    """Run every payload on `executor` with `workers` at a time; yield (index, result) as they finish.

    `sources` (spec -> source already built here) spares the inline executor a rebuild.
    """
    check_executor(executor)
    if not payloads:
        return
    if executor == "inline":
        for i, p in enumerate(payloads):
            try:  # in this process, one at a time, with the threads a lone worker would use
                with _torch_threads(_threads_of(p, concurrent_runs=1)):
                    result = _train_payload(p, sources or {})
            except Exception as e:  # handed back like a worker's error
                result = e
            yield i, result
    elif executor == "local":
        yield from _execute_local(payloads, workers)
    else:
        yield from _execute_dask(payloads, executor, workers)


_SOURCES: dict[str, Any] = {}  # spec -> source, per process: a corpus is read once per worker


def _source(spec: str, fingerprint: str | None):
    """The source for `spec`, rebuilt when the cached one's fingerprint is not the sweep's."""
    from scaling.data import make_source

    source = _SOURCES.get(spec)
    if source is None or (fingerprint is not None and source.fingerprint != fingerprint):
        source = _SOURCES[spec] = make_source(spec)
    if fingerprint is not None and source.fingerprint != fingerprint:
        raise ValueError(f"data source {spec!r} changed since the sweep was planned "
                         f"(fingerprint {source.fingerprint[:12]}, expected {fingerprint[:12]})")
    return source


def run_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Train one run from its JSON-able payload in a worker; return `Run.to_dict()`.

    payload["concurrent_runs"] is how many runs share this machine's cores (None on a
    remote Dask worker: its own task slots); the worker picks its torch threads from it.
    """
    threads = _threads_of(payload, payload.get("concurrent_runs") or _dask_worker_slots())
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return _train_payload(payload)


def _threads_of(payload: dict[str, Any], concurrent_runs: int) -> int:
    return threads_for(GPTConfig(**payload["config"]), payload["settings"]["batch_size"], concurrent_runs)


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to n inside the block, restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train_payload(payload: dict[str, Any], known: Mapping[str, Any] | None = None) -> dict[str, Any]:
    source = (known or {}).get(payload["source_spec"])
    if source is None or source.fingerprint != payload.get("fingerprint"):
        source = _source(payload["source_spec"], payload.get("fingerprint"))
    run = train(GPTConfig(**payload["config"]), source, TrainSettings(**payload["settings"]))
    return run.to_dict()


def _dask_worker_slots() -> int:
    try:
        from distributed import get_worker

        return get_worker().state.nthreads
    except (ImportError, ValueError):
        return 1


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: leave when the sweep process dies (even by SIGKILL) instead of
    training on for nobody; a daemon thread polls the parent once a second."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _execute_local(payloads: Sequence[dict[str, Any]], workers: int) -> Iterator[tuple[int, Any]]:
    # spawn: a fresh interpreter per worker (fork after torch has started threads can hang).
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(payloads)), mp_context=ctx,
                               initializer=_exit_with_parent, initargs=(os.getpid(),))
    try:
        pending: dict[Future, int] = {pool.submit(run_payload, p): i for i, p in enumerate(payloads)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                err = fut.exception()
                yield i, (err if err is not None else fut.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _execute_dask(payloads: Sequence[dict[str, Any]], executor: str, workers: int) -> Iterator[tuple[int, Any]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as e:  # optional dependency: pip install 'scaling[dask]'
        raise ValueError(f"executor {executor!r} needs the 'distributed' package (pip install 'scaling[dask]')") from e
    cluster = None
    if executor == "dask-local":
        # Loopback only, no dashboard: a sweep must not open ports to the network.
        cluster = LocalCluster(n_workers=min(workers, len(payloads)), threads_per_worker=1,
                               processes=True, host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client("tcp://" + executor[len("dask://"):], timeout=30)
    try:
        futures = {client.submit(run_payload, p, pure=False): i for i, p in enumerate(payloads)}
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except Exception as e:  # the run's own error, or a lost worker / cancelled task
                result = e
            yield futures[fut], result
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
