"""Tests for scaling.cli.sweep: the `scaling sweep` command's table, reuse, and its errors on bad input."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from scaling.cli.sweep import add_arguments, run_command
from scaling.sweep import run_sweep



def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scaling sweep")
    add_arguments(parser)
    return parser.parse_args(argv)


def test_sweep_command_runs_and_prints_a_summary(markov, tmp_path, capsys):
    """`scaling sweep` trains the grid, prints a table with one row per run, and reuses it on rerun."""
    argv = ["--source", "markov", "--sizes", "16,32", "--n-layer", "1", "--n-ctx", "16",
            "--tokens", "1.5k", "--batch-size", "8", "--store", str(tmp_path / "runs.sqlite"),
            "--workers", "1", "--executor", "inline", "--no-progress"]
    assert run_command(_parse(argv)) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert "eval_loss" in lines[0] and len(lines) == 2 + 2 + 1
    assert "2 runs: 2 trained, 0 from the store" in out
    assert run_command(_parse(argv)) == 0
    assert "2 runs: 0 trained, 2 from the store" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--source", "nonesuch"], "nonesuch"),
        (["--tokens", "100"], r"tokens=100"),
    ],
    ids=["unknown-source", "budget-below-one-batch"],
)
def test_sweep_command_bad_input_names_the_value(markov, tmp_path, extra, match):
    """Bad --source, --sizes or --tokens is a ValueError naming the value; nothing is written."""
    argv = ["--source", "markov", "--sizes", "16", "--n-layer", "1", "--n-ctx", "16",
            "--tokens", "2k", "--batch-size", "8", "--store", str(tmp_path / "runs.sqlite"),
            "--executor", "inline", "--no-progress", *extra]
    with pytest.raises(ValueError, match=match):
        run_command(_parse(argv))
    assert not (tmp_path / "runs.sqlite").exists()


def test_empty_corpus_fails_before_training(tiny_jobs, tmp_path, monkeypatch):
    """A corpus folder with no text is a ValueError naming it, from the command and from run_sweep."""
    monkeypatch.setattr("scaling.worker.train", lambda *a: pytest.fail("trained"))
    empty = tmp_path / "empty"
    empty.mkdir()
    store = tmp_path / "runs.sqlite"
    argv = ["--source", str(empty), "--sizes", "16", "--tokens", "10k", "--store", str(store),
            "--executor", "inline", "--no-progress"]
    with pytest.raises(ValueError, match=r"empty corpus.*empty"):
        run_command(_parse(argv))
    with pytest.raises(ValueError, match=r"empty corpus.*empty"):
        run_sweep(tiny_jobs(str(empty), vocab_size=256), store, executor="inline")
    assert not store.exists()


@pytest.mark.parametrize("argv, needle", [
    (["--tokens", "lots"], "--tokens"), (["--tokens", "1k", "--sizes", "a,b"], "--sizes"),
    (["--tokens", "1k", "--sizes", "16,-8"], "'-8'"), (["--tokens", "-5"], "'-5'"),
    (["--flops", "1e9", "--tokens", "1k"], "not allowed with")])
def test_sweep_command_rejects_unparsable_numbers(argv, needle, capsys):
    """Unparsable, out-of-range or conflicting numbers stop argparse with a message naming the value."""
    with pytest.raises(SystemExit):
        _parse(argv)
    err = capsys.readouterr().err
    assert "error" in err and needle in err


def test_sweep_process_imports_neither_torch_nor_scipy(tmp_path):
    """`scaling sweep` on local workers trains with torch in the workers only: its own process
    imports neither torch nor scipy (1.4 s and 1.3 s of start-up off the critical path)."""
    code = ("import sys; from scaling.cli import main; "
            "code = main(['sweep', '--source', 'synthetic', '--sizes', '16', '--n-layer', '1', "
            "'--n-ctx', '16', '--tokens', '256', '--batch-size', '8', '--workers', '1', "
            f"'--store', {str(tmp_path / 'runs.sqlite')!r}, '--no-progress']); "
            "print(code, 'torch' in sys.modules, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.split()[-3:] == ["0", "False", "False"], out.stderr
