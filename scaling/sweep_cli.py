"""`scaling sweep`: a width sweep from the shell, with a progress bar and a summary table.

    scaling sweep --source synthetic --sizes 16,24,32 --n-layer 2 --tokens 1M \\
                  --store .scaling/runs.sqlite --workers 2 [--executor dask-local]

Sizes are the width dial d_model (n_head = `heads_for(d_model)`: the most heads at least
16 wide that divide d_model; d_ff = 4·d_model);
budgets are tokens per run or FLOPs per run (D = C / 6N). Runs already in the store are
reused, so re-running a command, or a wider grid, trains only what is missing.
"""

from __future__ import annotations

import argparse
import math
import re
import sys

from scaling.executors import default_workers

_SUFFIX = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}


def number(text: str) -> float:
    """'300k', '2M', '1e6', '1.5B' -> a positive number (argparse type)."""
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([kKmMbBgGtT]?)\s*", text)
    try:
        value = float(m.group(1)) * _SUFFIX[m.group(2).lower()] if m else math.nan
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"could not parse value: {text!r} (want e.g. 5e5, 300k, 2M)")
    return value


def _list_of(parse):
    def parse_list(text: str) -> list:
        items = [t for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"could not parse value: {text!r} (want a comma list)")
        return [parse(t) for t in items]

    return parse_list


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"could not parse value: {text!r} (want an integer)") from None


def _whole(text: str) -> int:
    value = number(text)
    if value != int(value):
        raise argparse.ArgumentTypeError(f"could not parse value: {text!r} (want a whole number)")
    return int(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep's options (names match the README and the issue)."""
    parser.add_argument("--source", default="synthetic",
                        help="synthetic | stdlib | arithmetic | a text file or folder (default: synthetic)")
    parser.add_argument("--sizes", type=_list_of(_int), default=[16, 24, 32, 48, 64], metavar="D,D,...",
                        help="model widths d_model (default: 16,24,32,48,64)")
    parser.add_argument("--n-layer", type=_int, default=2, help="layers of every model (default: 2)")
    parser.add_argument("--n-ctx", type=_int, default=64, help="context length (default: 64)")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--tokens", type=_list_of(_whole), metavar="T,T,...",
                        help="training tokens per run, one or more budgets (e.g. 2M or 5e5,2M)")
    budget.add_argument("--flops", type=_list_of(number), metavar="C,C,...",
                        help="training FLOPs per run; tokens = C / 6N (N total params)")
    parser.add_argument("--seeds", type=_list_of(_int), default=[0], metavar="S,S,...",
                        help="seeds (default: 0)")
    parser.add_argument("--batch-size", type=_int, default=32, help="sequences per step (default: 32)")
    parser.add_argument("--lr", type=number, default=None,
                        help="peak learning rate (default: scaling.schedule.default_lr of each "
                             "model's N: Kaplan eq. D.1, raised for tiny models)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default: cpu)")
    parser.add_argument("--store", default=".scaling/runs.sqlite",
                        help="the run store, SQLite (default: .scaling/runs.sqlite)")
    parser.add_argument("--workers", type=_int, default=None,
                        help=f"runs at a time (default: cores here, {default_workers()})")
    parser.add_argument("--executor", default="local",
                        help="local (worker processes) | inline | dask-local | dask://HOST:PORT")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_command(args: argparse.Namespace) -> int:
    """Check everything, run the sweep, print the summary; ValueError on bad input."""
    from scaling.data import make_source
    from scaling.sweep import make_jobs, sweep

    source = make_source(args.source)  # unknown spec, empty corpus: ValueError before anything else
    jobs = make_jobs(args.source, args.sizes, n_layer=args.n_layer, n_ctx=args.n_ctx,
                     vocab_size=source.vocab_size, tokens=args.tokens or (), flops=args.flops or (),
                     seeds=args.seeds, batch_size=args.batch_size, lr=args.lr, device=args.device)
    workers = default_workers() if args.workers is None else args.workers
    print(f"sweep: {len(jobs)} runs of {args.source} ({source.fingerprint[:12]}) on "
          f"{args.executor} x{workers}, store {args.store}", file=sys.stderr)
    # sweep() checks every job before it opens the store or trains anything
    result = sweep(jobs, args.store, workers=workers, executor=args.executor,
                   progress=not args.no_progress)
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
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    n_new = sum(k not in result.reused for k in dict.fromkeys(result.keys))
    lines.append(f"{len(result.runs)} runs: {n_new} trained, {len(result.runs) - n_new} from the store")
    return "\n".join(lines)
