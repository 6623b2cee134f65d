"""Tests for scaling.executors: thread rule, executor names, and worker processes and Dask
giving the same runs as training in this process."""

from __future__ import annotations

import pytest
import torch

from scaling.executors import check_executor
from scaling.scheduling import threads_for
from scaling.store import RunStore
from scaling.family import width_family
from scaling.sweep import run_sweep



def test_threads_rule():
    """Tiny models get one thread; a big model alone gets every core, shared when runs run together."""
    tiny = width_family(n_layer=2).config(32, n_ctx=64, vocab_size=256)
    big = width_family(n_layer=8).config(512, n_ctx=256, vocab_size=256)
    assert threads_for(tiny, 32, concurrent_runs=1, cores=16) == 1
    assert threads_for(big, 32, concurrent_runs=1, cores=16) == 16
    assert threads_for(big, 32, concurrent_runs=4, cores=16) == 4
    assert threads_for(big, 32, concurrent_runs=32, cores=16) == 1


@pytest.mark.parametrize("bad", ["dask", "dask://nohost", "dask://:80", "slurm", ""])
def test_unknown_executor_is_rejected(bad):
    """An executor that is not local, inline, dask-local or dask://HOST:PORT is a ValueError naming it."""
    with pytest.raises(ValueError, match=f"executor={bad!r}"):
        check_executor(bad)
    assert check_executor("dask://10.0.0.1:8786") == "dask://10.0.0.1:8786"


# --- worker processes and Dask (real corpus files: workers build their own sources) ----------

@pytest.fixture(scope="module")
def inline_runs(corpus_jobs, corpus, tmp_path_factory):
    """The corpus jobs trained in this process (the inline executor)."""
    return run_sweep(corpus_jobs(corpus), tmp_path_factory.mktemp("inline") / "runs.sqlite",
                     workers=1, executor="inline")


def test_inline_uses_the_thread_rule_and_restores_threads(corpus_jobs, corpus, tmp_path):
    """Inline runs get the threads a lone worker would (1 for tiny models); the caller's count is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        runs = run_sweep(corpus_jobs(corpus)[:1], tmp_path / "runs.sqlite", executor="inline")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert runs[0].threads == 1


def _same_numbers(a, b):
    return [(r.eval_loss, r.curve) for r in a] == [(r.eval_loss, r.curve) for r in b]


def test_local_workers_match_inline(corpus_jobs, corpus, inline_runs, tmp_path):
    """Two local worker processes (forked from the worker server) produce the same losses as training in this process."""
    runs = run_sweep(corpus_jobs(corpus), tmp_path / "runs.sqlite", workers=2, executor="local")
    assert _same_numbers(runs, inline_runs)
    assert all(r.threads == 1 for r in runs)


def test_dask_local_cluster_matches_inline(corpus_jobs, corpus, inline_runs, tmp_path):
    """A Dask LocalCluster (loopback, 2 single-thread workers) gives the same runs; the client stores them."""
    pytest.importorskip("distributed")
    path = tmp_path / "runs.sqlite"
    runs = run_sweep(corpus_jobs(corpus), path, workers=2, executor="dask-local")
    assert _same_numbers(runs, inline_runs)
    with RunStore(path) as store:
        assert len(store) == 2


def test_joins_a_running_dask_scheduler(corpus_jobs, corpus, inline_runs, tmp_path):
    """executor='dask://HOST:PORT' sends the runs to an existing scheduler and stores what comes back."""
    distributed = pytest.importorskip("distributed")
    threads = torch.get_num_threads()
    # an in-process cluster (threads, not processes) keeps this quick; the runs cross the
    # scheduler exactly as they would from another machine
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        host, port = cluster.scheduler_address.removeprefix("tcp://").rsplit(":", 1)
        runs = run_sweep(corpus_jobs(corpus), tmp_path / "runs.sqlite", executor=f"dask://{host}:{port}")
    torch.set_num_threads(threads)
    assert _same_numbers(runs, inline_runs)
    assert all(r.threads == 1 for r in runs)  # the worker's one task slot
