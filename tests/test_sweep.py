"""Tests for scaling.sweep: run keys, grids, reuse from the store, bad input, and resuming
a sweep killed with SIGKILL."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import scaling.sweep as sweep_mod
from scaling.model import GPTConfig
from scaling.params import count_params
from scaling.store import RunStore
from scaling.family import width_family
from scaling.sweep import (
    Job,
    SweepError,
    job_keys,
    make_jobs,
    run_key,
    run_sweep,
    sweep,
)
from markov_source import N_CTX, TINY
from scaling.train import TrainSettings

ROOT = Path(__file__).resolve().parents[1]


def width_config(d_model: int, n_layer: int, n_ctx: int, vocab_size: int) -> GPTConfig:
    """The config of `scaling sweep --sizes d_model --n-layer n_layer`: the width family's."""
    return width_family(n_layer=n_layer).config(d_model, n_ctx=n_ctx, vocab_size=vocab_size)




# --- keys and grids --------------------------------------------------------------------------

def test_run_key_changes_with_everything_that_determines_the_result():
    """The key is a sha256 hex digest that changes with config, data, every setting, and engine version."""
    job = Job(width_config(16, 1, N_CTX, 16), "markov", TrainSettings(tokens=4096, **TINY))
    key = run_key(job, "fp")
    assert len(key) == 64 and int(key, 16) >= 0
    assert run_key(Job(width_config(16, 1, N_CTX, 16), "markov", TrainSettings(tokens=4096, **TINY)), "fp") == key
    others = [
        run_key(job, "fp2"),
        run_key(dataclasses.replace(job, config=width_config(32, 1, N_CTX, 16)), "fp"),
        run_key(dataclasses.replace(job, config=width_config(16, 2, N_CTX, 16)), "fp"),
    ]
    for field, value in [("tokens", 8192), ("seed", 1), ("device", "cuda"), ("lr", 1e-3),
                         ("batch_size", 4), ("weight_decay", 0.0), ("eval_seqs", 32)]:
        others.append(run_key(dataclasses.replace(job, settings=dataclasses.replace(job.settings, **{field: value})), "fp"))
    assert len(set(others)) == len(others) and key not in others


def test_run_key_depends_on_data_not_on_its_spec():
    """The same data reached through two specs shares a key (the fingerprint decides)."""
    a = Job(width_config(16, 1, N_CTX, 16), "corpus/", TrainSettings(tokens=4096))
    b = dataclasses.replace(a, source_spec="/abs/corpus")
    assert run_key(a, "fp") == run_key(b, "fp")


def test_run_key_includes_engine_version(monkeypatch):
    """A new engine version makes every key new, so old runs are not reused."""
    job = Job(width_config(16, 1, N_CTX, 16), "markov", TrainSettings(tokens=4096))
    before = run_key(job, "fp")
    monkeypatch.setattr(sweep_mod, "ENGINE_VERSION", "999")
    assert run_key(job, "fp") != before


# sha256 of the concatenated run keys of make_jobs("synthetic", [8, 32, 56, 200], n_layer=2,
# n_ctx=64, vocab_size=256, tokens=[300_000], seeds=[0, 1], batch_size=32) at fingerprint "fp",
# computed by the engine before `scaling sweep` took its sizes from ModelFamily: a run stored
# by either is found by the other. Recomputed when ENGINE_VERSION changes (it is in every key):
# this one is ENGINE_VERSION "2"'s.
SWEEP_KEYS_DIGEST = "9fdc3be1f3ab3d1133a798a712154692558a6b9dbdd9d88a54f8d45b230a38a7"


def test_sweep_sizes_are_the_width_family_and_keep_their_run_keys():
    """`make_jobs` sizes are width_family dials, and the run keys they give are the ones stored before."""
    jobs = make_jobs("synthetic", [8, 32, 56, 200], n_layer=2, n_ctx=64, vocab_size=256, tokens=[300_000],
                     seeds=[0, 1], batch_size=32)
    assert [j.config for j in jobs[::2]] == [width_config(d, 2, 64, 256) for d in (8, 32, 56, 200)]
    digest = hashlib.sha256("".join(run_key(j, "fp") for j in jobs).encode()).hexdigest()
    assert digest == SWEEP_KEYS_DIGEST


def test_make_jobs_takes_any_family():
    """A family's dial values are the sizes; n_layer and family together, or a bad size, name the value."""
    family = width_family(n_layer=3, head_dim=8)
    jobs = make_jobs("synthetic", [16], family=family, n_ctx=32, vocab_size=64, tokens=[4096])
    assert jobs[0].config == family.config(16, n_ctx=32, vocab_size=64)
    with pytest.raises(ValueError, match="n_layer=2"):
        make_jobs("synthetic", [16], n_layer=2, family=family, n_ctx=32, vocab_size=64, tokens=[4096])
    with pytest.raises(ValueError, match="d_model=0"):
        make_jobs("synthetic", [0], n_layer=2, n_ctx=32, vocab_size=64, tokens=[4096])


def test_make_jobs_builds_the_grid():
    """make_jobs gives sizes × budgets × seeds; FLOP budgets become D = C / 6N_total."""
    jobs = make_jobs("x", [16, 32], n_layer=1, n_ctx=16, vocab_size=16, tokens=[1000, 2000],
                     seeds=[0, 1], batch_size=4)
    assert len(jobs) == 8
    assert {(j.config.d_model, j.settings.tokens, j.settings.seed) for j in jobs} == {
        (d, t, s) for d in (16, 32) for t in (1000, 2000) for s in (0, 1)}
    (job,) = make_jobs("x", [16], n_layer=1, n_ctx=16, vocab_size=16, flops=[1e9])
    assert job.settings.tokens == int(1e9 // (6 * count_params(job.config).total))
    with pytest.raises(ValueError, match="exactly one"):
        make_jobs("x", [16], n_layer=1, n_ctx=16, vocab_size=16)
    with pytest.raises(ValueError, match=r"'flops' budget 10"):
        make_jobs("x", [16], n_layer=1, n_ctx=16, vocab_size=16, flops=[10])
    with pytest.raises(ValueError, match=r"'tokens' must be a positive integer below 2\*\*63 \(got tokens=0\)"):
        make_jobs("x", [16], n_layer=1, n_ctx=16, vocab_size=16, tokens=[0])
    with pytest.raises(ValueError, match=r"below 2\*\*63 \(got tokens=9223372036854775808\)"):
        make_jobs("x", [16], n_layer=1, n_ctx=16, vocab_size=16, tokens=[2**63])


# --- running sweeps (inline: this process) ----------------------------------------------------

def test_sweep_trains_stores_and_reuses(tiny_jobs, markov, tmp_path, monkeypatch):
    """A sweep trains each job once and stores it; the same sweep again trains nothing."""
    jobs = tiny_jobs("markov", seeds=(0, 1))
    path = tmp_path / "runs.sqlite"
    first = run_sweep(jobs, path, workers=1, executor="inline")
    assert [r.config["d_model"] for r in first] == [16, 16, 32, 32]
    assert [r.settings["seed"] for r in first] == [0, 1, 0, 1]
    assert all(r.status == "ok" for r in first)
    with RunStore(path) as store:
        assert len(store) == 4
        assert {store.get(k) == r for k, r in zip(job_keys(jobs), first)} == {True}

    def no_training(*a, **k):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr("scaling.worker.train", no_training)
    again = sweep(jobs, path, workers=1, executor="inline")
    assert again.runs == first and again.reused == set(again.keys)


def test_duplicate_jobs_train_once(tiny_jobs, markov, tmp_path):
    """The same job twice in one sweep is trained once and returned twice."""
    (job,) = tiny_jobs("markov", sizes=(16,))
    with RunStore(tmp_path / "runs.sqlite") as store:
        runs = run_sweep([job, job], store, workers=1, executor="inline")
        assert runs[0] == runs[1] and len(store) == 1


def test_a_run_another_process_holds_is_waited_for_not_trained(tiny_jobs, markov, tmp_path, monkeypatch):
    """A sweep skips a run leased by a live owner, trains the rest, and returns the owner's stored run."""
    import threading

    import scaling.worker as ex

    monkeypatch.setattr("scaling.leases.POLL_S", 0.05)
    trained = []
    real = ex.train
    monkeypatch.setattr(ex, "train", lambda cfg, *a: trained.append(cfg.d_model) or real(cfg, *a))
    jobs = tiny_jobs("markov")
    keys = job_keys(jobs)
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as other:
        assert other.claim([keys[0]]) == [keys[0]]
        out = {}
        thread = threading.Thread(target=lambda: out.update(r=sweep(jobs, path, workers=1, executor="inline")))
        thread.start()
        deadline = time.monotonic() + 60
        while len(other) < 1 and time.monotonic() < deadline:  # until the sweep has stored jobs[1]
            time.sleep(0.05)
        assert thread.is_alive(), "the sweep did not wait for the leased run"
        stored = run_sweep(jobs[1:], path, executor="inline")[0]  # what `other` trains: any Run will do
        other.put(keys[0], dataclasses.replace(stored, wall_s=123.0))
        thread.join(timeout=60)
    result = out["r"]
    assert trained == [32] and result.runs[0].wall_s == 123.0 and result.reused == {keys[0]}


def test_a_run_released_by_its_owner_is_trained_here(tiny_jobs, markov, tmp_path, monkeypatch):
    """When a lease's owner gives the run up without storing it, the waiting sweep trains it itself."""
    import threading

    monkeypatch.setattr("scaling.leases.POLL_S", 0.05)
    jobs = tiny_jobs("markov", sizes=(16,))
    (key,) = job_keys(jobs)
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as other:
        other.claim([key])
        out = {}
        thread = threading.Thread(target=lambda: out.update(r=sweep(jobs, path, workers=1, executor="inline")))
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive()
        other.release([key])
        thread.join(timeout=60)
    assert out["r"].runs[0].status == "ok" and out["r"].reused == set()


def test_failed_run_does_not_stop_the_others(tiny_jobs, markov, tmp_path, monkeypatch):
    """One run raising ends in a SweepError naming it, while the other runs are stored."""
    import scaling.worker as ex

    real = ex.train

    def train_or_fail(config, source, settings):
        if config.d_model == 32:
            raise RuntimeError("boom")
        return real(config, source, settings)

    monkeypatch.setattr(ex, "train", train_or_fail)
    path = tmp_path / "runs.sqlite"
    with pytest.raises(SweepError, match=r"1 of 2 runs failed.*d=32.*boom"):
        run_sweep(tiny_jobs("markov"), path, workers=1, executor="inline")
    with RunStore(path) as store:
        assert len(store) == 1 and store.all()[0].config["d_model"] == 16


@pytest.mark.parametrize(
    "jobs, match",
    [
        (lambda make: make("nonesuch"), "unknown source 'nonesuch'"),
        (lambda make: make("markov", tokens=(8 * 16 - 1,)), r"tokens=127"),
        (lambda make: make("markov", vocab_size=8), r"vocab_size=8"),
        (lambda make: ["not a job"], "Job"),
    ],
    ids=["unknown-source", "budget-below-one-batch", "vocab-too-small", "not-a-job"],
)
def test_bad_input_fails_before_any_training(tiny_jobs, markov, tmp_path, monkeypatch, jobs, match):
    """Bad jobs are a ValueError naming the value, raised before any run trains or the store opens."""
    monkeypatch.setattr("scaling.worker.train", lambda *a: pytest.fail("trained"))
    good = tiny_jobs("markov", sizes=(16,))
    with pytest.raises(ValueError, match=match):
        run_sweep(good + jobs(tiny_jobs), tmp_path / "runs.sqlite", workers=1, executor="inline")
    assert not (tmp_path / "runs.sqlite").exists()


def test_bad_workers_and_executor_are_rejected(tiny_jobs, markov, tmp_path):
    """workers < 1 and an unknown executor are ValueErrors naming the value."""
    with pytest.raises(ValueError, match="workers=0"):
        run_sweep(tiny_jobs("markov"), tmp_path / "s.sqlite", workers=0)
    with pytest.raises(ValueError, match="executor='threads'"):
        run_sweep(tiny_jobs("markov"), tmp_path / "s.sqlite", executor="threads")


def test_foreign_store_is_refused_before_training(tiny_jobs, markov, tmp_path, monkeypatch):
    """A sweep pointed at a file that is not a run store fails, naming it, and leaves it alone."""
    monkeypatch.setattr("scaling.worker.train", lambda *a: pytest.fail("trained"))
    path = tmp_path / "notes.txt"
    path.write_text("not a database")
    with pytest.raises(ValueError, match="notes.txt"):
        run_sweep(tiny_jobs("markov"), path, workers=1, executor="inline")
    assert path.read_text() == "not a database"


# --- SIGKILL and resume ------------------------------------------------------------------------

def kill_jobs(corpus: str) -> list[Job]:
    """Eight tiny runs on the corpus: enough that a kill lands mid-sweep."""
    from scaling.data import make_source

    return make_jobs(corpus, [16, 24, 32, 40, 48, 56, 64, 72], n_layer=1, n_ctx=16,
                     vocab_size=make_source(corpus).vocab_size, tokens=[8 * 16 * 40], **TINY)


SWEEPER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_sweep import kill_jobs
    from scaling.sweep import run_sweep
    run_sweep(kill_jobs(sys.argv[1]), sys.argv[2], workers=1, executor="inline")
""").format(tests=str(ROOT / "tests"))


def test_sigkilled_sweep_resumes_without_losing_runs(corpus, tmp_path):
    """SIGKILL mid-sweep keeps every finished run in an intact store; the rerun trains only the rest."""
    path = tmp_path / "runs.sqlite"
    seen: list[str] = []
    with subprocess.Popen([sys.executable, "-c", SWEEPER, corpus, str(path)], cwd=ROOT,
                          start_new_session=True, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE) as proc:
        deadline = time.monotonic() + 120
        while len(seen) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if path.exists():
                with RunStore(path) as store:
                    seen = store.keys()
        alive = proc.poll() is None
        if alive:
            os.killpg(proc.pid, signal.SIGKILL)  # the sweep, mid-run
        err = proc.stderr.read().decode()
    assert alive and len(seen) >= 2, f"the sweep ended or never got going: {err}"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with RunStore(path) as store:
        kept = {k: store.get(k) for k in store.keys()}
    assert set(seen) <= set(kept) and len(kept) < 8
    # resume: what finished is reused as stored; the rest trains (inline: keeps this test quick)
    result = sweep(kill_jobs(corpus), path, workers=1, executor="inline")
    assert result.reused == set(kept)
    assert all(run == kept[k] for k, run in zip(result.keys, result.runs) if k in kept)
    with RunStore(path) as store:
        assert len(store) == 8
