"""The textbook loop: the eager training loop a user would write (nanoGPT-style), as a script.

The reference `test_bench_sweep.py` holds the engine to. One process trains its runs in
turn: `scaling.model.GPT` (nanoGPT's `model.py`, module for module) on torch's stock
kernels (`stock_kernels`), AdamW with torch's defaults, one batch drawn per step,
`loss.backward()`, no evaluation, no FLOP count, no store, glibc's malloc as it comes.
From the shell:

    python tests/benchmarks/textbook_loop.py --threads 1 '[{"config": {...}, "seed": 0, "tokens": 300000, "batch_size": 32}]'

prints the wall seconds of its training loops (imports excluded; the caller times the
process from the outside for the end-to-end figure).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

import scaling.model
from scaling.data import make_source
from scaling.model import GPT, GPTConfig
from scaling.params import count_params
from scaling.schedule import default_lr


@contextlib.contextmanager
def stock_kernels() -> Iterator[None]:
    """`scaling.model.GPT` as nanoGPT has it: GELU through torch's own kernel (restored after).

    The engine's CPU GELU (`scaling.model.GeluTanh`) is part of the engine's leaner step, not
    of the loop a user would write; the reference must not get it.
    """
    engine = scaling.model.gelu_tanh
    scaling.model.gelu_tanh = lambda x: F.gelu(x, approximate="tanh")
    try:
        yield
    finally:
        scaling.model.gelu_tanh = engine


def train_runs(runs: list[dict], source_spec: str) -> float:
    """Wall seconds of the textbook loop training every run in turn (threads as the caller set them)."""
    with stock_kernels():
        return _train_runs(runs, make_source(source_spec))


def _train_runs(runs: list[dict], source) -> float:
    t = time.perf_counter()
    for run in runs:
        config = GPTConfig(**run["config"])
        bs, n_ctx = run["batch_size"], config.n_ctx
        torch.manual_seed(run["seed"])
        model = GPT(config)
        opt = torch.optim.AdamW(model.parameters(), lr=default_lr(count_params(config).non_embedding))
        rng = np.random.default_rng(run["seed"])
        for _ in range(run["tokens"] // (bs * n_ctx)):
            seq = torch.from_numpy(source.batch("train", bs, n_ctx + 1, rng))
            _, loss = model(seq[:, :-1], seq[:, 1:])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - t


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="JSON list of {config, seed, tokens, batch_size}")
    parser.add_argument("--source", default="synthetic")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"{train_runs(json.loads(args.runs), args.source):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
