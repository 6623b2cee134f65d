"""A tiny order-1 Markov chain satisfying the DataSource protocol, for the engine's own tests,
and the settings of the tiny runs trained on it (`TINY`, `N_CTX`).

Its entropy rate is exact (Σ_i π_i H(P_i)), so a test can check that training learns real
structure: the held-out loss falls from log V towards the entropy rate and never below it.
"""

from __future__ import annotations

import hashlib

import numpy as np

TINY = dict(batch_size=8, eval_seqs=16, curve_points=4, curve_eval_seqs=8)  # a dozen-step run's settings
N_CTX = 16


class MarkovSource:
    """Order-1 Markov chain over `vocab_size` tokens, each row concentrated on `fanout` successors."""

    name = "markov"

    def __init__(self, vocab_size: int = 16, fanout: int = 3, seed: int = 0):
        rng = np.random.default_rng(seed)
        P = np.full((vocab_size, vocab_size), 1e-3)
        for i in range(vocab_size):
            succ = rng.choice(vocab_size, size=fanout, replace=False)
            P[i, succ] += rng.dirichlet(np.ones(fanout))
        self.P = P / P.sum(axis=1, keepdims=True)
        self.cum = np.cumsum(self.P, axis=1)
        self.cum[:, -1] = 1.0
        self.vocab_size = vocab_size
        self.params = {"vocab_size": vocab_size, "fanout": fanout, "seed": seed}
        self.fingerprint = hashlib.sha256(repr(sorted(self.params.items())).encode()).hexdigest()
        evals, evecs = np.linalg.eig(self.P.T)  # stationary distribution: left eigenvector for 1
        pi = np.real(evecs[:, np.argmin(np.abs(evals - 1))])
        pi = pi / pi.sum()
        self.entropy_rate = float(-(pi[:, None] * self.P * np.log(self.P)).sum())

    def batch(self, split: str, batch_size: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
        if split not in ("train", "eval"):
            raise ValueError(f"'split' must be 'train' or 'eval' (got split={split!r})")
        out = np.empty((batch_size, seq_len), dtype=np.int64)
        out[:, 0] = rng.integers(self.vocab_size, size=batch_size)
        u = rng.random((batch_size, seq_len))
        for t in range(1, seq_len):
            out[:, t] = (self.cum[out[:, t - 1]] < u[:, t : t + 1]).sum(axis=1)
        return out

    def describe(self) -> dict:
        return {"name": self.name, **self.params}


class MarkovTask(MarkovSource):
    """The same chain with an `evaluate` hook: accuracy of the argmax next-token prediction."""

    name = "markov-task"

    def evaluate(self, logits_fn, n_ctx: int) -> dict[str, float]:
        seq = self.batch("eval", 8, n_ctx + 1, np.random.default_rng(123))
        logits = logits_fn(seq[:, :-1])
        best = self.P[seq[:, :-1]].argmax(axis=-1)
        return {"top1_agreement": float((logits.argmax(axis=-1) == best).mean())}
