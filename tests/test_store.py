"""Tests for scaling.store: the SQLite run store (JSON rows, WAL, concurrency, foreign files)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from scaling import leases
from scaling.store import RunStore
from scaling.run import ENGINE_VERSION, Run

ROOT = Path(__file__).resolve().parents[1]


def make_run(i: int, eval_loss: float = 2.0) -> Run:
    """A small, fully populated Run (no training: the store does not care where it came from)."""
    return Run(
        config={"n_layer": 1, "d_model": 16 + i, "n_head": 1, "n_ctx": 8, "vocab_size": 16,
                "d_ff": 64, "tie_embeddings": False, "bias": True},
        source={"name": "markov", "fingerprint": "ab" * 32},
        settings={"tokens": 1000 + i, "seed": 0},
        eval_loss=eval_loss,
        curve=[{"step": 1, "tokens": 64, "lr": 1e-3, "train_loss": 2.7, "eval_loss": 2.6}],
        tokens=1000 + i, steps=10, lr=1e-3,
        params={"total": 100, "embedding": 20, "non_embedding": 80},
        flops={"6nd": 6.0e5}, wall_s=0.1, tokens_per_s=1e4,
        status="ok" if eval_loss == eval_loss else "diverged",
        metrics={}, threads=1, engine_version=ENGINE_VERSION,
    )


def test_put_get_all_len(tmp_path):
    """Runs put under a key come back equal from get() and all(); len counts rows."""
    with RunStore(tmp_path / "s" / "runs.sqlite") as store:  # parent folder is created
        assert len(store) == 0 and store.get("k0") is None
        runs = [make_run(i) for i in range(3)]
        for i, r in enumerate(runs):
            assert store.put(f"k{i}", r)
        assert len(store) == 3 and "k1" in store and "zz" not in store
        assert store.get("k1") == runs[1]
        assert store.all() == runs
        assert store.keys() == ["k0", "k1", "k2"]


def test_reopened_store_keeps_runs(tmp_path):
    """A closed and reopened store has every run written before."""
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        store.put("a", make_run(1))
    with RunStore(path) as store:
        assert store.get("a") == make_run(1)


def test_existing_key_keeps_its_first_run(tmp_path):
    """put() on a key already present writes nothing and returns False."""
    with RunStore(tmp_path / "runs.sqlite") as store:
        assert store.put("k", make_run(1, eval_loss=2.0))
        assert not store.put("k", make_run(1, eval_loss=3.0))
        assert store.get("k").eval_loss == 2.0 and len(store) == 1


def test_diverged_run_round_trips(tmp_path):
    """A diverged run (NaN eval loss) is stored as strict JSON and read back as NaN."""
    with RunStore(tmp_path / "runs.sqlite") as store:
        store.put("k", make_run(1, eval_loss=float("nan")))
        got = store.get("k")
    assert got.status == "diverged" and got.eval_loss != got.eval_loss


def test_rows_are_json_in_a_wal_database(tmp_path):
    """The file is WAL-journaled and every stored column parses as JSON (no pickle)."""
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        store.put("k", make_run(1))
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        key, settings, results, curve, created = conn.execute(
            "SELECT key, settings, results, curve, created FROM runs").fetchone()
        assert key == "k"
        assert set(json.loads(settings)) == {"config", "source", "settings"}
        assert json.loads(results)["eval_loss"] == 2.0
        assert json.loads(curve)[0]["step"] == 1
        assert created.endswith("+00:00")
        assert dict(conn.execute("SELECT name, value FROM meta"))["schema"] == "scaling-run-store"
    finally:
        conn.close()


def test_text_file_at_the_path_is_an_error_and_untouched(tmp_path):
    """A non-SQLite file at the store path is a ValueError naming the path; its bytes are unchanged."""
    path = tmp_path / "runs.sqlite"
    path.write_text("my precious notes\n")
    with pytest.raises(ValueError, match="not an SQLite database") as e:
        RunStore(path)
    assert str(path) in str(e.value)
    assert path.read_text() == "my precious notes\n"


def test_corrupt_sqlite_file_is_an_error(tmp_path):
    """A file with an SQLite header but garbage after it is a ValueError naming the path."""
    path = tmp_path / "runs.sqlite"
    data = b"SQLite format 3\x00" + os.urandom(4000)
    path.write_bytes(data)
    with pytest.raises(ValueError) as e:
        RunStore(path)
    assert str(path) in str(e.value)
    assert path.read_bytes() == data


def test_foreign_sqlite_database_is_an_error_and_untouched(tmp_path):
    """An SQLite database without our meta table is refused before any write: same bytes, no tables, no WAL."""
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"without the scaling run-store schema.*people") as e:
        RunStore(path)
    assert str(path) in str(e.value)
    assert path.read_bytes() == before  # the WAL switch used to rewrite the header first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]
    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    conn.close()
    assert tables == ["people"]


def test_meta_table_of_another_schema_is_an_error(tmp_path):
    """An SQLite database with a 'meta' table that is not ours is refused."""
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('schema', 'someone-else')")
    conn.commit()
    conn.close()
    with pytest.raises(ValueError, match="someone-else"):
        RunStore(path)


def test_directory_at_the_path_is_an_error(tmp_path):
    """A directory is not a store path."""
    with pytest.raises(ValueError, match="is a directory"):
        RunStore(tmp_path)


def test_path_under_a_file_and_a_non_run_are_value_errors(tmp_path):
    """A store path inside a file, or putting something that is not a Run, is a ValueError naming it."""
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"inside .*notes.txt.*which is a file"):
        RunStore(tmp_path / "notes.txt" / "runs.sqlite")
    with RunStore(tmp_path / "runs.sqlite") as store, pytest.raises(ValueError, match="'run' must be a Run"):
        store.put("k", {"eval_loss": 1.0})


def test_empty_file_becomes_a_store(tmp_path):
    """An empty file (nothing to lose) is initialized as a fresh store."""
    path = tmp_path / "runs.sqlite"
    path.touch()
    with RunStore(path) as store:
        store.put("k", make_run(0))
        assert len(store) == 1


WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_store import make_run
    from scaling.store import RunStore
    path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with RunStore(path) as store:
        for i in range(n):
            store.put(f"{{tag}}-{{i}}", make_run(i))
            store.put(f"shared-{{i}}", make_run(i))
            print(f"{{tag}}-{{i}}", flush=True)
""").format(tests=str(ROOT / "tests"))


def _writer(path: Path, tag: str, n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, str(n)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_share_a_store(tmp_path):
    """Two processes writing at once lose no row and leave an intact database."""
    path = tmp_path / "runs.sqlite"
    procs = [_writer(path, tag, 40) for tag in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with RunStore(path) as store:
        assert len(store) == 40 + 40 + 40  # a-*, b-*, and shared-* written once
        assert store.get("shared-7") == make_run(7)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_sigkill_mid_write_loses_no_committed_run(tmp_path):
    """A writer killed with SIGKILL keeps every run it reported written, in an intact database."""
    path = tmp_path / "runs.sqlite"
    proc = _writer(path, "k", 100000)
    written = []
    deadline = time.monotonic() + 60
    while len(written) < 30 and time.monotonic() < deadline:
        written.append(proc.stdout.readline().strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    assert len(written) == 30, "writer did not start"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with RunStore(path) as store:
        for key in written:
            assert store.get(key) is not None, key
        store.put("after", make_run(0))  # still writable
        assert "after" in store


# --- opening under contention, foreign and read-only files, bad rows ------------------------

def _open_and_put(path: str, barrier, i: int) -> None:
    barrier.wait()  # every opener starts at the same moment
    with RunStore(path) as store:
        store.put(f"k{i}", make_run(i % 5))


def test_many_concurrent_openers_on_a_fresh_file_all_succeed(tmp_path):
    """Many processes opening one fresh store at the same moment all succeed (busy waits are retried)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")  # the children share this process's imports
    n, rounds = 16, 12  # before the fix, 16 openers failed in about 1 round of 10
    for r in range(rounds):
        path = str(tmp_path / f"runs{r}.sqlite")
        barrier = ctx.Barrier(n)
        procs = [ctx.Process(target=_open_and_put, args=(path, barrier, i)) for i in range(n)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        assert [p.exitcode for p in procs] == [0] * n, f"round {r}: some openers failed"
        with RunStore(path) as store:
            assert len(store) == n


def test_bad_json_row_names_the_store_and_the_key(tmp_path):
    """A hand-edited row that is not JSON gives a ValueError naming the store path and the row key."""
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        store.put("good", make_run(0))
        store.put("edited", make_run(1))
    conn = sqlite3.connect(path)
    for bad in ('{not json', '[]', json.dumps({**make_run(1).to_dict(), "eval_loss": "low"})):
        conn.execute("UPDATE runs SET results = ? WHERE key = 'edited'", (bad,))
        conn.commit()
        with RunStore(path) as store:
            assert store.get("good") == make_run(0)
            for read in (lambda: store.get("edited"), store.all):
                with pytest.raises(ValueError, match=r"'edited'") as e:
                    read()
                assert str(path) in str(e.value)
    conn.close()


def test_read_only_store_is_readable_and_refuses_only_writes(tmp_path, monkeypatch):
    """A store in a folder and file we may not write opens: runs are read, and a write says it is read-only."""
    folder = tmp_path / "ro"
    path = folder / "runs.sqlite"
    with RunStore(path) as store:
        store.put("a", make_run(1))
    before = path.read_bytes()
    path.chmod(0o444)
    folder.chmod(0o555)
    if os.access(path, os.W_OK):  # root ignores permission bits: let the store see them as we set them
        monkeypatch.setattr("scaling.store.os.access", lambda p, mode: mode != os.W_OK)
    try:
        with RunStore(path) as store:
            assert store.read_only
            assert store.get("a") == make_run(1) and len(store.all()) == 1 and "a" in store
            with pytest.raises(ValueError, match=r"read-only.*cannot store a run") as e:
                store.put("b", make_run(2))
            assert str(path) in str(e.value)
    finally:
        folder.chmod(0o755)
    assert path.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["runs.sqlite"]


# --- leases ------------------------------------------------------------------------------------

def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_claimed_run_is_not_claimed_twice_until_stored_or_released(tmp_path):
    """A live owner's lease keeps other claimers off a run; storing or releasing it ends the lease."""
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as a, RunStore(path) as b:
        assert a.claim(["k1", "k2", "k3"]) == ["k1", "k2", "k3"]
        assert b.claim(["k1", "k2", "k3", "k4"]) == ["k4"]
        assert a.claim(["k1"]) == ["k1"]  # an owner may renew its own claim
        a.put("k1", make_run(1))
        a.release(["k2"])
        found, free = b.wait(["k1", "k2", "k3"])
        assert set(found) == {"k1"} and free == ["k2"]
        assert b.claim(["k1", "k2", "k3"]) == ["k2"]  # k1 is stored, k3 still held by a
    with RunStore(path) as c:  # closing a store releases its leases
        assert c.claim(["k3", "k4"]) == ["k3", "k4"]


def test_a_dead_or_silent_owners_lease_expires(tmp_path):
    """A lease whose pid is gone (this host) or that was not renewed within the TTL (any host) is free."""
    path = tmp_path / "runs.sqlite"
    now = time.time()
    with RunStore(path) as store:
        pass
    conn = sqlite3.connect(path)
    conn.executemany("INSERT INTO leases(key, owner, pid, host, renewed) VALUES (?,?,?,?,?)", [
        ("dead", "x", _dead_pid(), socket.gethostname(), now),
        ("silent", "y", 1, "elsewhere", now - leases.TTL_S - 1),
        ("remote", "z", 1, "elsewhere", now),
        ("live", "w", os.getpid(), socket.gethostname(), now),
    ])
    conn.commit()
    conn.close()
    with RunStore(path) as store:
        assert store.claim(["dead", "silent", "remote", "live"]) == ["dead", "silent"]


def test_a_read_only_store_refuses_a_claim(tmp_path, monkeypatch):
    """Claiming runs to train in a read-only store is refused before any training."""
    path = tmp_path / "runs.sqlite"
    RunStore(path).close()
    monkeypatch.setattr("scaling.store.os.access", lambda p, mode: mode != os.W_OK)
    with RunStore(path) as store, pytest.raises(ValueError, match=r"read-only.*claim 2 run"):
        store.claim(["a", "b"])
