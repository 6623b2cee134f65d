"""The `scaling` command: quick questions to the library from the shell.

    scaling params   --n-layer 12 --d-model 768 --n-head 12 --n-ctx 1024 --vocab-size 50257 --tie-embeddings
    scaling flops    --preset gpt2 --tokens 300B
    scaling fit      runs.csv --law chinchilla
    scaling allocate --compute 5.76e23 --law chinchilla
    scaling sweep    --sizes 16,24,32 --tokens 1M
    scaling report   DIR [--compare OTHER]

Bad input exits non-zero with one line naming the problem (2 for usage, 1 for a value the
library refused or a file it could not read); `--json` prints machine-readable output.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from scaling.cli.text import human, integer, print_json, real, safe, table
from scaling.config import GPTConfig
from scaling.params import count_params
from scaling.report import load_report, summary_text, write_views
from scaling.report.compare import compare_reports, render_markdown as diff_md, render_text
from scaling.scheduling import start_worker_server

# The ranges of the numbers, checked as the options are parsed (the error names the range):
MAX_DIM = 2**63 - 1  # a model dimension must fit torch's int64 sizes; parsed exactly, never via a float
# Parameters or tokens: 1e17 times the largest published training runs (~1e13), and small
# enough that every product (C = 6·N·D, PF-days) stays finite in float64.
MAX_COUNT = 1e30
WHOLE = integer(1, MAX_DIM)
COUNT = real(0, MAX_COUNT, low_open=True)

# GPT-2 (Radford et al. 2019): tied head, biases, n_ctx 1024, vocab 50257.
PRESETS = {
    "gpt2": dict(n_layer=12, d_model=768, n_head=12),
    "gpt2-medium": dict(n_layer=24, d_model=1024, n_head=16),
    "gpt2-large": dict(n_layer=36, d_model=1280, n_head=20),
    "gpt2-xl": dict(n_layer=48, d_model=1600, n_head=25),
}
GPT2_COMMON = dict(n_ctx=1024, vocab_size=50257, tie_embeddings=True)
MODEL_FIELDS = ("n_layer", "d_model", "n_head", "n_ctx", "vocab_size")


class CLIError(Exception):
    """A one-line problem with the user's input; `main` prints it and exits non-zero."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block) raised to `main`."""

    def error(self, message: str):  # type: ignore[override]
        raise CLIError(f"{self.prog}: error: {message} (see '{self.prog} --help')", 2)


# --- model config (params, flops) ------------------------------------------------------------

def _add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (GPTConfig); --preset fills them, explicit flags override")
    g.add_argument("--preset", choices=sorted(PRESETS),
                   help="a GPT-2 size: n_ctx 1024, vocab 50257, tied embeddings")
    g.add_argument("--n-layer", type=WHOLE, help="transformer blocks")
    g.add_argument("--d-model", type=WHOLE, help="residual width")
    g.add_argument("--n-head", type=WHOLE, help="attention heads (must divide d_model)")
    g.add_argument("--n-ctx", type=WHOLE, help="context length")
    g.add_argument("--vocab-size", type=WHOLE, help="vocabulary size")
    g.add_argument("--d-ff", type=WHOLE, help="MLP width (default 4·d_model)")
    g.add_argument("--tie-embeddings", action="store_true", default=None,
                   help="share the token embedding with the output head (GPT-2)")
    g.add_argument("--no-bias", action="store_true", help="no biases in linear layers and norms")


def _config(args: argparse.Namespace):
    fields: dict[str, Any] = {}
    if args.preset:
        fields.update(GPT2_COMMON, **PRESETS[args.preset])
    for name in (*MODEL_FIELDS, "d_ff", "tie_embeddings"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    missing = [f"--{n.replace('_', '-')}" for n in MODEL_FIELDS if n not in fields]
    if missing:
        raise CLIError(f"{args.prog}: error: missing {', '.join(missing)} (or give --preset)", 2)
    fields.setdefault("tie_embeddings", False)
    return GPTConfig(**fields, bias=not args.no_bias)


def _config_line(cfg) -> str:
    return (f"n_layer={cfg.n_layer} d_model={cfg.d_model} n_head={cfg.n_head} n_ctx={cfg.n_ctx} "
            f"vocab_size={cfg.vocab_size} d_ff={cfg.d_ff}"
            f"{' tied' if cfg.tie_embeddings else ' untied'}{'' if cfg.bias else ' no-bias'}")


def cmd_params(args: argparse.Namespace) -> int:
    """Parameter breakdown, total, embedding and non-embedding counts of a config."""
    cfg = _config(args)
    pc = count_params(cfg)
    conventions = {"total": pc.total, "embedding": pc.embedding, "non_embedding": pc.non_embedding,
                   "kaplan_exact": pc.kaplan_exact, "kaplan_12ld2": pc.kaplan_12ld2}
    if args.json:
        print_json({"config": dataclasses.asdict(cfg), **conventions, "breakdown": dict(pc.breakdown)})
        return 0
    rows = [("component", "parameters", "share")]
    rows += [(k, f"{v:,}", f"{100 * v / pc.total:.1f}%") for k, v in pc.breakdown.items()]
    rows += [("", "", ""),
             ("total", f"{pc.total:,}", human(pc.total)),
             ("embedding (wte + wpe + untied head)", f"{pc.embedding:,}", human(pc.embedding)),
             ("non-embedding (Kaplan N)", f"{pc.non_embedding:,}", human(pc.non_embedding)),
             ("Kaplan 2·d·L·(2·d_attn + d_ff)", f"{pc.kaplan_exact:,}", human(pc.kaplan_exact)),
             ("12·L·d²", f"{pc.kaplan_12ld2:,}", human(pc.kaplan_12ld2))]
    print(_config_line(cfg))
    print(table(rows, right={1, 2}))
    return 0


def cmd_flops(args: argparse.Namespace) -> int:
    """Training FLOPs per token by each convention; with --tokens, total FLOPs and PF-days."""
    from scaling.flops import METHODS, pf_days, training_flops_per_token  # deferred: imports torch

    if args.params is not None:
        if any(getattr(args, n) is not None for n in (*MODEL_FIELDS, "preset")):
            raise CLIError(f"{args.prog}: error: give either --params or a model config, not both", 2)
        if args.method not in (None, "6n"):
            raise CLIError(f"{args.prog}: error: --params allows --method 6n only (the others "
                           f"need the model's shape)", 2)
        cfg, per_token = None, {"6n": 6 * args.params}
    else:
        cfg = _config(args)
        methods = [args.method] if args.method else list(METHODS)
        per_token = {m: training_flops_per_token(cfg, m) for m in methods}
    result = {m: {"flops_per_token": f,
                  "flops": None if args.tokens is None else f * args.tokens,
                  "pf_days": None if args.tokens is None else pf_days(f * args.tokens)}
              for m, f in per_token.items()}
    if args.json:
        print_json({"config": None if cfg is None else dataclasses.asdict(cfg),
                     "params": args.params, "tokens": args.tokens, "methods": result})
        return 0
    print(_config_line(cfg) if cfg is not None else f"N = {args.params:.6g} parameters ({human(args.params)})")
    head = ("method", "FLOPs/token", "vs 6N")
    six = per_token.get("6n") or 6 * count_params(cfg).non_embedding
    rows = [head + (("FLOPs", "PF-days") if args.tokens is not None else ())]
    for m, r in result.items():
        row = (m, f"{r['flops_per_token']:,.0f}", f"{r['flops_per_token'] / six:.3f}")
        if args.tokens is not None:
            row += (f"{r['flops']:.4g}", f"{r['pf_days']:.4g}")
        rows.append(row)
    if args.tokens is not None:
        print(f"D = {args.tokens:.4g} tokens ({human(args.tokens)})")
    print(table(rows, right={1, 2, 3, 4}))
    return 0


# --- report ----------------------------------------------------------------------------------

def cmd_report(args: argparse.Namespace) -> int:
    """Re-render report.md / report.html from DIR/report.json; summary; optional comparison."""
    directory = Path(args.dir)
    if not directory.is_dir():
        raise CLIError(f"{args.prog}: error: report directory {directory} does not exist")
    report = load_report(directory)
    diff = None
    if args.compare is not None:
        other = load_report(Path(args.compare))
        labels = {}
        commits = [(r.get("environment") or {}).get("git_commit") for r in (other, report)]
        if not all(commits) or commits[0] == commits[1]:  # commits cannot tell them apart
            labels = dict(old_label=str(args.compare), new_label=str(args.dir))
        diff = compare_reports(other, report, **labels)
    written = []
    if not args.no_write:
        written = write_views(directory, report)
    failed = bool(args.fail_on_regression and diff is not None and diff.regressions)
    if args.json:
        print_json({"summary": report.get("summary"), "tier": report.get("tier"),
                    "claims": [{k: c.get(k) for k in ("id", "device", "title", "source", "verdict",
                                                     "evidence", "headline")}
                               for c in report["claims"]],
                    "written": [str(p) for p in written],
                    "comparison": None if diff is None else diff.to_dict()})
        return 1 if failed else 0
    print(safe(summary_text(report)))
    for p in written:
        print(safe(f"wrote {p}"))
    if diff is not None:
        print()
        print(safe(diff_md(diff) if args.markdown else render_text(diff)), end="")
    if failed:
        print(f"{len(diff.regressions)} claim(s) got a worse verdict", file=sys.stderr)
    return 1 if failed else 0


# --- parser ----------------------------------------------------------------------------------

def build_parser(wanted: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, with the full arguments of the command `wanted` (the one asked for).

    fit, allocate and sweep import scipy or the sweep engine: each is built only when it is
    the one wanted, so `scaling sweep` never imports scipy and `scaling fit` never the engine.
    """
    parser = _Parser(prog="scaling", description="Scaling-law calculators, fits and claim reports.",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    def command(name, func, help, epilog=None):
        p = sub.add_parser(name, help=help, description=help, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func, prog=p.prog)
        return p

    p = command("params", cmd_params, "parameter counts of a GPT config: breakdown, total, "
                "embedding, non-embedding (Kaplan's N)",
                epilog="example: scaling params --n-layer 12 --d-model 768 --n-head 12 --n-ctx 1024 "
                       "--vocab-size 50257 --tie-embeddings   (GPT-2 small: 124,439,808)")
    _add_model_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("flops", cmd_flops, "training FLOPs per token by each convention (6n, kaplan, "
                "chinchilla, palm); with --tokens, total FLOPs and PF-days",
                epilog="methods (forward + backward, a multiply-add = 2 FLOPs):\n"
                       "  6n          6·N, N non-embedding (Kaplan et al. 2020, §2.1)\n"
                       "  kaplan      3 × Kaplan Table 1's forward: 2N + 2·n_layer·n_ctx·d_attn\n"
                       "  chinchilla  3 × Hoffmann et al. 2022 App. F's forward, embeddings included\n"
                       "  palm        6N + 12·L·H·Q·T (Chowdhery et al. 2022 App. B; nanoGPT's MFU)\n"
                       "numbers accept suffixes: --tokens 300B, --params 70B (k, M, B/G, T)\n"
                       "example: scaling flops --preset gpt2 --tokens 300B")
    _add_model_args(p)
    p.add_argument("--params", type=COUNT, help="N for C = 6·N·D without a config (method 6n)")
    p.add_argument("--tokens", type=COUNT, help="training tokens D")
    p.add_argument("--method", choices=("6n", "kaplan", "chinchilla", "palm"),
                   help="one convention only (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON")

    def lazy(name: str, help: str) -> None:
        """A command whose module imports scipy or torch: built for real only when asked."""
        if name != wanted:  # placeholder for the command list; `scaling NAME ...` builds the real one
            command(name, None, help)
            return
        if name in ("fit", "allocate"):
            from scaling.cli import laws as module  # deferred: scipy (the fits), 1.5 s to import
        else:
            from scaling.cli import sweep as module  # deferred: the sweep engine
        add, func, epilog = {
            "fit": ("add_fit_arguments", "cmd_fit", "FIT_HELP"),
            "allocate": ("add_allocate_arguments", "cmd_allocate", "LAWS_HELP"),
            "sweep": ("add_arguments", "run_command", "EPILOG"),
        }[name]
        getattr(module, add)(command(name, getattr(module, func), help, epilog=getattr(module, epilog)))

    lazy("fit", "fit a power law or Chinchilla's L(N, D) to your runs (CSV)")
    lazy("allocate", "compute-optimal N and D for a FLOP budget under a law: N_opt, D_opt, "
         "tokens per parameter, expected loss")
    lazy("sweep", "train a grid of models into the run store (runs already stored are reused)")

    p = command("report", cmd_report, "re-render report.md and report.html from DIR/report.json, "
                "print the summary, and compare with another report",
                epilog="--compare OTHER treats OTHER as the reference (old) and DIR as new")
    p.add_argument("dir", metavar="DIR", help="a report directory (holding report.json)")
    p.add_argument("--compare", metavar="OTHER", help="another report directory or report.json")
    p.add_argument("--markdown", action="store_true", help="print the comparison as Markdown")
    p.add_argument("--fail-on-regression", action="store_true",
                   help="exit 1 when a claim's verdict is worse than in OTHER")
    p.add_argument("--no-write", action="store_true", help="only print; do not rewrite report.md/.html")
    p.add_argument("--json", action="store_true", help="print JSON (summary and comparison)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `scaling` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # only the asked command's module is imported (see build_parser)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    if wanted == "sweep" and _local_executor(argv):
        start_worker_server()  # its torch import runs while this process parses and plans
    prog = "scaling"
    try:
        args = build_parser(wanted).parse_args(argv)
        prog = args.prog
        return int(args.func(args) or 0)
    except CLIError as e:
        print(safe(e), file=sys.stderr)
        return e.code
    except (ValueError, OSError) as e:  # the library's own one-line messages
        print(f"{prog}: error: {safe(_one_line(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scaling: interrupted", file=sys.stderr)
        return 130


def _local_executor(argv: list[str]) -> bool:
    """Whether a sweep command line runs on local workers (the default executor)."""
    for i, a in enumerate(argv):
        if a == "--executor":
            return argv[i + 1:i + 2] == ["local"]
        if a.startswith("--executor="):
            return a == "--executor=local"
    return True


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.strerror or e}: {e.filename}"
    return " ".join(str(e).split()) or type(e).__name__
