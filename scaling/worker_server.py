"""Imported by the local workers' server only (`scaling.scheduling.WORKER_PRELOAD`).

When the sweep that started the server ends, the server leaves with `os._exit` instead of
tearing torch down at interpreter exit (0.5 s, during which a shell pipe or a
`subprocess.run(..., capture_output=True)` of the sweep still waits for end of file).
Workers forked from the server inherit the hook but never run it: multiprocessing ends
them with `os._exit` already. The server holds no buffered output and no resources.
"""

from __future__ import annotations

import atexit
import os

atexit.register(os._exit, 0)
