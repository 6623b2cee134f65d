"""Where the runs of a sweep execute: this process, local worker processes, or a Dask cluster.

Every executor takes JSON-able payloads ({config, source_spec, fingerprint, settings,
concurrent_runs}) and yields (index, result) as runs finish, where result is
`Run.to_dict()` or the exception the run raised. Results come back to the calling
process, which alone writes the store. Runs at a time, threads and order are the
scheduling policy's (`scaling.scheduling`).

Local workers start once per process: the pool outlives a sweep, so a pytest session or a
`scaling sweep` pays for importing torch once, not once per grid. Workers are forked from
a forkserver that has imported torch and the trainer (`scaling.scheduling.worker_context`),
so a new worker costs a fork, not an interpreter start and a torch import. This module
does not import torch: what runs inside a worker is `scaling.worker`'s, so the sweep's
own process plans, schedules and stores without it.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from scaling.scheduling import available_cores, default_workers, threads_for, worker_context  # noqa: F401 (re-exported)

EXECUTORS = ("inline", "local", "dask-local", "dask://HOST:PORT")


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
            from scaling.worker import run_inline  # deferred: torch, only when training here

            try:  # in this process, one at a time, with the threads a lone worker would use
                result = run_inline(p, sources or {})
            except Exception as e:  # handed back like a worker's error
                result = e
            yield i, result
    elif executor == "local":
        yield from _execute_local(payloads, workers)
    else:
        yield from _execute_dask(payloads, executor, workers)


def run_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Train one run from its payload in a worker (`scaling.worker.run_payload`); return `Run.to_dict()`.

    Submitted by reference from the sweep's process, which need not import torch for it.
    """
    from scaling.worker import run_payload as run  # deferred: torch; preloaded in local workers

    return run(payload)


def _exit_with_parent(sweep_pid: int) -> None:
    """Worker initializer: leave when the sweep process dies (even by SIGKILL) instead of
    training on for nobody; a daemon thread polls, once a second, that the sweep process
    and this worker's parent (the forkserver, which exits with the sweep) are alive."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent and _alive(sweep_pid):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else: not ours to judge
        return True
    return True


_POOL: ProcessPoolExecutor | None = None
_POOL_WORKERS = 0


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """The process-wide pool of `workers` training workers, started on first use and kept.

    A sweep asking for another worker count replaces it; so does a broken pool (a worker
    killed). Workers start lazily, as runs are submitted.
    """
    global _POOL, _POOL_WORKERS
    if _POOL is not None and (_POOL_WORKERS != workers or getattr(_POOL, "_broken", False)):
        shutdown_workers()
    if _POOL is None:
        _POOL = ProcessPoolExecutor(max_workers=workers, mp_context=worker_context(),
                                    initializer=_exit_with_parent, initargs=(os.getpid(),))
        _POOL_WORKERS = workers
    return _POOL


def shutdown_workers() -> None:
    """Stop the worker pool (it restarts on the next local sweep); also run at exit."""
    global _POOL, _POOL_WORKERS
    pool, _POOL, _POOL_WORKERS = _POOL, None, 0
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown_workers)


def _execute_local(payloads: Sequence[dict[str, Any]], workers: int) -> Iterator[tuple[int, Any]]:
    pool = worker_pool(workers)
    pending: dict[Future, int] = {}
    try:
        for i, p in enumerate(payloads):  # submitted in the policy's order: longest first
            pending[pool.submit(run_payload, p)] = i
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                err = fut.exception()
                if isinstance(err, BrokenProcessPool):
                    shutdown_workers()  # a worker died (killed, out of memory): next sweep starts fresh
                yield i, (err if err is not None else fut.result())
    finally:
        for fut in pending:  # an abandoned sweep: its queued runs are dropped, the pool is kept
            fut.cancel()


def _execute_dask(payloads: Sequence[dict[str, Any]], executor: str, workers: int) -> Iterator[tuple[int, Any]]:
    try:
        from distributed import Client, LocalCluster, as_completed  # optional (the dask extra)
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
