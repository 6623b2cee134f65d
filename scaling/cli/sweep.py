"""`scaling sweep`: a width sweep from the shell, with a progress bar and a summary table.

    scaling sweep --source synthetic --sizes 16,24,32 --n-layer 2 --tokens 1M \\
                  --store .scaling/runs.sqlite --workers 2 [--executor dask-local]

Sizes are the width dial d_model of `scaling.family.width_family` (n_head the largest
divisor of d_model with heads at least 16 wide; d_ff = 4·d_model);
budgets are tokens per run or FLOPs per run (D = C / 6N). Runs already in the store are
reused, so re-running a command, or a wider grid, trains only what is missing.
"""

from __future__ import annotations

import argparse
import sys

from scaling import data
from scaling.cli.text import SEED, comma_list, integer, real, safe, table
from scaling.executors import check_executor, default_workers
from scaling.scheduling import start_worker_server
from scaling.store import RunStore
from scaling.sweep import SweepError, job_keys, make_jobs, sweep

# The ranges of the numbers, checked as the options are parsed (the error names the range):
WHOLE = integer(1, 2**63 - 1)  # sizes and counts fit torch's int64
# Tokens per run: 1e15 is 100 times the largest published runs, and step counts stay machine
# integers (numpy's log10 of a larger Python int fails inside the trainer).
MAX_TOKENS = 10**15
MAX_FLOPS = 1e50  # FLOPs per run; tokens = C / 6N stay finite
MAX_WORKERS = 1024  # runs at a time; beyond any one machine's cores
EPILOG = "example: scaling sweep --sizes 16,24,32 --tokens 1M --workers 2"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep's options (names match the README and the issue)."""
    parser.add_argument("--source", default="synthetic",
                        help="synthetic | stdlib | arithmetic | a text file or folder (default: synthetic)")
    parser.add_argument("--sizes", type=comma_list(WHOLE), default=[16, 24, 32, 48, 64], metavar="D,D,...",
                        help="model widths d_model (default: 16,24,32,48,64)")
    parser.add_argument("--n-layer", type=WHOLE, default=2, help="layers of every model (default: 2)")
    parser.add_argument("--n-ctx", type=WHOLE, default=64, help="context length (default: 64)")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--tokens", type=comma_list(integer(1, MAX_TOKENS)), metavar="T,T,...",
                        help="training tokens per run, one or more budgets (e.g. 2M or 5e5,2M)")
    budget.add_argument("--flops", type=comma_list(real(0, MAX_FLOPS, low_open=True)), metavar="C,C,...",
                        help="training FLOPs per run; tokens = C / 6N (N total params)")
    parser.add_argument("--seeds", type=comma_list(SEED), default=[0], metavar="S,S,...",
                        help="seeds (default: 0)")
    parser.add_argument("--batch-size", type=WHOLE, default=32, help="sequences per step (default: 32)")
    parser.add_argument("--lr", type=real(0, 1, low_open=True), default=None,
                        help="peak learning rate (default: scaling.schedule.default_lr of each "
                             "model's N: Kaplan eq. D.1, raised for tiny models)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default: cpu)")
    parser.add_argument("--store", default=".scaling/runs.sqlite",
                        help="the run store, SQLite (default: .scaling/runs.sqlite)")
    parser.add_argument("--workers", type=integer(1, MAX_WORKERS), default=None,
                        help=f"runs at a time (default: cores here, {default_workers()})")
    parser.add_argument("--executor", default="local",
                        help="local (worker processes) | inline | dask-local | dask://HOST:PORT")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_command(args: argparse.Namespace) -> int:
    """Check everything, run the sweep, print the summary; ValueError on bad input or a failed run."""
    if args.executor == "local":  # the workers' server imports torch while this process plans
        start_worker_server()
    source = data.make_source(args.source)  # unknown spec, empty corpus: ValueError before anything else
    jobs = make_jobs(args.source, args.sizes, n_layer=args.n_layer, n_ctx=args.n_ctx,
                     vocab_size=source.vocab_size, tokens=args.tokens or (), flops=args.flops or (),
                     seeds=args.seeds, batch_size=args.batch_size, lr=args.lr, device=args.device)
    workers = default_workers() if args.workers is None else args.workers
    # every check (executor, jobs against the source, the store) before the first line of output
    check_executor(args.executor)
    job_keys(jobs)
    with RunStore(args.store) as store:
        print(safe(f"sweep: {len(jobs)} runs of {args.source} ({source.fingerprint[:12]}) on "
                   f"{args.executor} x{workers}, store {args.store}"), file=sys.stderr)
        try:
            result = sweep(jobs, store, workers=workers, executor=args.executor,
                           progress=not args.no_progress)
        except SweepError as e:  # the finished runs are stored; the message names the failed ones
            raise ValueError(str(e)) from e
    print(summary_table(result))
    return 0


def summary_table(result) -> str:
    """One row per run: size, params, tokens, loss, status, throughput, and whether it was reused."""
    head = ("d_model", "n_layer", "N (non-emb)", "N (total)", "tokens", "seed", "eval_loss",
            "status", "tokens/s", "wall_s", "run")
    rows = [head]
    for run, key in zip(result.runs, result.keys):
        rows.append((
            str(run.config["d_model"]), str(run.config["n_layer"]),
            f"{run.params['non_embedding']:,}", f"{run.params['total']:,}", f"{run.tokens:,}",
            str(run.settings["seed"]), f"{run.eval_loss:.4f}", run.status,
            f"{run.tokens_per_s:,.0f}", f"{run.wall_s:.1f}", "stored" if key in result.reused else "new",
        ))
    n_new = sum(k not in result.reused for k in dict.fromkeys(result.keys))
    return (table(rows, right=set(range(len(head))), rule=True)
            + f"\n{len(result.runs)} runs: {n_new} trained, {len(result.runs) - n_new} from the store")
