"""A known-entropy synthetic language: Zipf-distributed facts (Michaud et al. 2023 quanta).

The process. The text is a stream of independent *units* of U = key_len + value_len tokens
over a vocabulary of V tokens. A unit is a key (key_len tokens) followed by its value:

- the key is one of K = V**key_len strings; its frequency rank r (1..K) is drawn from a
  truncated Zipf law p_r ∝ r^-(α+1) (Michaud et al. 2023, the frequency of the k-th
  quantum), and a seeded random permutation assigns ranks to key strings;
- value token i (i = 1..value_len) is the fact F_i(key), a seeded uniform random table,
  except that with probability ε it is replaced by a uniform random token (which may equal
  the fact).

Each fact is one quantum: a model that has stored fact r predicts its value at cost h_ε per
token instead of about log V, and fact r is needed with frequency p_r, so storing the n most
frequent facts leaves a reducible loss ∝ Σ_{r>n} p_r ∝ n^-α; with n ∝ N (a fact costs a
fixed number of parameters; two-token keys keep the lookup out of the embeddings, which
Kaplan's N excludes) this is L(N) - E ∝ N^-α (Michaud et al. 2023, eq. 3).

Exact entropy. Units are i.i.d., so the entropy rate is the entropy of one unit over U:

    H_unit = H(p) + value_len · h_ε,   H(p) = -Σ_r p_r log p_r,
    h_ε    = -(1 - ε + ε/V) log(1 - ε + ε/V) - (V - 1)(ε/V) log(ε/V),
    entropy_rate = H_unit / U   (nats/token).

The key's entropy splits over its tokens by the chain rule, H(p) = Σ_j H(k_j | k_<j), each
term exact from the marginals of p. Sequences from `batch` start at a unit boundary, so the
context of every target contains everything the true conditional depends on; the expected
loss of the true process over the targets seq[:, 1:] of a window is `window_entropy(seq_len)`,
which equals `entropy_rate` exactly when (seq_len - 1) is a multiple of U (n_ctx = 32 or 64
with the default U = 8): the first key token of the first unit is not a target, and the
first key token of the next unit, with the same entropy, takes its place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from scaling.data.base import check_batch_args, settings_fingerprint

GENERATOR_VERSION = 1  # bump when the sampling changes: it is part of the fingerprint


@dataclass(frozen=True)
class SyntheticLanguage:
    """Zipf-distributed facts behind two-token keys; exact entropy rate in nats/token.

    Defaults were tuned on 2-layer width sweeps (n_ctx 32, batch 16, lr 1e-2, 2M tokens,
    one CPU thread): held-out loss minus the entropy rate fell from 0.67 (N = 1.8k) to
    0.14 (N = 57k) as a power law with exponent ≈ 0.5 ≈ α, as Michaud et al. predict.
    """

    vocab_size: int = 64
    key_len: int = 2
    value_len: int = 6
    zipf_exponent: float = 0.5  # α: facts used with frequency ∝ r^-(α+1)
    noise: float = 0.05  # ε: probability a value token is replaced by a uniform token
    seed: int = 0
    name: ClassVar[str] = "synthetic"

    def __post_init__(self) -> None:
        if not isinstance(self.vocab_size, int) or not 2 <= self.vocab_size <= 4096:
            raise ValueError(f"'vocab_size' must be an integer in [2, 4096] (got vocab_size={self.vocab_size!r})")
        if not isinstance(self.key_len, int) or self.key_len < 1 or self.vocab_size**self.key_len > 2**22:
            raise ValueError(
                f"'key_len' must be >= 1 with vocab_size**key_len <= 2**22 "
                f"(got key_len={self.key_len!r}, vocab_size={self.vocab_size})"
            )
        if not isinstance(self.value_len, int) or self.value_len < 1:
            raise ValueError(f"'value_len' must be a positive integer (got value_len={self.value_len!r})")
        if not (isinstance(self.zipf_exponent, (int, float)) and 0 < self.zipf_exponent <= 10):
            raise ValueError(f"'zipf_exponent' must be in (0, 10] (got zipf_exponent={self.zipf_exponent!r})")
        if not (isinstance(self.noise, (int, float)) and 0 < self.noise < 1):
            # ε > 0 keeps every token possible, so the true NLL of any sequence is finite.
            raise ValueError(f"'noise' must be in (0, 1) (got noise={self.noise!r})")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"'seed' must be a non-negative integer (got seed={self.seed!r})")
        rng = np.random.default_rng([self.seed, 0x5EED])
        n_keys = self.vocab_size**self.key_len
        ranks = np.arange(1, n_keys + 1, dtype=np.float64)
        p_rank = ranks ** -(self.zipf_exponent + 1.0)
        p_rank /= p_rank.sum()
        key_of_rank = rng.permutation(n_keys)
        p_key = np.empty(n_keys)
        p_key[key_of_rank] = p_rank
        facts = rng.integers(0, self.vocab_size, size=(n_keys, self.value_len), dtype=np.int64)
        cdf = np.cumsum(p_rank)
        cdf[-1] = 1.0
        # Frozen dataclass: derived tables are set once here and never change.
        object.__setattr__(self, "_key_of_rank", key_of_rank)
        object.__setattr__(self, "_p_key", p_key)
        object.__setattr__(self, "_cdf", cdf)
        object.__setattr__(self, "_facts", facts)

    # --- exact quantities -------------------------------------------------------------
    @property
    def unit_len(self) -> int:
        """Tokens per unit (key + value); windows of n_ctx = multiple of this are exact."""
        return self.key_len + self.value_len

    @property
    def value_entropy(self) -> float:
        """h_ε: entropy of one value token given its key, nats."""
        v, eps = self.vocab_size, self.noise
        q = 1.0 - eps + eps / v
        return -(q * math.log(q) + (v - 1) * (eps / v) * math.log(eps / v))

    @property
    def key_entropy(self) -> float:
        """H(p): entropy of the Zipf law over keys, nats."""
        p = self._p_key[self._p_key > 0]
        return float(-(p * np.log(p)).sum())

    @property
    def entropy_rate(self) -> float:
        """H_unit / U: the irreducible loss in nats/token (exact, see the module docstring)."""
        return (self.key_entropy + self.value_len * self.value_entropy) / self.unit_len

    @property
    def fact_bits(self) -> float:
        """Information in one fact beyond its noise: value_len·(log V − h_ε) / ln 2 bits."""
        return self.value_len * (math.log(self.vocab_size) - self.value_entropy) / math.log(2)

    def quanta_loss(self, n_facts) -> np.ndarray:
        """Expected loss (nats/token) of a model that knows the key law and the n most frequent facts.

        Michaud et al. 2023's quanta model on this source: each fact it does not know costs its
        value tokens log V (the uniform guess) instead of h_ε, and fact r is needed with
        frequency p_r, so L(n) = entropy_rate + value_len·(log V − h_ε)/U · Σ_{r>n} p_r. n is
        clipped to [0, K] (K = V**key_len facts); a fractional n interpolates between whole facts.
        """
        n = np.clip(np.asarray(n_facts, dtype=float), 0.0, float(self._cdf.size))
        unknown = np.interp(n, np.arange(self._cdf.size + 1), np.concatenate([[1.0], 1.0 - self._cdf]))
        gap = self.value_len * (math.log(self.vocab_size) - self.value_entropy) / self.unit_len
        return self.entropy_rate + gap * unknown

    def position_entropies(self) -> np.ndarray:
        """Entropy of the token at each position of a unit given the unit's earlier tokens."""
        out = np.empty(self.unit_len)
        prev = 0.0
        for j in range(self.key_len):
            marg = self._key_prefix_probs(j + 1).ravel()
            marg = marg[marg > 0]
            h_prefix = float(-(marg * np.log(marg)).sum())
            out[j] = h_prefix - prev  # chain rule: H(k_j | k_<j) = H(k_<=j) - H(k_<j)
            prev = h_prefix
        out[self.key_len:] = self.value_entropy
        return out

    def window_entropy(self, seq_len: int) -> float:
        """Expected true NLL per target over seq[:, 1:] of a `batch` window of seq_len tokens."""
        if not isinstance(seq_len, int) or seq_len < 2:
            raise ValueError(f"'seq_len' must be an integer >= 2 (got seq_len={seq_len!r})")
        h = self.position_entropies()
        return float(h[np.arange(1, seq_len) % self.unit_len].mean())

    def _key_prefix_probs(self, n_tokens: int) -> np.ndarray:
        """Marginal probabilities of the first n_tokens key tokens, shape (V,)*n_tokens."""
        full = self._p_key.reshape((self.vocab_size,) * self.key_len)
        axes = tuple(range(n_tokens, self.key_len))
        return full.sum(axis=axes) if axes else full

    # --- sampling ---------------------------------------------------------------------
    def batch(self, split: str, batch_size: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
        """(batch_size, seq_len) int64 tokens, each row starting at a unit boundary.

        Both splits are draws from the same process (there is no finite training set to
        hold out from); `rng` decides the draw. "train" draws every unit independently.
        "eval" draws the batch as one stratified sample: the units' Zipf quantiles are
        one uniform per stratum of width 1/M (M units in the batch) and exactly
        ⌊ε·n + u⌋ (u uniform in [0, 1)) of the n value tokens are noisy. Each unit and token keeps its exact
        marginal law, so the expected loss is unchanged, but a fixed eval set's mean loss
        no longer swings with how many rare keys it happened to draw: the true NLL of 128
        rows of 33 tokens varies by 0.029 nats (sd) between i.i.d. draws, 0.009 stratified.
        """
        check_batch_args(split, batch_size, seq_len, rng)
        v, kl, u = self.vocab_size, self.key_len, self.unit_len
        n_units = -(-seq_len // u)
        shape = (batch_size, n_units)
        if split == "train":
            quantile = rng.random(shape)
        else:
            m = batch_size * n_units
            quantile = ((rng.permutation(m) + rng.random(m)) / m).reshape(shape)
        rank = np.searchsorted(self._cdf, quantile, side="right")
        keys = self._key_of_rank[np.minimum(rank, len(self._cdf) - 1)]
        out = np.empty((batch_size, n_units, u), dtype=np.int64)
        for j in range(kl):  # key id -> its key_len base-V digits, most significant first
            out[:, :, j] = (keys // v ** (kl - 1 - j)) % v
        values = self._facts[keys]
        if split == "train":
            noisy = rng.random(values.shape) < self.noise
        else:
            n = values.size
            k = int(math.floor(self.noise * n + rng.random()))  # E[k] = ε·n exactly
            noisy = np.zeros(n, dtype=bool)
            noisy[rng.permutation(n)[:k]] = True
            noisy = noisy.reshape(values.shape)
        out[:, :, kl:] = np.where(noisy, rng.integers(0, v, size=values.shape), values)
        return out.reshape(batch_size, n_units * u)[:, :seq_len]

    def true_nll(self, seq: np.ndarray) -> np.ndarray:
        """Per-target NLL (nats) of seq[:, 1:] under the true process; rows start at a unit."""
        seq = np.asarray(seq)
        if seq.ndim != 2 or seq.shape[1] < 2 or not np.issubdtype(seq.dtype, np.integer):
            raise ValueError(f"'seq' must be an integer array (B, T) with T >= 2 (got shape={seq.shape})")
        if seq.min() < 0 or seq.max() >= self.vocab_size:
            raise ValueError(f"'seq' tokens must lie in [0, {self.vocab_size}) (got {seq.min()}..{seq.max()})")
        b, t = seq.shape
        v, kl, u = self.vocab_size, self.key_len, self.unit_len
        n_units = -(-t // u)
        padded = np.zeros((b, n_units * u), dtype=np.int64)
        padded[:, :t] = seq
        units = padded.reshape(b, n_units, u)
        nll = np.empty((b, n_units, u))
        prev = np.zeros((b, n_units))
        key = np.zeros((b, n_units), dtype=np.int64)
        for j in range(kl):
            key = key * v + units[:, :, j]
            cur = np.log(self._key_prefix_probs(j + 1).ravel()[key])
            nll[:, :, j] = prev - cur  # -log p(k_j | k_<j)
            prev = cur
        full_key = np.minimum(key, len(self._facts) - 1)
        hit = units[:, :, kl:] == self._facts[full_key]
        p = np.where(hit, 1.0 - self.noise + self.noise / v, self.noise / v)
        nll[:, :, kl:] = -np.log(p)
        return nll.reshape(b, n_units * u)[:, 1:t]

    def describe(self) -> dict[str, Any]:
        """Settings that determine the data, plus the exact entropy rate."""
        return {
            "name": self.name,
            "vocab_size": self.vocab_size,
            "key_len": self.key_len,
            "value_len": self.value_len,
            "zipf_exponent": float(self.zipf_exponent),
            "noise": float(self.noise),
            "seed": self.seed,
            "generator_version": GENERATOR_VERSION,
            "entropy_rate": self.entropy_rate,
        }

    @property
    def fingerprint(self) -> str:
        """sha256 over the generator settings and version."""
        d = self.describe()
        d.pop("entropy_rate")
        return settings_fingerprint("synthetic", d)
