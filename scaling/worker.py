"""What runs inside a training worker: one run from its JSON-able payload (imports torch).

`scaling.executors` decides where runs execute and never imports this module in the
sweep's own process, unless it trains there (the inline executor): the local workers'
server preloads it (`scaling.scheduling.WORKER_PRELOAD`), so each forked worker has torch
and the trainer already imported.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from scaling import data
from scaling.config import GPTConfig
from scaling.scheduling import threads_for
from scaling.train import TrainSettings, train

# glibc's mallopt parameters (malloc.h) and values: every allocation below 32 MiB (glibc's
# largest mmap threshold on 64-bit) comes from the heap, and up to 256 MiB of free heap top
# stays mapped instead of being trimmed.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES = 32 << 20, 256 << 20


def keep_freed_memory() -> bool:
    """Tune glibc's malloc to keep freed memory for reuse; False where there is no glibc.

    For a process that only trains: the local workers' server calls it (`scaling.worker_server`).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt): nothing to tune
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


_SOURCES: dict[str, Any] = {}  # spec -> source, per process: a corpus is read once per worker


def _source(spec: str, fingerprint: str | None):
    """The source for `spec`, rebuilt when the cached one's fingerprint is not the sweep's."""
    source = _SOURCES.get(spec)
    if source is None or (fingerprint is not None and source.fingerprint != fingerprint):
        source = _SOURCES[spec] = data.make_source(spec)
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


def run_inline(payload: dict[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    """Train one run in this process, with the threads a lone worker would use (restored after).

    `known` (spec -> source already built by the caller) spares a rebuild.
    """
    with _torch_threads(_threads_of(payload, concurrent_runs=1)):
        return _train_payload(payload, known)


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
        from distributed import get_worker  # optional dependency (the dask extra)

        return get_worker().state.nthreads
    except (ImportError, ValueError):
        return 1
