"""Leases on runs in a shared store: which process is training which run.

A sweep claims a run (a row in the store's `leases` table: owner id, pid, host, time of
the last renewal) before it trains it, so a second sweep on the same store waits for that
run instead of training it twice. A lease counts while its owner lives: on this host,
while its pid exists; on any host, while it was renewed within `TTL_S`.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from pathlib import Path

# A lease renewed every RENEW_S counts as held for TTL_S: twenty missed renewals before a
# run on another host, whose pid we cannot check, is taken over.
RENEW_S = 30.0
TTL_S = 600.0
POLL_S = 1.0  # how often a process waiting for another's runs looks again


class Renewer:
    """A daemon thread renewing one owner's leases every RENEW_S, on its own connection."""

    def __init__(self, path: Path, owner: str, busy_timeout_s: float):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(str(path), owner, busy_timeout_s),
                                        daemon=True, name="scaling-store-leases")
        self._thread.start()

    def _run(self, path: str, owner: str, busy_timeout_s: float) -> None:
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
        try:
            while not self._stop.wait(RENEW_S):
                try:
                    conn.execute("UPDATE leases SET renewed = ? WHERE owner = ?", (time.time(), owner))
                except sqlite3.Error:  # a missed renewal is retried; the TTL allows twenty
                    pass
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def alive(pid: int, host: str, renewed: float, now: float) -> bool:
    """Whether a lease's owner still counts: renewed within the TTL and, on this host, running."""
    if now - renewed > TTL_S:
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True
