"""Multi-digit addition, the emergence task (Wei et al. 2022; Schaeffer et al. 2023).

A problem "a+b=c;" is written with fixed-width, zero-padded operands of n_digits digits and
an answer of n_digits + 1 digits, least significant digit first by default (reversed answers
let the model produce the carry in the order it computes it). Tokens: digits 0-9 are ids
0-9, then "+", "=", ";" (vocab 13). Training sequences are problems packed back to back,
each row starting at a problem boundary.

Use n_ctx = problem_len - 1 (12 for 3 digits): each training row is then exactly one
problem at fixed positions. Packing several problems at shifting offsets (n_ctx = 32) left
every 2-layer model of 1e3..1e5 parameters on the "marginal digits" plateau for 1M tokens,
while one problem per row and lr 1e-2 let a 25k-parameter model learn 3-digit addition
(exact match 0.99 on held-out problems) in 2M tokens.

Train and test are disjoint sets of problems: (a, b) is a test problem when a splitmix64 hash
of (a, b, seed) falls in the lowest `test_fraction` of its range.

`evaluate(logits_fn, n_ctx)` scores a fixed set of test problems packed exactly like the
training stream, every problem that fits in n_ctx being a query with the true earlier
problems as context, and returns

- exact_match: greedy decoding of the whole answer equals it (the metric that looks
  emergent: about p**L for L answer tokens each right with probability p; Schaeffer et al.);
- answer_nll: mean negative log-likelihood of the answer tokens given the prompt and the
  true earlier answer tokens (nats/token; the per-token log-likelihood is its negative);
- token_accuracy: fraction of greedy answer tokens equal to the answer's;
- edit_distance: mean Levenshtein distance, in tokens, between the greedy and true answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from scaling.data.base import LogitsFn, check_batch_args, settings_fingerprint

PLUS, EQUALS, END = 10, 11, 12
SYMBOLS = "0123456789+=;"
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer (Steele et al. 2014) on a uint64 array; wraps modulo 2**64."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
    return x ^ (x >> np.uint64(31))


def edit_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Levenshtein distance between two int arrays (B, La) and (B, Lb)."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"'a' and 'b' must have the same number of rows (got {a.shape[0]} and {b.shape[0]})")
    n, la, lb = a.shape[0], a.shape[1], b.shape[1]
    prev = np.tile(np.arange(lb + 1), (n, 1))
    for i in range(1, la + 1):
        cur = np.empty_like(prev)
        cur[:, 0] = i
        for j in range(1, lb + 1):
            sub = prev[:, j - 1] + (a[:, i - 1] != b[:, j - 1])
            cur[:, j] = np.minimum(np.minimum(prev[:, j] + 1, cur[:, j - 1] + 1), sub)
        prev = cur
    return prev[:, lb]


@dataclass(frozen=True)
class AdditionTask:
    """Packed "a+b=c;" problems with held-out test problems and emergence metrics."""

    n_digits: int = 3
    reverse_answer: bool = True
    test_fraction: float = 0.1
    seed: int = 0

    name: ClassVar[str] = "arithmetic"
    vocab_size: ClassVar[int] = len(SYMBOLS)
    # Operand digits are random (log 10 each) but the train split is not exactly uniform,
    # so no exact rate is claimed.
    entropy_rate: ClassVar[float | None] = None

    def __post_init__(self) -> None:
        if not isinstance(self.n_digits, int) or not 1 <= self.n_digits <= 9:
            raise ValueError(f"'n_digits' must be an integer in [1, 9] (got n_digits={self.n_digits!r})")
        if not isinstance(self.reverse_answer, bool):
            raise ValueError(f"'reverse_answer' must be a bool (got reverse_answer={self.reverse_answer!r})")
        if not (isinstance(self.test_fraction, (int, float)) and 0 < self.test_fraction < 1):
            raise ValueError(f"'test_fraction' must be in (0, 1) (got test_fraction={self.test_fraction!r})")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"'seed' must be a non-negative integer (got seed={self.seed!r})")

    @property
    def answer_len(self) -> int:
        """Answer tokens per problem (n_digits + 1: the sum may carry into a new digit)."""
        return self.n_digits + 1

    @property
    def problem_len(self) -> int:
        """Tokens per problem: a, "+", b, "=", answer, ";"."""
        return 3 * self.n_digits + 4

    # --- problems ---------------------------------------------------------------------
    def is_test(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Boolean array: which (a, b) problems belong to the test split."""
        a = np.atleast_1d(np.asarray(a, dtype=np.uint64))
        b = np.atleast_1d(np.asarray(b, dtype=np.uint64))
        x = a * np.uint64(10**self.n_digits) + b + np.uint64(self.seed) * np.uint64(10 ** (2 * self.n_digits))
        cut = np.uint64(int(self.test_fraction * 2**32))
        return (_splitmix64(x) >> np.uint64(32)) < cut

    def problems(self, split: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n operand pairs (a, b) drawn uniformly from the problems of `split`."""
        check_batch_args(split, max(n, 1), 2, rng)
        want_test = split == "eval"
        got_a, got_b, got = [], [], 0
        while got < n:  # rejection sampling: each round keeps ~test_fraction or its complement
            a = rng.integers(0, 10**self.n_digits, size=2 * n + 16)
            b = rng.integers(0, 10**self.n_digits, size=2 * n + 16)
            keep = self.is_test(a, b) == want_test
            got_a.append(a[keep])
            got_b.append(b[keep])
            got += int(keep.sum())
        return np.concatenate(got_a)[:n], np.concatenate(got_b)[:n]

    def _digits(self, x: np.ndarray, width: int) -> np.ndarray:
        return (x[:, None] // 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)) % 10

    def encode(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(n, problem_len) int64 tokens of the problems a + b."""
        a = np.atleast_1d(np.asarray(a, dtype=np.int64))
        b = np.atleast_1d(np.asarray(b, dtype=np.int64))
        if a.min(initial=0) < 0 or b.min(initial=0) < 0 or max(a.max(initial=0), b.max(initial=0)) >= 10**self.n_digits:
            raise ValueError(f"operands must lie in [0, 10**{self.n_digits}) (got a={a}, b={b})")
        ans = self._digits(a + b, self.answer_len)
        if self.reverse_answer:
            ans = ans[:, ::-1]
        col = np.full((len(a), 1), 0, dtype=np.int64)
        return np.concatenate(
            [self._digits(a, self.n_digits), col + PLUS, self._digits(b, self.n_digits), col + EQUALS, ans, col + END],
            axis=1,
        )

    @staticmethod
    def render(tokens: np.ndarray) -> str:
        """Human-readable text of a token sequence ("012+345=7530;")."""
        return "".join(SYMBOLS[int(t)] if 0 <= int(t) < len(SYMBOLS) else "?" for t in np.ravel(tokens))

    # --- protocol ---------------------------------------------------------------------
    def batch(self, split: str, batch_size: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
        """(batch_size, seq_len) int64 tokens: problems of `split` packed from a boundary."""
        check_batch_args(split, batch_size, seq_len, rng)
        per_row = -(-seq_len // self.problem_len)
        a, b = self.problems(split, batch_size * per_row, rng)
        return self.encode(a, b).reshape(batch_size, -1)[:, :seq_len]

    def evaluate(self, logits_fn: LogitsFn, n_ctx: int, n_problems: int = 512) -> dict[str, float]:
        """Exact match, answer NLL, token accuracy and edit distance on fixed test problems."""
        # The first query needs its prompt plus answer_len - 1 fed answer tokens.
        first_fit = 2 * self.n_digits + 2 + self.answer_len - 1
        if not isinstance(n_ctx, int) or n_ctx < first_fit:
            raise ValueError(f"'n_ctx' must be an integer >= {first_fit} for {self.n_digits}-digit problems (got n_ctx={n_ctx!r})")
        if not isinstance(n_problems, int) or n_problems < 1:
            raise ValueError(f"'n_problems' must be a positive integer (got n_problems={n_problems!r})")
        plen, alen = self.problem_len, self.answer_len
        slots = (n_ctx - first_fit) // plen + 1  # problems per row whose answer fits in n_ctx
        rows_n = -(-n_problems // slots)
        a, b = self.problems("eval", rows_n * slots, np.random.default_rng([self.seed, 0xE7A1]))
        rows = self.encode(a, b).reshape(rows_n, slots * plen)
        width = min(rows.shape[1] - 1, n_ctx)
        logp = _log_softmax(self._call(logits_fn, rows[:, :width]))
        nll, correct, dist = [], [], []
        for s in range(slots):
            start = s * plen + 2 * self.n_digits + 2  # index of the first answer token
            pos = np.arange(start, start + alen)
            target = rows[:, pos]
            nll.append(-np.take_along_axis(logp[:, pos - 1, :], target[:, :, None], axis=2)[:, :, 0])
            seq = rows[:, :start]
            for _ in range(alen):  # greedy decoding with the true earlier problems as context
                nxt = self._call(logits_fn, seq)[:, -1, :].argmax(axis=-1)
                seq = np.concatenate([seq, nxt[:, None].astype(np.int64)], axis=1)
            guess = seq[:, start:]
            correct.append(guess == target)
            dist.append(edit_distance(guess, target))
        nll_a = np.concatenate(nll)[:n_problems]
        correct_a = np.concatenate(correct)[:n_problems]
        return {
            "exact_match": float(correct_a.all(axis=1).mean()),
            "answer_nll": float(nll_a.mean()),
            "token_accuracy": float(correct_a.mean()),
            "edit_distance": float(np.concatenate(dist)[:n_problems].mean()),
        }

    def _call(self, logits_fn: LogitsFn, idx: np.ndarray) -> np.ndarray:
        out = np.asarray(logits_fn(np.ascontiguousarray(idx, dtype=np.int64)))
        if out.ndim != 3 or out.shape[:2] != idx.shape or out.shape[2] < self.vocab_size:
            raise ValueError(
                f"'logits_fn' must return (B, T, V >= {self.vocab_size}) logits for input {idx.shape} (got {out.shape})"
            )
        return out

    def describe(self) -> dict[str, Any]:
        """Settings that determine the task (JSON-serializable)."""
        return {
            "name": self.name,
            "n_digits": self.n_digits,
            "reverse_answer": self.reverse_answer,
            "test_fraction": float(self.test_fraction),
            "seed": self.seed,
            "vocab_size": self.vocab_size,
        }

    @property
    def fingerprint(self) -> str:
        """sha256 over the task settings."""
        return settings_fingerprint("arithmetic", self.describe())


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
