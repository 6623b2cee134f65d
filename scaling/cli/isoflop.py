"""`scaling fit --law isoflop` and `--where`: N* ∝ C^a from IsoFLOP points in a CSV.

The computation is `scaling.isoflop.fit_local_isoflop`; this module reads the columns, keeps
the rows `--where COLUMN=VALUE` selects (e.g. one of Porian et al. 2024's configurations in
their released `porian2024_isoflop.csv`) and prints the minima and a with its interval.
"""

from __future__ import annotations

from pathlib import Path

from scaling.cli.runs import InputError, need_rows, column, find_column
from scaling.cli.text import print_json, safe, table
from scaling.isoflop import fit_local_isoflop, summary


class _Row(dict):
    """A CSV row and its line number in the file (line 1 is the header)."""

    def __init__(self, row: dict[str, str], line: int) -> None:
        super().__init__(row)
        self.line = line


def where(path: Path, header: list[str], rows: list[dict[str, str]], where: list[str]) -> list[dict[str, str]]:
    """The rows whose COLUMN equals VALUE for every 'COLUMN=VALUE' in `where`; InputError otherwise.

    Each kept row remembers its line in the file, so that a later error still names the right one.
    """
    rows = [r if isinstance(r, _Row) else _Row(r, line) for line, r in enumerate(rows, start=2)]
    for condition in where:
        name, sep, value = condition.partition("=")
        if not sep or name not in header:
            raise InputError(f"--where {condition!r}: expected COLUMN=VALUE with a column of {path} "
                             f"(found: {', '.join(header)})")
        kept = [r for r in rows if (r.get(name) or "").strip() == value]
        if not kept:
            seen = sorted({(r.get(name) or "").strip() for r in rows})
            raise InputError(f"--where {condition!r}: no row of {path} has {name} = {value!r} "
                             f"(values there: {', '.join(seen[:20])})")
        rows = kept
    return rows


def fit(args, path: Path, header: list[str], rows) -> int:
    """`scaling fit --law isoflop`: print the minima per budget and a with its interval (or JSON)."""
    if args.x or args.save_law or args.plot:
        raise InputError("--x, --save-law and --plot apply to --law power and chinchilla only")
    c_col, n_col = find_column(path, header, "C"), find_column(path, header, "N")
    loss_col = find_column(path, header, "loss", args.loss)
    noise_col = "loss_noise_std" if args.noise_std is None and "loss_noise_std" in header else None
    noise = column(path, rows, noise_col) if noise_col else (args.noise_std or 0.0)
    need_rows(path, rows, 6)
    result = fit_local_isoflop(column(path, rows, c_col), column(path, rows, n_col), column(path, rows, loss_col),
                            noise_std=noise, bootstrap=args.bootstrap, level=args.level, seed=args.seed)
    used = {"C": c_col, "N": n_col, "loss": loss_col, "noise": noise_col or f"{args.noise_std or 0.0:g}"}
    out = {"runs": str(path), "law": "isoflop", "where": args.where or [], "columns": used, **summary(result)}
    if args.json:
        print_json(out)
        return 0
    print(safe(f"{len(rows)} runs from {path} ({', '.join(f'{k} = {v!r}' for k, v in used.items())}"
               f"{'; where ' + ', '.join(args.where) if args.where else ''})"))
    print(table([("C (FLOPs)", "N*", "loss at N*", "models")]
                 + [(f"{m['C']:.4g}", f"{m['N_opt']:.4g}", f"{m['loss']:.4f}", str(m["n_points"])) for m in out["minima"]],
                 right={0, 1, 2, 3}))
    iv = out["interval"]
    print(f"N* = {result.k_N:.4g} · C^a, a = {result.a:.4f}"
          + (f", {100 * args.level:.3g}% interval [{iv['low']:.4f}, {iv['high']:.4f}] ({args.bootstrap} "
             "bootstrap resamples)" if iv else " (--bootstrap N for an interval)")
          + f"; {len(result.minima)} of {result.n_budgets} budgets bracketed")
    for m in result.refused:
        print(safe(f"warning: {m}"))
    return 0
