"""A real byte-level corpus: the running interpreter's standard library, or any text path.

Nothing is downloaded: `ByteCorpus.stdlib()` reads the `*.py` files under
`sysconfig.get_paths()["stdlib"]` (test suites, idlelib and site-packages left out), so every
machine that runs the suite has the corpus, and its fingerprint says exactly which one it was.

- tokens are bytes (vocab 256), files concatenated in sorted relative-path order;
- the held-out split is by file: a file is in "eval" when the sha256 of its relative path
  falls in the lowest `eval_fraction` of the hash range, so adding a file never moves another
  one between splits. A single file, or a folder whose files all land in one split, is split
  by bytes instead (the last `eval_fraction` of the stream) and says so in `describe()`;
- the fingerprint is a sha256 over the split settings, the file list and every file's
  contents, so any edit to the corpus changes it;
- bytes are read once per process into a uint8 array (the stdlib is ~11 MB) on first use and
  cached; `batch` only gathers windows from it (evenly spaced ones for "eval").
"""

from __future__ import annotations

import hashlib
import json
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from scaling.data.base import check_batch_args

STDLIB_EXCLUDE = ("test", "tests", "idlelib", "site-packages", "__pycache__")
_SNIFF_BYTES = 8192  # a NUL in the first 8 KiB marks a binary file (the heuristic of git/grep)


@dataclass(frozen=True)
class _Loaded:
    train: np.ndarray  # uint8
    eval: np.ndarray  # uint8
    files: tuple[str, ...]
    n_eval_files: int
    split_by: str  # "file" or "bytes"
    fingerprint: str


_CACHE: dict[tuple[Any, ...], _Loaded] = {}


@dataclass(frozen=True)
class ByteCorpus:
    """Bytes of a text file or folder as tokens (vocab 256), split into train/eval by file."""

    root: str
    pattern: str = "*"  # glob (matched recursively) for the files taken from a folder
    exclude_dirs: tuple[str, ...] = ()
    eval_fraction: float = 0.1
    label: str | None = None  # "stdlib" for the standard library, else the name is file:<root>

    vocab_size: ClassVar[int] = 256
    entropy_rate: ClassVar[float | None] = None  # unknown for real text

    def __post_init__(self) -> None:
        if not os.path.exists(self.root):
            raise ValueError(f"'root' must be an existing file or folder (got root={self.root!r})")
        if not (isinstance(self.eval_fraction, (int, float)) and 0 < self.eval_fraction < 1):
            raise ValueError(f"'eval_fraction' must be in (0, 1) (got eval_fraction={self.eval_fraction!r})")
        object.__setattr__(self, "root", str(Path(self.root).resolve()))
        object.__setattr__(self, "exclude_dirs", tuple(self.exclude_dirs))

    @classmethod
    def stdlib(cls, eval_fraction: float = 0.1) -> ByteCorpus:
        """The running interpreter's standard library source (*.py, tests excluded)."""
        return cls(
            sysconfig.get_paths()["stdlib"],
            pattern="*.py",
            exclude_dirs=STDLIB_EXCLUDE,
            eval_fraction=eval_fraction,
            label="stdlib",
        )

    @property
    def name(self) -> str:
        """"stdlib" or "file:<resolved path>"."""
        return self.label or f"file:{self.root}"

    # --- loading ----------------------------------------------------------------------
    def files(self) -> tuple[str, ...]:
        """Relative paths of the corpus files in the order they are concatenated."""
        return self._loaded().files

    def _list_files(self) -> list[tuple[str, Path]]:
        root = Path(self.root)
        if root.is_file():
            return [(root.name, root)]
        out = []
        for path in root.rglob(self.pattern):
            rel = path.relative_to(root)
            dirs = rel.parts[:-1]
            if any(part.startswith(".") for part in rel.parts) or set(dirs) & set(self.exclude_dirs):
                continue
            if path.is_file() and not path.is_symlink():
                out.append((rel.as_posix(), path))
        return sorted(out)

    def _loaded(self) -> _Loaded:
        key = (self.root, self.pattern, self.exclude_dirs, float(self.eval_fraction))
        if key not in _CACHE:
            _CACHE[key] = self._load()
        return _CACHE[key]

    def _load(self) -> _Loaded:
        texts: list[tuple[str, bytes]] = []
        for rel, path in self._list_files():
            data = path.read_bytes()
            if data and b"\0" not in data[:_SNIFF_BYTES]:
                texts.append((rel, data))
        if not texts:
            raise ValueError(
                f"empty corpus: no text files matching pattern={self.pattern!r} under root={self.root!r}"
            )
        if sum(len(d) for _, d in texts) < 2:  # one byte to train on and one to evaluate, at least
            raise ValueError(f"corpus under root={self.root!r} has {sum(len(d) for _, d in texts)} byte "
                             f"of text; it needs at least 2 (a train and an eval split)")
        digest = hashlib.sha256()
        header = {"eval_fraction": float(self.eval_fraction), "split": "sha256(relpath)"}
        digest.update(json.dumps(header, sort_keys=True).encode())
        cut = int(self.eval_fraction * 2**32)
        is_eval = []
        for rel, data in texts:
            name = rel.encode()
            # length-prefixed, so (file list, contents) map to the hash one-to-one
            digest.update(len(name).to_bytes(8, "little") + name + len(data).to_bytes(8, "little"))
            digest.update(data)
            is_eval.append(int.from_bytes(hashlib.sha256(name).digest()[:4], "big") < cut)
        train = [d for (_, d), e in zip(texts, is_eval) if not e]
        held = [d for (_, d), e in zip(texts, is_eval) if e]
        if train and held:
            split_by = "file"
            train_arr = np.frombuffer(b"".join(train), dtype=np.uint8)
            eval_arr = np.frombuffer(b"".join(held), dtype=np.uint8)
        else:  # too few files to split by file: the last eval_fraction of the bytes
            split_by = "bytes"
            everything = np.frombuffer(b"".join(d for _, d in texts), dtype=np.uint8)
            n_eval = max(1, int(round(self.eval_fraction * len(everything))))
            train_arr, eval_arr = everything[:-n_eval], everything[-n_eval:]
        return _Loaded(
            train=train_arr,
            eval=eval_arr,
            files=tuple(rel for rel, _ in texts),
            n_eval_files=sum(is_eval) if split_by == "file" else 0,
            split_by=split_by,
            fingerprint=digest.hexdigest(),
        )

    # --- protocol ---------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """sha256 over split settings, file list and contents."""
        return self._loaded().fingerprint

    def split_bytes(self, split: str) -> np.ndarray:
        """The read-only uint8 array of one split."""
        loaded = self._loaded()
        if split not in ("train", "eval"):
            raise ValueError(f"'split' must be one of ('train', 'eval') (got split={split!r})")
        return loaded.train if split == "train" else loaded.eval

    def batch(self, split: str, batch_size: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
        """(batch_size, seq_len) int64 byte windows of `split`.

        "train" windows start at independent uniform offsets. "eval" windows are a
        systematic sample: evenly spaced over the whole held-out text from one random
        offset, so a fixed eval set covers every held-out file instead of a random few
        (each window is still uniformly placed, so the expected loss is unchanged).
        """
        check_batch_args(split, batch_size, seq_len, rng)
        data = self.split_bytes(split)
        if len(data) < seq_len:
            raise ValueError(
                f"'seq_len' must be at most the {split} split's {len(data)} bytes "
                f"(got seq_len={seq_len}, corpus {self.name})"
            )
        n_starts = len(data) - seq_len + 1
        if split == "train":
            starts = rng.integers(0, n_starts, size=batch_size)
        else:
            starts = ((np.arange(batch_size) + rng.random()) * (n_starts / batch_size)).astype(np.int64)
            starts = rng.permutation(np.minimum(starts, n_starts - 1))
        return data[starts[:, None] + np.arange(seq_len)].astype(np.int64)

    def describe(self) -> dict[str, Any]:
        """Settings and sizes that identify the corpus (JSON-serializable)."""
        loaded = self._loaded()
        return {
            "name": self.name,
            "root": self.root,
            "pattern": self.pattern,
            "exclude_dirs": list(self.exclude_dirs),
            "eval_fraction": float(self.eval_fraction),
            "split_by": loaded.split_by,
            "n_files": len(loaded.files),
            "n_eval_files": loaded.n_eval_files,
            "train_bytes": int(len(loaded.train)),
            "eval_bytes": int(len(loaded.eval)),
            "fingerprint": loaded.fingerprint,
        }
