"""Guards on the files a report reads and writes: standard JSON (a non-finite number becomes
null), text without terminal control sequences, and writes that land whole or not at all."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

# ANSI escape sequences, then any other C0/C1 control character but tab and newline
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_control(text: str) -> str:
    """`text` without ANSI escape sequences or other control characters (tab and newline stay)."""
    return _CONTROL.sub("", text)


def clean(obj: Any) -> Any:
    """`obj` (parsed JSON) with every string, keys included, passed through strip_control."""
    if isinstance(obj, str):
        return strip_control(obj)
    if isinstance(obj, list):
        return [clean(x) for x in obj]
    if isinstance(obj, dict):
        return {strip_control(str(k)): clean(v) for k, v in obj.items()}
    return obj


def strict_json(obj: Any) -> Any:
    """`obj` with every non-finite float as None, so that it dumps as standard JSON (null)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (list, tuple)):
        return [strict_json(x) for x in obj]
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    return obj


def dumps(obj: Any) -> str:
    """Standard JSON (no NaN or Infinity), indented, with a final newline."""
    return json.dumps(strict_json(obj), indent=2, default=str, allow_nan=False) + "\n"


def atomic_write(path: Path, text: str) -> Path:
    """Write `text` to `path` whole or not at all, keeping an existing file's permissions.

    On any failure the temporary file is removed, the previous file is left as it was and the
    OSError propagates.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def writable_problem(target: Path) -> str | None:
    """Why files could not be created at `target` (a directory, made if absent), or None.

    Checked on the nearest folder that exists, by creating and removing a temporary file
    there (permission bits alone do not tell, e.g. for root or a read-only mount); nothing is
    left behind.
    """
    target = Path(target)
    probe = target
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a directory"
    try:
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".scaling-probe.", suffix=".tmp")
    except OSError as e:
        return f"cannot create files in {probe} ({e.strerror or e})"
    os.close(fd)
    os.unlink(tmp)
    return None
