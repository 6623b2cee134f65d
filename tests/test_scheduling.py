"""Tests for scaling.scheduling and the worker pool: one policy for workers, threads and run
order, used by every sweep; local workers that outlive a sweep."""

from __future__ import annotations

import subprocess
import sys

import pytest

import scaling.executors as executors
import scaling.worker as worker
from scaling.scheduling import CUDA_WORKERS, available_cores, default_workers, longest_first, run_cost, sweep_workers
from scaling.store import RunStore
from scaling.sweep import run_sweep, sweep



def test_default_workers_per_device():
    """One run per core on CPU, CUDA_WORKERS runs sharing a GPU; a sweep's default follows its jobs' device."""
    assert default_workers("cpu") == available_cores()
    assert default_workers("cuda:1") == CUDA_WORKERS
    assert sweep_workers(None, ["cpu", "cpu"]) == available_cores()
    assert sweep_workers(None, ["cuda"]) == CUDA_WORKERS
    assert sweep_workers(3, ["cuda"]) == 3
    with pytest.raises(ValueError, match="workers=0"):
        sweep_workers(0, ["cpu"])


def test_longest_first_orders_by_cost_and_keeps_ties_in_order(tiny_jobs):
    """Bigger models and longer budgets go first; equal runs keep the order they were given in."""
    jobs = tiny_jobs("markov", sizes=(16, 32), tokens=(8 * 16 * 12, 8 * 16 * 48), seeds=(0, 1))
    order = longest_first(jobs)
    costs = [run_cost(jobs[i].config, jobs[i].settings) for i in order]
    assert costs == sorted(costs, reverse=True)
    assert [(jobs[i].config.d_model, jobs[i].settings.tokens) for i in order[:2]] == [(32, 8 * 16 * 48)] * 2
    assert [jobs[i].settings.seed for i in order[:2]] == [0, 1]


def test_sweep_trains_longest_first_and_returns_job_order(tiny_jobs, markov, tmp_path, monkeypatch):
    """Every sweep (the CLI's too) hands runs to the executor longest first; results come back in job order."""
    seen = []
    real = worker.train

    def record(config, source, settings):
        seen.append(config.d_model)
        return real(config, source, settings)

    monkeypatch.setattr(worker, "train", record)
    jobs = tiny_jobs("markov", sizes=(16, 24, 32))
    runs = run_sweep(jobs, tmp_path / "runs.sqlite", workers=1, executor="inline")
    assert seen == [32, 24, 16]
    assert [r.config["d_model"] for r in runs] == [16, 24, 32]


def test_local_workers_outlive_a_sweep(corpus_jobs, new_corpus, tmp_path):
    """Two local sweeps in one process share their worker processes: torch is imported once per worker."""
    jobs = corpus_jobs(new_corpus)
    with RunStore(tmp_path / "runs.sqlite") as store:
        sweep(jobs[:1], store, workers=2, executor="local")
        pool = executors._POOL
        pids = set(pool._processes)
        sweep(jobs[1:], store, workers=2, executor="local")
        assert executors._POOL is pool and pids <= set(pool._processes)
        assert len(store) == 2
    executors.shutdown_workers()
    assert executors._POOL is None


def test_workers_keep_freed_memory():
    """The workers' server is preloaded with its settings module, whose malloc tuning takes on glibc."""
    import platform

    from scaling.scheduling import WORKER_PRELOAD

    assert WORKER_PRELOAD == ["scaling.worker", "scaling.worker_server"]
    code = "from scaling.worker import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(platform.libc_ver()[0] == "glibc")
