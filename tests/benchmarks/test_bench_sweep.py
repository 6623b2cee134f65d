"""End to end: `scaling sweep` from the shell against the textbook loop from the shell, same runs.

Everything is timed as a user meets it, from the shell, wall clock from process start to
the exit of the last process, on the same machine in the same session:

- the sweep: a fresh `scaling sweep` process (interpreter start, imports, worker start,
  data, training, evaluation, FLOP counting, the store) on an empty store, `cores` workers;
- cores × single-thread textbook: `cores` processes of the textbook loop
  (`textbook_loop.py`: nanoGPT-style model and AdamW, a batch per step, no evaluation)
  started side by side, one torch thread each, each training its share of the runs
  (shares balanced by the sweep's own cost model, longest first), timed to the last
  exit: N perfect copies of the loop a user would write, every core busy;
- default threads: one textbook process with torch's default threads training every run.

Ratios are tokens per wall-second of the sweep over the reference, i.e. reference seconds
over sweep seconds (the same tokens):

- ratio_vs_cores_x_single_thread: THE TARGET (≥ 1.2). The issue's definition: end to end,
  from the shell, including process start, imports and evaluation, against N perfect
  copies of the user's loop; both sides pay an interpreter and a torch import per core.
- ratio_vs_default_threads: the same sweep against the one-process default-threads loop.
- ratio_vs_cores_x_single_thread_import_free: a stricter figure, not the target. The
  single-thread loop in this process (torch already imported, no process start), divided
  by `cores`, against the same sweep from the shell, which still pays its start-up.

Each reference is timed before and after the sweep and credited with its faster pass;
the sweep gets the faster of its two rounds. Load from other processes then biases the
ratios against the engine, never for it; loadavg_1m is reported next to the figures.

    .venv/bin/python -m pytest tests/benchmarks/test_bench_sweep.py --benchmark-only -q \\
        --benchmark-json=bench.json   (the figures are in extra_info)
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from textbook_loop import train_runs

from scaling.data import make_source
from scaling.scheduling import available_cores, longest_first, run_cost
from scaling.sweep import make_jobs

# The grid of the measurement: four runs of 300k tokens on two tiny widths.
SOURCE, SIZES, SEEDS, N_LAYER, N_CTX, BATCH, TOKENS = "synthetic", (32, 48), (0, 1), 2, 64, 32, 300_000
CLI = "import sys; from scaling.cli import main; sys.exit(main())"
TEXTBOOK = Path(__file__).with_name("textbook_loop.py")


def grid():
    return make_jobs(SOURCE, SIZES, n_layer=N_LAYER, n_ctx=N_CTX, vocab_size=make_source(SOURCE).vocab_size,
                     tokens=[TOKENS], seeds=SEEDS, batch_size=BATCH)


def as_runs(jobs) -> list[dict]:
    return [{"config": dataclasses.asdict(j.config), "seed": j.settings.seed, "tokens": j.settings.tokens,
             "batch_size": j.settings.batch_size} for j in jobs]


def shares(jobs, n: int) -> list[list]:
    """`jobs` split into n shares of about equal cost: longest first, each to the lightest share."""
    out: list[list] = [[] for _ in range(n)]
    load = [0.0] * n
    for i in longest_first(jobs):
        k = load.index(min(load))
        out[k].append(jobs[i])
        load[k] += run_cost(jobs[i].config, jobs[i].settings)
    return [s for s in out if s]


def textbook_from_the_shell(parts: list[list], threads: int | None) -> float:
    """Wall seconds from starting one textbook process per part, side by side, to the last exit."""
    extra = [] if threads is None else ["--threads", str(threads)]
    t = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, str(TEXTBOOK), json.dumps(as_runs(p)), "--source", SOURCE,
                               *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for p in parts]
    for p in procs:
        out, err = p.communicate()
        if p.returncode:
            raise RuntimeError(f"textbook loop failed: {err.decode()[-2000:]}")
    return time.perf_counter() - t


def sweep_from_the_shell(store: str, workers: int) -> float:
    """Wall seconds of a fresh `scaling sweep` process training the grid into an empty store."""
    args = ["sweep", "--source", SOURCE, "--sizes", ",".join(map(str, SIZES)), "--seeds",
            ",".join(map(str, SEEDS)), "--n-layer", str(N_LAYER), "--n-ctx", str(N_CTX),
            "--batch-size", str(BATCH), "--tokens", str(TOKENS), "--workers", str(workers),
            "--store", store, "--no-progress"]
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", CLI, *args], check=True, capture_output=True)
    return time.perf_counter() - t


def in_process_single_thread(jobs) -> float:
    """Wall seconds of the textbook loop on one thread in this process (torch already imported)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_runs(as_runs(jobs), SOURCE)
    finally:
        torch.set_num_threads(before)


def test_sweep_end_to_end_vs_textbook(benchmark, tmp_path):
    """`scaling sweep` of four tiny runs, from the shell, against cores × the single-thread textbook loop."""
    if benchmark.disabled:  # a few minutes of timing on two cores, and nothing to check without it
        pytest.skip("a timing only: run it with --benchmark-only (make bench)")
    jobs = grid()
    cores = min(available_cores(), len(jobs))  # a core without a run adds nothing (e.g. 16 cores, 4 runs)
    parts = shares(jobs, cores)
    references = {"cores": [], "default": [], "import_free": []}

    def time_references() -> None:
        references["cores"].append(textbook_from_the_shell(parts, threads=1))
        references["default"].append(textbook_from_the_shell([jobs], threads=None))
        references["import_free"].append(in_process_single_thread(jobs))

    time_references()
    stores = iter(str(tmp_path / f"runs{i}.sqlite") for i in range(100))
    benchmark.pedantic(lambda: sweep_from_the_shell(next(stores), cores), rounds=2, iterations=1)
    time_references()
    best = benchmark.stats.stats.min
    cores_s, default_s, single_s = (min(references[k]) for k in ("cores", "default", "import_free"))
    tokens = sum((j.settings.tokens // (BATCH * N_CTX)) * BATCH * N_CTX for j in jobs)
    benchmark.extra_info.update(
        runs=len(jobs), tokens=tokens, cores=cores, workers=cores, default_threads=torch.get_num_threads(),
        sweep_wall_s=best,
        sweep_tokens_per_s=tokens / best,
        textbook_cores_x_single_thread_s=cores_s,
        textbook_default_threads_s=default_s,
        textbook_single_thread_in_process_s=single_s,
        ratio_vs_cores_x_single_thread=cores_s / best,  # the target: >= 1.2 (module docstring)
        ratio_vs_default_threads=default_s / best,
        ratio_vs_cores_x_single_thread_import_free=single_s / cores / best,
        loadavg_1m=os.getloadavg()[0],  # other processes' load: read the figures with it
    )
    assert best > 0


@pytest.fixture(autouse=True)
def _quiet_threads():
    """torch's thread count restored after each benchmark."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
