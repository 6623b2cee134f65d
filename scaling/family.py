"""Model families: one size dial -> `GPTConfig`, so a sweep is a list of integers.

The empirical claims never name widths or depths: they ask a family for members whose
non-embedding parameter count N (Kaplan et al. 2020, §2.1) spans a range, and train those.
So a user can point every claim at their own architecture by overriding the `model_family`
fixture (see `scaling.pytest_plugin`) with a `ModelFamily` of their own, e.g. a depth dial:

    ModelFamily("deep", lambda dial, n_ctx, vocab: GPTConfig(n_layer=dial, d_model=32,
                n_head=2, n_ctx=n_ctx, vocab_size=vocab), dials=range(1, 17))

The context length and vocabulary come from the data (the claim's source or task), not
from the family, so one family serves every source. The default is nanochat's idea turned
sideways: fixed depth, width as the dial (Kaplan Fig. 5: at fixed N the shape matters
little), heads about 16 wide, d_ff = 4·d_model (GPT-2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from scaling.config import GPTConfig
from scaling.params import count_params

DEFAULT_N_LAYER = 2  # tiny models are bound by per-layer Python overhead; 2 keeps them fast
DEFAULT_HEAD_DIM = 16
DEFAULT_WIDTHS = tuple(range(4, 64, 4)) + tuple(range(64, 257, 8)) + tuple(range(256, 1025, 32))[1:]


@dataclass(frozen=True)
class Member:
    """One model of a family: its dial value, its config and its non-embedding N."""

    dial: int
    config: GPTConfig
    n: int  # non-embedding parameters (count_params(...).non_embedding, Kaplan's N)

    @property
    def n_total(self) -> int:
        """All parameters (Chinchilla's N), a tied head counted once."""
        return count_params(self.config).total


@dataclass(frozen=True)
class ModelFamily:
    """A size dial: `build(dial, n_ctx, vocab_size) -> GPTConfig` over the offered `dials`.

    `dials` are the values the family offers; N must grow with the dial (checked when a
    span is asked for), so that "the next size up" means something.
    """

    name: str
    build: Callable[[int, int, int], GPTConfig]
    dials: tuple[int, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"'name' must be a non-empty string (got name={self.name!r})")
        if not callable(self.build):
            raise ValueError(f"'build' must be callable (got build={self.build!r})")
        dials = tuple(self.dials)
        if not dials or any(isinstance(d, bool) or not isinstance(d, int) for d in dials):
            raise ValueError(f"'dials' must be a non-empty sequence of integers (got dials={self.dials!r})")
        if list(dials) != sorted(set(dials)):
            raise ValueError(f"'dials' must be strictly increasing (got dials={dials!r})")
        object.__setattr__(self, "dials", dials)

    def config(self, dial: int, *, n_ctx: int, vocab_size: int) -> GPTConfig:
        """The config at `dial` for a context of `n_ctx` tokens and a `vocab_size` vocabulary."""
        cfg = self.build(dial, n_ctx, vocab_size)
        if not isinstance(cfg, GPTConfig):
            raise ValueError(f"family {self.name!r} built {cfg!r} at dial={dial}, not a GPTConfig")
        if cfg.n_ctx != n_ctx or cfg.vocab_size != vocab_size:
            raise ValueError(
                f"family {self.name!r} ignored the data's shape at dial={dial} (asked n_ctx={n_ctx}, "
                f"vocab_size={vocab_size}; got n_ctx={cfg.n_ctx}, vocab_size={cfg.vocab_size})"
            )
        return cfg

    def members(self, dials: Iterable[int], *, n_ctx: int, vocab_size: int) -> list[Member]:
        """The members at the given dial values, with their non-embedding N."""
        out = []
        for d in dials:
            cfg = self.config(d, n_ctx=n_ctx, vocab_size=vocab_size)
            out.append(Member(d, cfg, count_params(cfg).non_embedding))
        return out

    def span(self, n_min: float, n_max: float, count: int, *, n_ctx: int, vocab_size: int,
             by: str = "non_embedding") -> list[Member]:
        """`count` distinct members whose N lie nearest (in log N) to log-spaced targets in [n_min, n_max].

        `by` names the count: "non_embedding" (Kaplan's N) or "total" (Chinchilla's N).
        A ValueError says so when the family cannot offer `count` distinct sizes there.
        """
        if by not in ("non_embedding", "total"):
            raise ValueError(f"'by' must be 'non_embedding' or 'total' (got by={by!r})")
        if not (0 < n_min < n_max) or not all(map(math.isfinite, (n_min, n_max))):
            raise ValueError(f"'n_min' and 'n_max' must satisfy 0 < n_min < n_max (got {n_min!r}, {n_max!r})")
        if isinstance(count, bool) or not isinstance(count, int) or count < 2:
            raise ValueError(f"'count' must be an integer >= 2 (got count={count!r})")
        offered = self.members(self.dials, n_ctx=n_ctx, vocab_size=vocab_size)
        size = (lambda m: m.n) if by == "non_embedding" else (lambda m: m.n_total)
        ns = [size(m) for m in offered]
        if any(b <= a for a, b in zip(ns, ns[1:])):
            raise ValueError(f"family {self.name!r}: N must increase with the dial (got N={ns})")
        inside = [m for m in offered if n_min / 1.5 <= size(m) <= n_max * 1.5]
        chosen: list[Member] = []
        for k in range(count):
            target = math.log(n_min) + k * (math.log(n_max) - math.log(n_min)) / (count - 1)
            free = [m for m in inside if m not in chosen]
            if not free:
                break
            chosen.append(min(free, key=lambda m: abs(math.log(size(m)) - target)))
        chosen = sorted(chosen, key=size)
        if len(chosen) < count:
            raise ValueError(
                f"family {self.name!r} offers only {len(chosen)} sizes with {by} N in "
                f"[{n_min:.3g}, {n_max:.3g}] (count={count} asked)"
            )
        return chosen


def _largest_divisor_at_most(n: int, cap: int) -> int:
    return max(k for k in range(1, max(1, cap) + 1) if n % k == 0)


@dataclass(frozen=True)
class _WidthBuilder:
    """Picklable `build` of `width_family` (a lambda would not cross to a worker process)."""

    n_layer: int
    head_dim: int
    d_ff_mult: int
    tie_embeddings: bool

    def __call__(self, d_model: int, n_ctx: int, vocab_size: int) -> GPTConfig:
        n_head = _largest_divisor_at_most(d_model, d_model // self.head_dim)
        return GPTConfig(n_layer=self.n_layer, d_model=d_model, n_head=n_head, n_ctx=n_ctx,
                         vocab_size=vocab_size, d_ff=self.d_ff_mult * d_model,
                         tie_embeddings=self.tie_embeddings)


def width_family(n_layer: int = DEFAULT_N_LAYER, head_dim: int = DEFAULT_HEAD_DIM, d_ff_mult: int = 4,
                 widths: Iterable[int] = DEFAULT_WIDTHS, tie_embeddings: bool = False) -> ModelFamily:
    """Fixed depth, width d_model as the dial; n_head the largest divisor of d_model <= d_model/head_dim."""
    for name, v in (("n_layer", n_layer), ("head_dim", head_dim), ("d_ff_mult", d_ff_mult)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name!r} must be a positive integer (got {name}={v!r})")
    build = _WidthBuilder(n_layer, head_dim, d_ff_mult, tie_embeddings)
    return ModelFamily(f"width-L{n_layer}", build, tuple(widths))


def default_model_family() -> ModelFamily:
    """The family the claims use unless a conftest overrides `model_family`: 2 layers, width dial."""
    return width_family()
