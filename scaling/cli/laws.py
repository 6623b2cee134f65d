"""`scaling fit` and `scaling allocate`: laws from the user's own runs, and budgets under a law.

Reading a runs CSV, fitting it with `scaling.fit`, plotting the fit (the CLI may plot; the
library does not), and reading or writing a law as JSON, the format `allocate --law FILE`
takes and `fit --save-law` writes:

    {"form": "chinchilla", "E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    {"form": "kaplan", "alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from scaling import laws
from scaling.cli import isoflop
from scaling.cli.runs import ALIASES, InputError, column, find_column, need_rows, read_runs
from scaling.cli.text import SEED, human, integer, print_json, real, safe, table
from scaling.fit import FitError, fit_chinchilla, fit_power_law
from scaling.laws import ChinchillaLaw, KaplanLaw, PowerLaw
from scaling.optimal import allocation_exponents, compute_optimal
from scaling.report.format import fmt

FIT_HELP = """\
RUNS.csv: one row per training run, a header row naming the columns (others are ignored):
  --law power       a size column N (or params, n_params, parameters, model_size) and loss
                    (or L, eval_loss, val_loss); --x NAME fits loss against another column
                    (tokens, compute, ...). Fits L = E + (x_c/x)^alpha (--no-irreducible: E = 0).
  --law chinchilla  N, loss, and D (or tokens, n_tokens, training_tokens); without a D column,
                    C (compute, flops, training_flop) gives D = C / 6N. Fits Hoffmann et al.
                    2022 eq. 2, L = E + A/N^alpha + B/D^beta, by their procedure (Huber in log
                    space, 4,500 starts; App. D.2).
  --law isoflop     C (flops), N (params) and loss, several sizes per budget: N* ∝ C^a through
                    each budget's local-parabola minimum (scaling.isoflop); the bootstrap adds
                    the noise in a loss_noise_std column (or --noise-std) to every loss and
                    resamples budgets. No plot. --where COLUMN=VALUE keeps matching rows only.
Prints every parameter with its bootstrap interval and writes a PNG of the fit (--plot).
example: scaling fit runs.csv --law chinchilla --save-law mylaw.json
example: scaling fit porian2024_isoflop.csv --law isoflop --where dataset=rw --where config=warmup"""

LAWS_HELP = """\
--law: kaplan (Kaplan et al. 2020 eq. 1.5), chinchilla (Hoffmann et al. 2022 eq. 10, as
printed), chinchilla-unrounded (the same fit, full digits), epoch (Besiroglu et al. 2024),
or FILE, a JSON law:
  {"form": "chinchilla", "E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
  {"form": "kaplan", "alpha_N": 0.076, "alpha_D": 0.103, "N_c": 6.4e13, "D_c": 1.8e13}
(`scaling fit --law chinchilla --save-law FILE` writes the first form). Budgets are FLOPs with C = 6·N·D.
example: scaling allocate --compute 5.76e23 --law chinchilla-unrounded"""

LAW_FIELDS = {"chinchilla": ("E", "A", "B", "alpha", "beta"),
              "kaplan": ("alpha_N", "alpha_D", "N_c", "D_c")}

# The ranges of the numbers, checked as the options are parsed (the error names the range):
# a budget from one parameter trained on one token (C = 6·N·D = 6) to 1e50 FLOPs, 1e25 times
# the largest published runs, where every law's N_opt, D_opt and loss are still finite.
MIN_COMPUTE, MAX_COMPUTE = 6.0, 1e50
# Percentile intervals from B resamples have Monte Carlo error ~1/sqrt(B): 10,000 puts it
# under 1%, and every resample is a whole refit (more only costs memory and hours).
MAX_BOOTSTRAP = 10_000


# --- laws by name or file ----------------------------------------------------------------------

def named_laws() -> dict[str, tuple[Any, str]]:
    return {
        "kaplan": (laws.KAPLAN_2020, "Kaplan et al. 2020, eq. 1.5 (Table 2)"),
        "chinchilla": (laws.CHINCHILLA_2022, "Hoffmann et al. 2022, eq. 10 (as printed)"),
        "chinchilla-unrounded": (laws.CHINCHILLA_2022_UNROUNDED, "Hoffmann et al. 2022, eq. 10 (full digits)"),
        "epoch": (laws.EPOCH_2024, "Besiroglu et al. 2024 (Epoch AI refit)"),
    }


def load_law(spec: str) -> tuple[Any, str]:
    """A law by name (see LAWS_HELP) or from a JSON file; InputError names what is wrong."""
    named = named_laws()
    if spec in named:
        return named[spec]
    path = Path(spec)
    if not path.exists():
        raise InputError(f"--law {spec!r} is neither {', '.join(named)} nor an existing file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read law file {path}: {' '.join(str(e).split())}") from None
    form = data.get("form") if isinstance(data, dict) else None
    if form == "power":
        raise InputError(f"law file {path} holds a one-variable power law; allocating compute "
                         "needs a law of N and D (fit one with --law chinchilla)")
    if form not in LAW_FIELDS:
        raise InputError(f"law file {path}: \"form\" must be one of {', '.join(LAW_FIELDS)} "
                         f"(got {form!r})")
    missing = [k for k in LAW_FIELDS[form] if k not in data]
    if missing:
        raise InputError(f"law file {path}: missing {', '.join(map(repr, missing))} for form {form!r}")
    values = {k: data[k] for k in LAW_FIELDS[form]}
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InputError(f"law file {path}: {k!r} must be a number (got {v!r})")
    try:
        law = (ChinchillaLaw if form == "chinchilla" else KaplanLaw)(**values)
    except ValueError as e:
        raise InputError(f"law file {path}: {e}") from None
    return law, str(data.get("source") or path)


def law_formula(law) -> str:
    if isinstance(law, ChinchillaLaw):
        return f"L = {law.E:.4g} + {law.A:.4g}/N^{law.alpha:.4g} + {law.B:.4g}/D^{law.beta:.4g}"
    if isinstance(law, KaplanLaw):
        return (f"L = [({law.N_c:.3g}/N)^({law.alpha_N:.4g}/{law.alpha_D:.4g}) + "
                f"{law.D_c:.3g}/D]^{law.alpha_D:.4g}")
    if isinstance(law, PowerLaw):
        return f"L = {law.E:.4g} + ({law.x_c:.4g}/x)^{law.alpha:.4g}"
    return repr(law)


# --- allocate ----------------------------------------------------------------------------------

def cmd_allocate(args: argparse.Namespace) -> int:
    """N_opt, D_opt, tokens per parameter and expected loss at each budget under a law."""
    from scaling.flops import pf_days  # scaling.flops imports torch: deferred

    law, source = load_law(args.law)
    rows = []
    for C in args.compute:
        try:
            N, D = compute_optimal(law, C)
        except ValueError as e:  # an optimum below one parameter or token, under any law: name the option
            raise InputError(f"--compute {C:g} under {args.law}: {e}") from None
        a, b = allocation_exponents(law, C)
        rows.append({"compute": C, "pf_days": pf_days(C), "N_opt": N, "D_opt": D,
                     "tokens_per_param": D / N, "loss": float(law.predict(N, D)), "a": a, "b": b})
    if args.json:
        print_json({"law": args.law, "source": source, "formula": law_formula(law), "allocations": rows})
        return 0
    print(safe(f"{source}: {law_formula(law)}"))
    out = [("C (FLOPs)", "PF-days", "N_opt (params)", "D_opt (tokens)", "tokens/param", "loss")]
    for r in rows:
        out.append((f"{r['compute']:.4g}", f"{r['pf_days']:.4g}",
                   f"{r['N_opt']:.4g} ({human(r['N_opt'])})", f"{r['D_opt']:.4g} ({human(r['D_opt'])})",
                   f"{r['tokens_per_param']:.3g}", f"{r['loss']:.4f}"))
    print(table(out, right={0, 1, 2, 3, 4, 5}))
    local = "" if len({round(r["a"], 6) for r in rows}) == 1 else " (local, at the first budget)"
    print(f"N_opt ∝ C^{rows[0]['a']:.3f}, D_opt ∝ C^{rows[0]['b']:.3f}{local}; loss in nats/token")
    return 0


# --- fit -------------------------------------------------------------------------------------

def cmd_fit(args: argparse.Namespace) -> int:
    """Fit a power law or Chinchilla's L(N, D) to a runs CSV; parameters, intervals, a plot."""
    try:
        return _fit(args)
    except FitError as e:
        raise InputError(f"the fit failed: {e}") from None


def _fit(args: argparse.Namespace) -> int:
    path = Path(args.runs)
    header, rows = read_runs(path)
    if args.where or args.law == "isoflop":  # scaling.cli.isoflop: row filter, IsoFLOP fit
        rows = isoflop.where(path, header, rows, args.where or [])
        if args.law == "isoflop":
            return isoflop.fit(args, path, header, rows)
    loss_col = find_column(path, header, "loss", args.loss)
    if args.law == "power":
        x_col = find_column(path, header, "N", args.x)
        x, L = column(path, rows, x_col), column(path, rows, loss_col)
        need_rows(path, rows, 3 if args.irreducible else 2)
        result = fit_power_law(x, L, args.irreducible, bootstrap=args.bootstrap, level=args.level,
                               seed=args.seed)
        inputs, used = {"x": x}, {"x": x_col, "loss": loss_col}
    else:
        if args.x:
            raise InputError("--x applies to --law power only")
        n_col = find_column(path, header, "N")
        d_col = find_column(path, header, "D", required=False)
        c_col = None if d_col else find_column(path, header, "C", required=False)
        if d_col is None and c_col is None:
            raise InputError(f"runs file {path} has no column for D (one of {', '.join(ALIASES['D'])}) "
                             f"or for C (one of {', '.join(ALIASES['C'])}) (found: {', '.join(header)})")
        N, L = column(path, rows, n_col), column(path, rows, loss_col)
        D = column(path, rows, d_col) if d_col else column(path, rows, c_col) / (6 * N)
        need_rows(path, rows, 5)
        result = fit_chinchilla(N, D, L, bootstrap=args.bootstrap, level=args.level, seed=args.seed)
        inputs = {"N": N, "D": D}
        used = {"N": n_col, ("D" if d_col else "C (D = C/6N)"): d_col or c_col, "loss": loss_col}
    plot = None if args.no_plot else Path(args.plot or f"{path.stem}.{args.law}-fit.png")
    if plot is not None and not plot.suffix:  # matplotlib would add '.png' itself; name it here
        plot = plot.with_name(plot.name + ".png")
    if plot is not None:
        _plot(result, inputs, L, plot, args.law, used)
    if args.save_law:
        _save_law(result.law, Path(args.save_law), path)
    return _print_fit(args, path, result, used, plot)


def _save_law(law, target: Path, runs: Path) -> None:
    if isinstance(law, ChinchillaLaw):
        data = {"form": "chinchilla", **{k: getattr(law, k) for k in LAW_FIELDS["chinchilla"]}}
    elif isinstance(law, PowerLaw):
        data = {"form": "power", "alpha": law.alpha, "x_c": law.x_c, "E": law.E}
    data["source"] = f"scaling fit {runs.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _print_fit(args, path: Path, result, used: dict, plot: Path | None) -> int:
    level = f"{100 * args.level:.3g}%"
    rows_out = {k: {"estimate": v, **({"low": result.intervals[k].low, "high": result.intervals[k].high,
                                        "se": result.intervals[k].se} if k in result.intervals else {})}
                for k, v in result.params.items()}
    if args.json:
        print_json({"runs": str(path), "law": args.law, "columns": used,
                          "formula": law_formula(result.law), "params": rows_out,
                          "level": args.level, "bootstrap": args.bootstrap, "n_points": result.n_points,
                          "r2_log": result.r2_log, "rmse_log": result.rmse_log,
                          "status": list(result.status), "messages": list(result.messages),
                          "plot": None if plot is None else str(plot)})
        return 0
    cols = ", ".join(f"{k} = {v!r}" for k, v in used.items())
    print(safe(f"{result.n_points} runs from {path} ({cols})"))
    print(law_formula(result.law))
    head = ("parameter", "estimate") + ((f"{level} interval", "std. error") if result.intervals else ())
    out = [head]
    for k, r in rows_out.items():
        row = (k, fmt(r["estimate"]))
        if result.intervals:
            row += ((f"[{fmt(r['low'])}, {fmt(r['high'])}]", fmt(r["se"])) if "low" in r else ("", ""))
        out.append(row)
    print(table(out, right={1, 3}))
    boot = f"{args.bootstrap} bootstrap resamples" if args.bootstrap else "no bootstrap (--bootstrap N for intervals)"
    print(f"R² (log L) {result.r2_log:.4f}, RMSE (log L) {result.rmse_log:.4g}; {boot}")
    for m in result.messages:
        print(safe(f"warning: {m}"))
    if plot is not None:
        print(safe(f"plot: {plot}"))
    if args.save_law:
        print(safe(f"law: {args.save_law}"))
    return 0


def _plot(result, inputs: dict, L, path: Path, law: str, used: dict) -> None:
    import matplotlib  # matplotlib is heavy: deferred to the one command that plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, rx) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [3, 2]})
    if law == "power":
        x = inputs["x"]
        grid = np.logspace(np.log10(x.min()), np.log10(x.max()), 200)
        ax.loglog(x, L, "o", label="runs")
        ax.loglog(grid, result.law.predict(grid), "-", label=law_formula(result.law))
        if result.law.E > 0:
            ax.axhline(result.law.E, ls="--", color="gray", lw=1, label=f"E = {result.law.E:.3g}")
        ax.set_xlabel(used["x"])
        ax.set_ylabel("loss")
        rx.semilogx(x, result.residuals, "o")
        rx.set_xlabel(used["x"])
    else:
        pred = result.law.predict(inputs["N"], inputs["D"])
        sc = ax.scatter(pred, L, c=np.log10(inputs["N"]), s=14, cmap="viridis")
        lo, hi = min(pred.min(), L.min()), max(pred.max(), L.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="observed = predicted")
        ax.set_xlabel(f"predicted loss: {law_formula(result.law)}", fontsize=8)
        ax.set_ylabel("observed loss")
        fig.colorbar(sc, ax=ax, label="log10 N")
        rx.semilogx(inputs["N"], result.residuals, "o", ms=3)
        rx.set_xlabel("N")
    ax.legend(fontsize=8)
    rx.axhline(0, color="gray", lw=1)
    rx.set_ylabel("residual, log L − log L̂")
    fig.suptitle(f"scaling fit --law {law}: R² (log) = {result.r2_log:.4f}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def add_fit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", metavar="RUNS.csv", help="the runs, one per row (columns above)")
    p.add_argument("--law", choices=("power", "chinchilla", "isoflop"), required=True, help="the law to fit")
    p.add_argument("--x", metavar="COLUMN", help="power: the column loss falls with (default: N)")
    p.add_argument("--loss", metavar="COLUMN", help="the loss column (default: loss)")
    p.add_argument("--no-irreducible", dest="irreducible", action="store_false",
                   help="power: no irreducible term (E = 0)")
    p.add_argument("--bootstrap", type=integer(0, MAX_BOOTSTRAP), default=200,
                   help=f"resamples for intervals, 0 to {MAX_BOOTSTRAP:,} (default 200; 0: none)")
    p.add_argument("--level", type=real(0, 1, low_open=True, high_open=True), default=0.95,
                   help="interval level, between 0 and 1 (default 0.95)")
    p.add_argument("--seed", type=SEED, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--plot", metavar="PATH", help="where to write the PNG (default: RUNS.<law>-fit.png here)")
    p.add_argument("--no-plot", action="store_true", help="write no plot")
    p.add_argument("--save-law", metavar="FILE", help="write the fitted law as JSON (for allocate --law FILE)")
    p.add_argument("--where", action="append", metavar="COLUMN=VALUE",
                   help="fit only the rows where COLUMN equals VALUE (repeatable)")
    p.add_argument("--noise-std", type=real(0, low_open=True), help="isoflop: the loss noise std the bootstrap adds "
                   "(default: the loss_noise_std column, else 0)")
    p.add_argument("--json", action="store_true", help="print JSON")


def add_allocate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--compute", type=real(MIN_COMPUTE, MAX_COMPUTE, low_open=True), nargs="+", required=True, metavar="C",
                   help="training budget(s) in FLOPs, e.g. 1e21 5.76e23")
    p.add_argument("--law", required=True, help="kaplan | chinchilla | chinchilla-unrounded | epoch | FILE")
    p.add_argument("--json", action="store_true", help="print JSON")
