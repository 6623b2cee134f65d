"""Tests for scaling.cli: the `scaling` command, called in-process (and once as a console script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scaling.cli import main
from scaling.laws import EPOCH_2024, ChinchillaLaw, PowerLaw
from scaling.optimal import compute_optimal
from scaling.report import ClaimResult, Measurement, build_report, write_report

GPT2_SMALL = ["--n-layer", "12", "--d-model", "768", "--n-head", "12", "--n-ctx", "1024",
              "--vocab-size", "50257", "--tie-embeddings"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """Run `scaling ARGV` in-process; return (exit status, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, out: str, err: str, *needles: str) -> None:
    """A bad input: non-zero exit, nothing on stdout, one stderr line naming the problem."""
    assert code != 0
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


# --- params / flops --------------------------------------------------------------------------

def test_params_gpt2_small(capsys):
    """GPT-2 small's total, 124,439,808, is printed with the breakdown and non-embedding count."""
    code, out, _ = run(capsys, "params", *GPT2_SMALL)
    assert code == 0
    assert "124,439,808" in out and "85,056,000" in out and "h.attn.c_attn.weight" in out


def test_params_json_and_preset(capsys):
    """--json gives the counts and breakdown; --preset gpt2-xl gives 1,557,611,200 (the released GPT-2 xl checkpoint)."""
    code, out, _ = run(capsys, "params", *GPT2_SMALL, "--json")
    data = json.loads(out)
    assert code == 0 and data["total"] == 124439808
    assert sum(data["breakdown"].values()) == data["total"]
    assert data["config"]["d_ff"] == 3072
    code, out, _ = run(capsys, "params", "--preset", "gpt2-xl", "--json")
    assert json.loads(out)["total"] == 1557611200


def test_flops_all_methods_with_tokens(capsys):
    """flops lists every method; with --tokens, total FLOPs = per-token × D and PF-days = FLOPs / 8.64e19."""
    code, out, _ = run(capsys, "flops", "--preset", "gpt2", "--tokens", "300B", "--json")
    data = json.loads(out)
    assert code == 0 and set(data["methods"]) == {"6n", "kaplan", "chinchilla", "palm"}
    six = data["methods"]["6n"]
    assert six["flops_per_token"] == 6 * 85056000
    assert six["flops"] == pytest.approx(six["flops_per_token"] * 3e11)
    assert six["pf_days"] == pytest.approx(six["flops"] / 8.64e19)
    code, out, _ = run(capsys, "flops", "--preset", "gpt2")
    assert code == 0 and "palm" in out and "PF-days" not in out


def test_flops_raw_params(capsys):
    """--params N --tokens D is C = 6ND: Chinchilla 70B on 1.4T tokens is 5.88e23 FLOPs."""
    code, out, _ = run(capsys, "flops", "--params", "70B", "--tokens", "1.4T", "--json")
    assert code == 0
    assert json.loads(out)["methods"]["6n"]["flops"] == pytest.approx(5.88e23)


@pytest.mark.parametrize("argv, needles", [
    (["params", "--n-layer", "12", "--d-model", "100", "--n-head", "3", "--n-ctx", "8",
      "--vocab-size", "10"], ["'d_model' must be divisible by n_head", "d_model=100"]),
    (["params", "--preset", "gpt2", "--n-layer", "twelve"], ["--n-layer", "'twelve'"]),
    (["params", "--preset", "gpt2", "--n-layer", "1.5"], ["--n-layer", "whole number"]),
    (["params", "--n-layer", "2"], ["missing --d-model"]),
    (["flops", "--preset", "gpt2", "--tokens", "lots"], ["--tokens", "'lots'"]),
    (["flops", "--preset", "gpt2", "--tokens", "-5"], ["--tokens", "> 0", "'-5'"]),
    (["flops", "--params", "1e9", "--preset", "gpt2"], ["either --params or a model config"]),
    (["params", "--preset", "gpt5"], ["--preset", "gpt5"]),
    ([], ["COMMAND"]),
    (["nosuch"], ["nosuch"]),
])
def test_bad_input_is_one_line(capsys, argv, needles):
    """Invalid configs, unparsable numbers and unknown commands exit non-zero with one line."""
    assert_one_line_error(*run(capsys, *argv), *needles)


# --- fit / allocate --------------------------------------------------------------------------

def _csv(path: Path, header: str, rows) -> Path:
    path.write_text(header + "\n" + "".join(",".join(f"{v:.8g}" for v in r) + "\n" for r in rows))
    return path


def _power_runs(tmp_path: Path, noise: float = 0.003) -> Path:
    """Eight runs on L = 1.7 + (8.8e13/N)^0.076 (Kaplan eq. 1.1 with an irreducible term)."""
    rng = np.random.default_rng(0)
    N = np.logspace(5, 8, 8)
    L = PowerLaw(alpha=0.076, x_c=8.8e13, E=1.7).predict(N) * np.exp(rng.normal(0, noise, N.size))
    return _csv(tmp_path / "runs.csv", "params,loss,comment", [(n, l, 0) for n, l in zip(N, L)])


def test_fit_power_law_prints_intervals_and_plot(capsys, tmp_path, monkeypatch):
    """fit --law power reports alpha with a bootstrap interval and writes the PNG it names."""
    monkeypatch.chdir(tmp_path)
    runs = _power_runs(tmp_path)
    code, out, _ = run(capsys, "fit", str(runs), "--law", "power", "--bootstrap", "20")
    assert code == 0
    assert "95% interval" in out and "alpha" in out
    plot = tmp_path / "runs.power-fit.png"
    assert f"plot: {plot.name}" in out and plot.stat().st_size > 1000
    code, out, _ = run(capsys, "fit", str(runs), "--law", "power", "--bootstrap", "20",
                       "--no-plot", "--json")
    data = json.loads(out)
    alpha = data["params"]["alpha"]
    assert alpha["low"] <= alpha["estimate"] <= alpha["high"]
    assert data["columns"] == {"x": "params", "loss": "loss"} and data["plot"] is None


def test_fit_chinchilla_then_allocate_with_the_saved_law(capsys, tmp_path):
    """fit --law chinchilla recovers Epoch's planted exponents; allocate --law FILE uses the saved law."""
    rng = np.random.default_rng(1)
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), 30))
    D = np.exp(rng.uniform(np.log(1e9), np.log(1e12), 30))
    L = EPOCH_2024.predict(N, D) * np.exp(rng.normal(0, 0.002, N.size))
    runs = _csv(tmp_path / "runs.csv", "Model Size,Training FLOP,Loss",
                [(n, 6 * n * d, l) for n, d, l in zip(N, D, L)])  # D from C = 6ND
    law = tmp_path / "law.json"
    code, out, _ = run(capsys, "fit", str(runs), "--law", "chinchilla", "--bootstrap", "0",
                       "--plot", str(tmp_path / "fit.png"), "--save-law", str(law), "--json")
    data = json.loads(out)
    assert code == 0 and (tmp_path / "fit.png").exists()
    assert data["params"]["alpha"]["estimate"] == pytest.approx(EPOCH_2024.alpha, abs=0.03)
    assert data["params"]["beta"]["estimate"] == pytest.approx(EPOCH_2024.beta, abs=0.03)
    code, out, _ = run(capsys, "allocate", "--compute", "1e21", "--law", str(law), "--json")
    row = json.loads(out)["allocations"][0]
    fitted = ChinchillaLaw(**{k: json.loads(law.read_text())[k] for k in ("E", "A", "B", "alpha", "beta")})
    n_opt, d_opt = compute_optimal(fitted, 1e21)
    assert row["N_opt"] == pytest.approx(n_opt) and row["D_opt"] == pytest.approx(d_opt)


def test_allocate_named_laws(capsys):
    """allocate under Epoch's refit at Chinchilla's budget gives ~18 tokens/param (Besiroglu et al. 2024)."""
    code, out, _ = run(capsys, "allocate", "--compute", "5.76e23", "--law", "epoch", "--json")
    row = json.loads(out)["allocations"][0]
    assert code == 0
    assert row["N_opt"] * row["D_opt"] * 6 == pytest.approx(5.76e23)
    assert 17 < row["tokens_per_param"] < 19.5
    assert row["loss"] == pytest.approx(float(EPOCH_2024.predict(row["N_opt"], row["D_opt"])))
    code, out, _ = run(capsys, "allocate", "--compute", "1e21", "1e23", "--law", "chinchilla-unrounded")
    assert code == 0 and "tokens/param" in out and out.count("e+2") >= 2
    code, out, _ = run(capsys, "allocate", "--compute", "1e21", "--law", "kaplan")
    assert code == 0 and "Kaplan" in out


@pytest.mark.parametrize("make, argv, needles", [
    (None, ["fit", "{d}/absent.csv", "--law", "power"], ["absent.csv", "does not exist"]),
    (("size,loss", [(1, 2)] * 4), ["fit", "{f}", "--law", "power"], ["no column", "for N", "size, loss"]),
    (("N,loss", [(1e5, 3.0), (1e6, "x")]), ["fit", "{f}", "--law", "power"], ["line 3", "'loss'", "'x'"]),
    (("N,loss", [(1e5, 3.0), (1e6, -1), (1e7, 2)]), ["fit", "{f}", "--law", "power"], ["line 3", "positive"]),
    (("N,loss", [(1e5, 3.0)] * 6), ["fit", "{f}", "--law", "chinchilla"], ["no column for D", "or for C"]),
    (("", []), ["fit", "{f}", "--law", "power"], ["empty"]),
    (("N,loss", [(1e5, 2.0), (1e6, 3.0), (1e7, 4.0), (1e8, 5.0)]), ["fit", "{f}", "--law", "power"],
     ["the fit failed", "does not fall"]),
    (("N,loss", [(1e5, 3.0), (1e6, 2.5), (1e7, 2.2)]), ["fit", "{f}", "--law", "power", "--level", "2"],
     ["--level", "< 1", "'2'"]),
    (None, ["fit", "x.csv"], ["--law"]),
    (None, ["allocate", "--compute", "1e21", "--law", "nope"], ["'nope'", "epoch"]),
    (None, ["allocate", "--compute", "lots", "--law", "epoch"], ["--compute", "'lots'"]),
    (("", []), ["allocate", "--compute", "1e21", "--law", "{f}"], ["cannot read law file"]),
])
def test_fit_and_allocate_bad_input(capsys, tmp_path, make, argv, needles):
    """Missing files, wrong CSV columns, unparsable cells and unknown laws are one-line errors."""
    f = tmp_path / "in.csv"
    if make is not None:
        header, rows = make
        f.write_text((header + "\n" if header else "") + "".join(f"{a},{b}\n" for a, b in rows))
    argv = [a.format(d=tmp_path, f=f) for a in argv]
    assert_one_line_error(*run(capsys, *argv), *needles)


def test_law_file_errors(capsys, tmp_path):
    """A law file with a wrong form, a missing key or an invalid value names the problem."""
    for data, needle in [({"form": "quadratic"}, '"form" must be one of'),
                         ({"form": "chinchilla", "E": 1, "A": 1, "B": 1, "alpha": 0.3}, "missing 'beta'"),
                         ({"form": "chinchilla", "E": 1, "A": -1, "B": 1, "alpha": 0.3, "beta": 0.3}, "'A'"),
                         ({"form": "power", "alpha": 0.1, "x_c": 1e10, "E": 1}, "needs a law of N and D")]:
        (tmp_path / "law.json").write_text(json.dumps(data))
        assert_one_line_error(*run(capsys, "allocate", "--compute", "1e21", "--law",
                                   str(tmp_path / "law.json")), needle)


# --- numbers in range, clean messages, safe text ------------------------------------------------

@pytest.mark.parametrize("argv, needles", [
    (["flops", "--params", "1e308"], ["--params", "<= 1e+30", "'1e308'"]),
    (["flops", "--preset", "gpt2", "--tokens", "1e31"], ["--tokens", "<= 1e+30"]),
    (["params", "--preset", "gpt2", "--d-model", "1e19"], ["--d-model", "<= 9.22337e+18"]),
    (["fit", "x.csv", "--law", "power", "--bootstrap", "1e12"], ["--bootstrap", "<= 10000", "'1e12'"]),
    (["fit", "x.csv", "--law", "power", "--seed", "-1"], ["--seed", ">= 0", "'-1'"]),
    (["fit", "x.csv", "--law", "power", "--level", "1"], ["--level", "> 0 and < 1"]),
    (["allocate", "--compute", "1", "--law", "chinchilla"], ["--compute", "> 6", "'1'"]),
    (["allocate", "--compute", "100", "--law", "epoch"], ["--compute 100", "N=0.506", "one parameter"]),
    (["sweep", "--tokens", "1e30"], ["--tokens", "<= 1e+15", "'1e30'"]),
    (["sweep", "--tokens", "1k", "--seeds", "0,-1"], ["--seeds", ">= 0", "'-1'"]),
])
def test_numbers_must_be_finite_in_range_and_named(capsys, argv, needles):
    """Overflowing, out-of-range and undefined numbers are one-line errors naming the option and its range."""
    assert_one_line_error(*run(capsys, *argv), *needles)


def test_integers_are_exact_and_json_is_strict(capsys):
    """A 2**53 + 1 width is counted exactly, and the largest --params x --tokens is finite, strict JSON."""
    from scaling.model import GPTConfig
    from scaling.params import count_params

    d = 2**53 + 1
    code, out, _ = run(capsys, "params", "--n-layer", "1", "--d-model", str(d), "--n-head", "1",
                       "--n-ctx", "8", "--vocab-size", "10", "--json")
    data = json.loads(out)
    assert code == 0 and data["config"]["d_model"] == d
    assert data["total"] == count_params(GPTConfig(n_layer=1, d_model=d, n_head=1, n_ctx=8, vocab_size=10)).total

    def no_constants(name):
        raise AssertionError(f"not JSON: {name}")

    code, out, _ = run(capsys, "flops", "--params", "1e30", "--tokens", "1e30", "--json")
    assert code == 0 and json.loads(out, parse_constant=no_constants)["methods"]["6n"]["flops"] == pytest.approx(6e60)


def test_csv_with_a_duplicate_column_is_refused(capsys, tmp_path):
    """A CSV naming a column twice (N,N,loss) is refused, naming the column, instead of fitting the last."""
    f = tmp_path / "runs.csv"
    f.write_text("N,N,loss\n1e5,1e6,3.0\n1e6,1e7,2.5\n1e7,1e8,2.2\n1e8,1e9,2.1\n")
    assert_one_line_error(*run(capsys, "fit", str(f), "--law", "power"), "'N' twice")
    f.write_text("loss,N,Loss\n3.0,1e5,3.0\n")
    assert_one_line_error(*run(capsys, "fit", str(f), "--law", "power"), "'Loss' twice", "'loss'")


def test_fit_plot_prints_the_path_it_wrote(capsys, tmp_path, monkeypatch):
    """--plot without a suffix writes PATH.png and says so (not the path as given)."""
    monkeypatch.chdir(tmp_path)
    runs = _power_runs(tmp_path)
    code, out, _ = run(capsys, "fit", str(runs), "--law", "power", "--bootstrap", "0", "--plot", "adir")
    assert code == 0 and "plot: adir.png" in out and (tmp_path / "adir.png").exists()


def test_escape_sequences_from_input_files_are_not_printed_raw(capsys, tmp_path):
    """ANSI escapes in a law file's source or a CSV header reach the terminal escaped, never raw."""
    law = tmp_path / "law.json"
    law.write_text(json.dumps({"form": "chinchilla", "E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34,
                               "beta": 0.28, "source": "\x1b[2J\x1b[31mpwned\r"}))
    code, out, _ = run(capsys, "allocate", "--compute", "1e21", "--law", str(law))
    assert code == 0 and "\x1b" not in out and "\r" not in out and "\\x1b[31mpwned" in out
    f = tmp_path / "runs.csv"
    f.write_text("size\x1b[31m,loss\n1,2\n")
    code, out, err = run(capsys, "fit", str(f), "--law", "power")
    assert code == 1 and "\x1b" not in err and "size\\x1b[31m" in err


# --- sweep -----------------------------------------------------------------------------------

def test_sweep_is_wired(capsys, tmp_path):
    """`scaling sweep` takes the sweep engine's arguments; a bad budget or source is a one-line error."""
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--help"])
    assert e.value.code == 0 and "--tokens" in capsys.readouterr().out
    assert_one_line_error(*run(capsys, "sweep", "--tokens", "lots"), "--tokens", "'lots'")
    assert_one_line_error(*run(capsys, "sweep", "--tokens", "1k", "--source", str(tmp_path / "absent"),
                               "--store", str(tmp_path / "runs.sqlite")), "data source")
    assert not (tmp_path / "runs.sqlite").exists()
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for argv, needle in [(["--executor", "threads"], "'threads'"), (["--store", str(notes)], "notes.txt")]:
        # every check comes before the sweep's first line, so an error is the only line
        assert_one_line_error(*run(capsys, "sweep", "--tokens", "1k", "--sizes", "16", "--n-ctx", "8",
                                   "--batch-size", "8", "--store", str(tmp_path / "runs.sqlite"), *argv), needle)
    assert notes.read_text() == "mine" and not (tmp_path / "runs.sqlite").exists()


# --- report ----------------------------------------------------------------------------------

def _write(directory: Path, alpha: float, verdict: str, commit: str) -> Path:
    claims = [ClaimResult("fit", "A fit", "Paper 2020, eq. 1", "L = E + A/N^α", "cpu", "smoke",
                          verdict=verdict, measurements=[
                              Measurement("alpha", alpha, expected=0.34, tolerance=0.02)])]
    write_report(directory, build_report(claims, {"git_commit": commit}, "smoke"))
    return directory


def test_report_rerenders_and_summarizes(capsys, tmp_path):
    """report DIR rewrites report.md and report.html from report.json and prints the summary."""
    d = _write(tmp_path / "new", 0.35, "reproduced", "c2")
    (d / "report.md").unlink()
    code, out, _ = run(capsys, "report", str(d))
    assert code == 0
    assert (d / "report.md").exists() and (d / "report.html").exists()
    assert "fit" in out and "reproduced" in out and "alpha: 0.35 vs 0.34 (±0.02)" in out


def test_report_compare(capsys, tmp_path):
    """--compare OTHER prints verdict changes and moved measurements; --fail-on-regression exits 1."""
    old = _write(tmp_path / "old", 0.34, "reproduced", "c1")
    new = _write(tmp_path / "new", 0.40, "not_reproduced", "c2")
    (new / "report.html").unlink()  # --no-write must not render it again
    code, out, _ = run(capsys, "report", str(new), "--compare", str(old), "--no-write")
    assert code == 0
    assert "reproduced → not reproduced" in out and "0.34" in out and "+0.06" in out
    assert not (new / "report.html").exists()
    code, out, err = run(capsys, "report", str(new), "--compare", str(old), "--no-write",
                         "--fail-on-regression", "--json")
    assert code == 1 and "worse" not in err  # JSON mode: the status says it
    data = json.loads(out)
    assert data["comparison"]["verdict_changes"][0]["regressed"] is True


@pytest.mark.parametrize("make, needle", [
    (lambda p: p / "absent", "does not exist"),
    (lambda p: (p / "x").mkdir() or p / "x", "report.json"),
    (lambda p: (p / "report.json").write_text("{not json") and p, "cannot read report"),
])
def test_report_bad_input(capsys, tmp_path, make, needle):
    """A missing directory, a missing report.json and a malformed one are one-line errors."""
    assert_one_line_error(*run(capsys, "report", str(make(tmp_path))), needle)


# --- the console script ----------------------------------------------------------------------

def test_console_script_runs(tmp_path):
    """The installed `scaling` script (or `python -m scaling.cli`) prints GPT-2 small's total."""
    script = Path(sys.executable).parent / "scaling"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "scaling.cli"]
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    done = subprocess.run([*cmd, "params", *GPT2_SMALL], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "124,439,808" in done.stdout
    bad = subprocess.run([*cmd, "params", "--n-layer", "x"], capture_output=True, text=True,
                         timeout=120, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, local", [
    (["sweep", "--tokens", "1M"], True),
    (["sweep", "--executor", "local"], True),
    (["sweep", "--executor", "inline"], False),
    (["sweep", "--executor=dask-local"], False),
])
def test_sweep_starts_the_worker_server_only_for_local_workers(argv, local):
    """`scaling sweep` starts the local workers' server before parsing only when it will use it."""
    from scaling.cli import _local_executor

    assert _local_executor(argv) is local


def test_commands_import_only_their_own_heavy_modules():
    """`scaling params` imports neither torch nor scipy; `scaling fit --help` imports no torch."""
    code = ("import sys; from scaling.cli import main; main({argv}); "
            "print('torch' in sys.modules, 'scipy' in sys.modules)")
    params = ["params", "--n-layer", "2", "--d-model", "32", "--n-head", "2", "--n-ctx", "64", "--vocab-size", "64"]
    out = subprocess.run([sys.executable, "-c", code.format(argv=params)], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["False", "False"]
    fit = "import sys; from scaling.cli import main\ntry: main(['fit', '--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", fit], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False"
