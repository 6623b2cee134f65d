"""End to end: `scaling sweep` from the shell against the textbook loop training the same runs.

The sweep is timed as a user meets it: a fresh `scaling sweep` process (interpreter start,
imports, worker start, data, training, evaluation, FLOP counting, store), on an empty store.
The textbook loop is the nanoGPT-style eager loop a user would write (model, AdamW,
loss.backward(), a batch per step, no evaluation), in this process, its import already
paid, timed twice (before and after the sweep) and credited with the faster pass, so that
load from other processes biases the ratios against the engine, never for it:

- ratio_vs_cores_x_single_thread: sweep tokens/s over (cores × the loop on one thread),
  i.e. every core running a perfect copy of the textbook loop (issue target: ≥ 1.2);
- ratio_vs_default_threads: sweep tokens/s over the loop with torch's default threads.

    .venv/bin/python -m pytest tests/benchmarks/test_bench_sweep.py --benchmark-only -s
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from scaling.data import make_source
from scaling.model import GPT
from scaling.scheduling import available_cores
from scaling.schedule import default_lr
from scaling.params import count_params
from scaling.sweep import make_jobs

# The grid of the measurement: four runs of 300k tokens on two tiny widths.
SOURCE, SIZES, SEEDS, N_LAYER, N_CTX, BATCH, TOKENS = "synthetic", (32, 48), (0, 1), 2, 64, 32, 300_000
CLI = "import sys; from scaling.cli import main; sys.exit(main())"


def grid():
    return make_jobs(SOURCE, SIZES, n_layer=N_LAYER, n_ctx=N_CTX, vocab_size=make_source(SOURCE).vocab_size,
                     tokens=[TOKENS], seeds=SEEDS, batch_size=BATCH)


def textbook_seconds(jobs, threads: int) -> float:
    """Wall seconds of the textbook loop training every job in turn on `threads` torch threads."""
    source = make_source(SOURCE)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t = time.perf_counter()
        for job in jobs:
            c, s = job.config, job.settings
            torch.manual_seed(s.seed)
            model = GPT(c)
            opt = torch.optim.AdamW(model.parameters(), lr=default_lr(count_params(c).non_embedding))
            rng = np.random.default_rng(s.seed)
            for _ in range(s.tokens // (s.batch_size * c.n_ctx)):
                seq = torch.from_numpy(source.batch("train", s.batch_size, c.n_ctx + 1, rng))
                _, loss = model(seq[:, :-1], seq[:, 1:])
                opt.zero_grad()
                loss.backward()
                opt.step()
        return time.perf_counter() - t
    finally:
        torch.set_num_threads(before)


def sweep_from_the_shell(store: str, workers: int) -> float:
    """Wall seconds of a fresh `scaling sweep` process training the grid into an empty store."""
    args = ["sweep", "--source", SOURCE, "--sizes", ",".join(map(str, SIZES)), "--seeds",
            ",".join(map(str, SEEDS)), "--n-layer", str(N_LAYER), "--n-ctx", str(N_CTX),
            "--batch-size", str(BATCH), "--tokens", str(TOKENS), "--workers", str(workers),
            "--store", store, "--no-progress"]
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", CLI, *args], check=True, capture_output=True)
    return time.perf_counter() - t


def test_sweep_end_to_end_vs_textbook(benchmark, tmp_path):
    """`scaling sweep` of four tiny runs, from the shell, against cores × the single-thread textbook loop."""
    if benchmark.disabled:  # a minute of timing on two cores, and nothing to check without it
        pytest.skip("a timing only: run it with --benchmark-only (make bench)")
    jobs = grid()
    cores = available_cores()
    default_threads = torch.get_num_threads()
    single = [textbook_seconds(jobs, 1)]
    default = [textbook_seconds(jobs, default_threads)]
    stores = iter(str(tmp_path / f"runs{i}.sqlite") for i in range(100))
    benchmark.pedantic(lambda: sweep_from_the_shell(next(stores), cores), rounds=2, iterations=1)
    single.append(textbook_seconds(jobs, 1))
    default.append(textbook_seconds(jobs, default_threads))
    best = benchmark.stats.stats.min
    tokens = sum((j.settings.tokens // (BATCH * N_CTX)) * BATCH * N_CTX for j in jobs)
    benchmark.extra_info.update(
        runs=len(jobs), tokens=tokens, cores=cores, workers=cores, default_threads=default_threads,
        sweep_wall_s=best,
        sweep_tokens_per_s=tokens / best,
        textbook_single_thread_s=min(single),
        textbook_default_threads_s=min(default),
        ratio_vs_cores_x_single_thread=min(single) / cores / best,
        ratio_vs_default_threads=min(default) / best,
        loadavg_1m=os.getloadavg()[0],  # other processes' load: read the figures with it
    )
    assert best > 0


@pytest.fixture(autouse=True)
def _quiet_threads():
    """torch's thread count restored after each benchmark."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
