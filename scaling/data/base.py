"""What every data source shares: the protocol the trainer relies on and the argument checks."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

SPLITS = ("train", "eval")

# logits_fn(idx int64 (B, T)) -> float32 logits (B, T, V); the trainer's view of a model.
LogitsFn = Callable[[np.ndarray], np.ndarray]


@runtime_checkable
class DataSource(Protocol):
    """What the trainer needs from a source of token sequences."""

    name: str
    vocab_size: int
    fingerprint: str
    entropy_rate: float | None

    def batch(
        self, split: str, batch_size: int, seq_len: int, rng: np.random.Generator
    ) -> np.ndarray:
        """int64 array (batch_size, seq_len) of token ids drawn from `split`."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-serializable settings that determine the data."""
        ...


def check_batch_args(split: str, batch_size: int, seq_len: int, rng: Any) -> None:
    """Raise ValueError naming the argument when a `batch` call is malformed."""
    if split not in SPLITS:
        raise ValueError(f"'split' must be one of {SPLITS} (got split={split!r})")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"'batch_size' must be a positive integer (got batch_size={batch_size!r})")
    # seq_len = n_ctx + 1: inputs seq[:, :-1] and targets seq[:, 1:] need two tokens at least.
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len < 2:
        raise ValueError(f"'seq_len' must be an integer >= 2 (got seq_len={seq_len!r})")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"'rng' must be a numpy.random.Generator (got {type(rng).__name__})")


def settings_fingerprint(kind: str, settings: dict[str, Any]) -> str:
    """sha256 hex digest of a source kind and its JSON settings (canonical key order)."""
    blob = json.dumps({"kind": kind, **settings}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
