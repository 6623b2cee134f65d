"""The run store: finished training runs in one SQLite file, keyed by `run_key`.

One row per finished run in table `runs` (key, settings, results, curve as JSON text;
never pickle), plus a `meta` table that marks the file as ours. WAL journaling and one
transaction per write mean that a process killed mid-sweep loses nothing it had
written and leaves the file readable, and that several processes can share one store.
A file at the path that is not ours (not SQLite, or SQLite without our `meta` marker)
is an error, checked before anything is written to it. A store we may not write (a
read-only file or folder) opens read-only: its runs are reused, and only a write fails.

Leases (table `leases`) keep two sweeps that share a store from training the same run:
a process claims a run before training it, and a claim counts while its owner lives (same
host: its pid exists; any host: it renewed the lease lately; see `scaling.leases`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from scaling import leases
from scaling.leases import alive
from scaling.run import Run

SCHEMA_NAME = "scaling-run-store"
SCHEMA_VERSION = 1
_SQLITE_HEADER = b"SQLite format 3\x00"  # first 16 bytes of every SQLite 3 database file
_BUSY_TIMEOUT_S = 60.0  # writers wait this long for another process's transaction
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6  # result codes of "database is locked"

# The columns of `runs`: which `Run.to_dict()` fields go where.
_SETTINGS_FIELDS = ("config", "source", "settings")
_CURVE_FIELD = "curve"

_SCHEMA = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE runs (
        key TEXT PRIMARY KEY,
        settings TEXT NOT NULL,   -- JSON: config, source (describe()), training settings
        results TEXT NOT NULL,    -- JSON: eval_loss, status, params, flops, throughput, ...
        curve TEXT NOT NULL,      -- JSON: the loss curve at log-spaced steps
        created TEXT NOT NULL     -- ISO 8601 UTC time the row was written
    )""",
)
# Added to existing version-1 stores on open (an older engine ignores it).
_LEASES = """CREATE TABLE IF NOT EXISTS leases (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,      -- a random id per RunStore object
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    renewed REAL NOT NULL     -- unix time of the last renewal
)"""


def _dumps(obj) -> str:
    # allow_nan=False: stored JSON must be strict JSON; Run.to_dict() already maps NaN to None.
    return json.dumps(obj, sort_keys=True, allow_nan=False)


class RunStore:
    """A SQLite file of finished runs; `get`/`put` by key, `all()`, `len()`.

    Create or open with `RunStore(path)`; the parent folder is created when missing.
    Use as a context manager or call `close()` when done.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        _check_is_ours_or_absent(self.path)
        self.read_only = _read_only(self.path)
        self._owner = uuid.uuid4().hex
        self._renewer: leases.Renewer | None = None
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            _retry_busy(self._open)
        except BaseException as e:
            self._close_quietly()
            if not isinstance(e, sqlite3.DatabaseError):
                raise
            if _is_busy(e):
                raise ValueError(f"run store {str(self.path)!r} stayed locked by another process for "
                                 f"{_BUSY_TIMEOUT_S:g} s; try again when it is done") from e
            raise ValueError(
                f"run store {str(self.path)!r} is not a usable SQLite database ({e}); "
                "it was left untouched: move it away or pass another --store path"
            ) from e

    def _open(self) -> None:
        """Connect, check the schema before any write, then switch to WAL and create tables."""
        if self.read_only:
            # In a folder we may not write, SQLite cannot make the WAL's -shm file: read the file
            # as it is (immutable), which misses only what a live writer has not checkpointed.
            immutable = "" if os.access(self.path.parent, os.W_OK) else "&immutable=1"
            self._connect(f"{self.path.resolve().as_uri()}?mode=ro{immutable}")
            return
        self._connect(str(self.path))  # a foreign database is refused here, before any write
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._init_schema()

    def _connect(self, uri: str) -> None:
        self._close_quietly()
        self._conn = sqlite3.connect(uri, uri=uri.startswith("file:"), timeout=_BUSY_TIMEOUT_S,
                                     isolation_level=None)
        self._check_schema()

    def _check_schema(self) -> None:
        """ValueError unless the file is empty (and writable) or holds our schema; reads only."""
        conn = self._conn
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables and not self.read_only:
            return
        if not tables:
            raise ValueError(f"run store {str(self.path)!r} is empty and read-only: no runs to read")
        if "meta" not in tables:
            raise ValueError(
                f"run store {str(self.path)!r} is an SQLite database without the scaling "
                f"run-store schema (tables: {sorted(tables)}); refusing to use or overwrite it"
            )
        meta = dict(conn.execute("SELECT name, value FROM meta"))
        if meta.get("schema") != SCHEMA_NAME:
            raise ValueError(
                f"run store {str(self.path)!r} has a 'meta' table that is not a scaling run "
                f"store's (schema={meta.get('schema')!r}); refusing to use or overwrite it"
            )
        if meta.get("version") != str(SCHEMA_VERSION):
            raise ValueError(
                f"run store {str(self.path)!r} has schema version {meta.get('version')!r}; "
                f"this version of scaling reads version {SCHEMA_VERSION}"
            )

    def _init_schema(self) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")  # one creator at a time when two processes start together
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:
                for statement in _SCHEMA:  # not executescript: it would COMMIT our lock away
                    conn.execute(statement)
                conn.executemany(
                    "INSERT INTO meta(name, value) VALUES (?, ?)",
                    [("schema", SCHEMA_NAME), ("version", str(SCHEMA_VERSION))],
                )
            self._check_schema()
            conn.execute(_LEASES)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def get(self, key: str) -> Run | None:
        """The finished run stored under `key`, or None."""
        row = self._conn.execute(
            "SELECT settings, results, curve FROM runs WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else self._row_to_run(key, row)

    def put(self, key: str, run: Run) -> bool:
        """Store `run` under `key` in one committed transaction; True if written.

        A key already present keeps its first row (a run is a pure function of its key,
        so a second result from a concurrent process carries nothing new).
        """
        if not isinstance(run, Run):
            raise ValueError(f"'run' must be a Run (got {type(run).__name__})")
        d = run.to_dict()
        settings = {k: d.pop(k) for k in _SETTINGS_FIELDS}
        curve = d.pop(_CURVE_FIELD)
        created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self._writable("store a run")
        with self._transaction() as conn:  # the run and the release of its lease, together
            cur = conn.execute(
                "INSERT OR IGNORE INTO runs(key, settings, results, curve, created) VALUES (?,?,?,?,?)",
                (key, _dumps(settings), _dumps(d), _dumps(curve), created),
            )
            conn.execute("DELETE FROM leases WHERE key = ? AND owner = ?", (key, self._owner))
        return cur.rowcount == 1

    def keys(self) -> list[str]:
        """All stored keys, oldest first."""
        return [r[0] for r in self._conn.execute("SELECT key FROM runs ORDER BY created, key")]

    def all(self) -> list[Run]:
        """All stored runs, oldest first."""
        rows = self._conn.execute(
            "SELECT key, settings, results, curve FROM runs ORDER BY created, key"
        ).fetchall()
        return [self._row_to_run(r[0], r[1:]) for r in rows]

    def __contains__(self, key: str) -> bool:
        return self._conn.execute("SELECT 1 FROM runs WHERE key = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def close(self) -> None:
        """Release this object's leases and close the connection (idempotent)."""
        if getattr(self, "_conn", None) is not None and not self.read_only:
            try:
                self.release()
            except sqlite3.Error:  # a lease left behind expires with this process
                pass
        self._close_quietly()

    def _close_quietly(self) -> None:
        renewer = getattr(self, "_renewer", None)
        if renewer is not None:
            renewer.stop()
            self._renewer = None
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
            self._conn = None

    # --- leases ----------------------------------------------------------------------------

    def claim(self, keys: Iterable[str]) -> list[str]:
        """Lease the given keys that are neither stored nor held by a live owner; return them.

        The caller trains what it claimed; `put` releases a key's lease with its run.
        """
        keys = list(dict.fromkeys(keys))
        if not keys:
            return []
        self._writable(f"claim {len(keys)} run(s) to train")
        mine, now = [], time.time()
        with self._transaction() as conn:
            for k in keys:
                if conn.execute("SELECT 1 FROM runs WHERE key = ?", (k,)).fetchone():
                    continue
                row = conn.execute("SELECT owner, pid, host, renewed FROM leases WHERE key = ?", (k,)).fetchone()
                if row is not None and row[0] != self._owner and alive(*row[1:], now):
                    continue
                conn.execute("INSERT OR REPLACE INTO leases(key, owner, pid, host, renewed) VALUES (?,?,?,?,?)",
                             (k, self._owner, os.getpid(), socket.gethostname(), now))
                mine.append(k)
        if mine and self._renewer is None:
            self._renewer = leases.Renewer(self.path, self._owner, _BUSY_TIMEOUT_S)
        return mine

    def release(self, keys: Iterable[str] | None = None) -> None:
        """Drop this object's leases on `keys` (all of them when None), e.g. after a failed run."""
        if self.read_only:
            return
        with self._transaction() as conn:
            if keys is None:
                conn.execute("DELETE FROM leases WHERE owner = ?", (self._owner,))
            else:
                conn.executemany("DELETE FROM leases WHERE key = ? AND owner = ?",
                                 [(k, self._owner) for k in keys])

    def wait(self, keys: Iterable[str]) -> tuple[dict[str, Run], list[str]]:
        """Block until each key is stored or no live owner holds it; (runs stored, keys free).

        A free key is one whose owner died or gave up: the caller may claim and train it.
        """
        keys = list(dict.fromkeys(keys))
        while True:
            found, free, now = {}, [], time.time()
            for k in keys:
                run = self.get(k)
                if run is not None:
                    found[k] = run
                    continue
                row = self._conn.execute("SELECT owner, pid, host, renewed FROM leases WHERE key = ?",
                                         (k,)).fetchone()
                if row is None or row[0] == self._owner or not alive(*row[1:], now):
                    free.append(k)
            if found or free or not keys:
                return found, free
            time.sleep(leases.POLL_S)

    def _writable(self, what: str) -> None:
        if self.read_only:
            raise ValueError(f"run store {str(self.path)!r} is read-only (no write permission): "
                             f"cannot {what}; its stored runs can still be read")

    def _transaction(self):
        return _Transaction(self._conn)

    def _row_to_run(self, key: str, row) -> Run:
        try:
            settings, results, curve = (json.loads(x) for x in row)
            run = Run.from_dict({**settings, **results, _CURVE_FIELD: curve})
            if isinstance(run.eval_loss, bool) or not isinstance(run.eval_loss, (int, float)):
                raise ValueError(f"eval_loss must be a number (got {run.eval_loss!r})")
            return run
        except (ValueError, TypeError, AttributeError) as e:  # JSONDecodeError is a ValueError
            raise ValueError(f"run store {str(self.path)!r}: the row with key {key!r} is not a "
                             f"valid run ({' '.join(str(e).split())}); delete or fix that row") from e

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # a forgotten close() must not leak a ResourceWarning under -W error
        self._close_quietly()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"


def _check_is_ours_or_absent(path: Path) -> None:
    """Refuse, before SQLite touches it, a path that holds something other than a database."""
    if path.is_dir():
        raise ValueError(f"run store path {str(path)!r} is a directory; give a file path")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"run store path {str(path)!r} is inside {str(parent)!r}, "
                                 "which is a file, not a folder")
            break
    if not path.exists() or path.stat().st_size == 0:
        return  # absent or empty: SQLite makes a fresh database there
    with open(path, "rb") as f:
        head = f.read(len(_SQLITE_HEADER))
    if head != _SQLITE_HEADER:
        raise ValueError(
            f"run store {str(path)!r} exists but is not an SQLite database "
            f"(starts with {head[:8]!r}); it was left untouched: move it away or pass another path"
        )


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error), retried while another writer holds the lock."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        _retry_busy(lambda: self.conn.execute("BEGIN IMMEDIATE"))
        return self.conn

    def __exit__(self, exc_type, *exc) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _is_busy(e: BaseException) -> bool:
    code = getattr(e, "sqlite_errorcode", None)
    return code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in str(e)


def _retry_busy(fn):
    """fn(), retried while SQLite says the database is locked, up to _BUSY_TIMEOUT_S.

    The busy handler does not cover every statement: switching a fresh file to WAL while
    another process creates it fails at once with "database is locked".
    """
    deadline, delay = time.monotonic() + _BUSY_TIMEOUT_S, 0.005
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if not _is_busy(e) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(2 * delay, 0.05)


def _read_only(path: Path) -> bool:
    """An existing store we may not write (the file, or its folder for the WAL files)."""
    if not path.exists():
        return False
    return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
