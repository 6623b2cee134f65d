"""The run store: finished training runs in one SQLite file, keyed by `run_key`.

One row per finished run in table `runs` (key, settings, results, curve as JSON text;
never pickle), plus a `meta` table that marks the file as ours. WAL journaling and one
transaction per write mean that a process killed mid-sweep loses nothing it had
written and leaves the file readable, and that several processes can share one store.
A file at the path that is not ours (not SQLite, or SQLite without our `meta` marker)
is an error, never overwritten.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from pathlib import Path

from scaling.run import Run

SCHEMA_NAME = "scaling-run-store"
SCHEMA_VERSION = 1
_SQLITE_HEADER = b"SQLite format 3\x00"  # first 16 bytes of every SQLite 3 database file
_BUSY_TIMEOUT_S = 60.0  # writers wait this long for another process's transaction

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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=_BUSY_TIMEOUT_S, isolation_level=None
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._init_schema()
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            raise ValueError(
                f"run store {str(self.path)!r} is not a usable SQLite database ({e}); "
                "it was left untouched: move it away or pass another --store path"
            ) from e

    def _init_schema(self) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")  # one creator at a time when two processes start together
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "meta" not in tables:
                raise ValueError(
                    f"run store {str(self.path)!r} is an SQLite database without the scaling "
                    f"run-store schema (tables: {sorted(tables)}); refusing to use or overwrite it"
                )
            if not tables:
                for statement in _SCHEMA:  # not executescript: it would COMMIT our lock away
                    conn.execute(statement)
                conn.executemany(
                    "INSERT INTO meta(name, value) VALUES (?, ?)",
                    [("schema", SCHEMA_NAME), ("version", str(SCHEMA_VERSION))],
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
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._close_quietly()
            raise

    def get(self, key: str) -> Run | None:
        """The finished run stored under `key`, or None."""
        row = self._conn.execute(
            "SELECT settings, results, curve FROM runs WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else _row_to_run(row)

    def put(self, key: str, run: Run) -> bool:
        """Store `run` under `key` in one committed transaction; True if written.

        A key already present keeps its first row (a run is a pure function of its key,
        so a second result from a concurrent process carries nothing new).
        """
        d = run.to_dict()
        settings = {k: d.pop(k) for k in _SETTINGS_FIELDS}
        curve = d.pop(_CURVE_FIELD)
        created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO runs(key, settings, results, curve, created) VALUES (?,?,?,?,?)",
            (key, _dumps(settings), _dumps(d), _dumps(curve), created),
        )
        return cur.rowcount == 1

    def keys(self) -> list[str]:
        """All stored keys, oldest first."""
        return [r[0] for r in self._conn.execute("SELECT key FROM runs ORDER BY created, key")]

    def all(self) -> list[Run]:
        """All stored runs, oldest first."""
        rows = self._conn.execute(
            "SELECT settings, results, curve FROM runs ORDER BY created, key"
        ).fetchall()
        return [_row_to_run(r) for r in rows]

    def __contains__(self, key: str) -> bool:
        return self._conn.execute("SELECT 1 FROM runs WHERE key = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._close_quietly()

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
            self._conn = None

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
    if not path.exists() or path.stat().st_size == 0:
        return  # absent or empty: SQLite makes a fresh database there
    with open(path, "rb") as f:
        head = f.read(len(_SQLITE_HEADER))
    if head != _SQLITE_HEADER:
        raise ValueError(
            f"run store {str(path)!r} exists but is not an SQLite database "
            f"(starts with {head[:8]!r}); it was left untouched: move it away or pass another path"
        )


def _row_to_run(row) -> Run:
    settings, results, curve = (json.loads(x) for x in row)
    return Run.from_dict({**settings, **results, _CURVE_FIELD: curve})
