"""The learning-rate search: LR*(N) measured per setup instead of written into the suite.

Porian et al. 2024 (arXiv:2406.19146) name scale-dependent optimizer tuning as one of the
three causes of the Kaplan–Chinchilla gap: a rate fixed across sizes, or a rule fitted on
another setup, is a confound of every fitted exponent. So for one training setup (family,
source, batch, context), a few anchor sizes spanning its grids are each trained at peak rates
a factor apart on a log lattice, at a stated fraction of the shortest and of the longest run
the grids give that size (LR* falls with the run length, the more so the smaller the model),
each anchor's optimum is read off by held-out loss, and LR* is interpolated between them in
log N and log D (Kaplan et al. 2020, App. D.6, fit LR(N) by N; Bjorck et al. 2024,
arXiv:2409.19913, find LR* depends on D as well).

Torch-free: `search` asks a caller-given `evaluate` for the held-out loss of (anchor, rate)
points, a whole round at a time so a sweep can train them in parallel.

- Each anchor starts from `rates` lattice points centred on a caller-given rule's rate.
- An anchor whose lowest loss is at the lowest or highest rate gets the next lattice rate on
  that side, one per round, up to `max_extension` per side; if still on an edge, the anchor
  is reported as unbracketed and left out of the fit.
- The optimum is the vertex of the parabola in log lr through the best rate and its two
  neighbours (a diverged neighbour counts as infinitely worse and leaves the best rate itself).
- The rule: each anchor size's bracketed optima make a line in log D, and LR*(N, D) is
  interpolated between the sizes in log N (`LRRule`); a size bracketed at one length borrows
  the slope in D of the nearest size that has one, and `LRRule.messages` says so; none
  bracketed, the anchors' best edge rates are used and the rule says so.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

LATTICE_BASE = 1e-3  # rates are LATTICE_BASE·factor^k, so searches on any setup share round rates
SIGNIFICANT = 3  # LR* is rounded to this many digits: runs keyed by it survive float noise in a refit


@dataclass(frozen=True)
class LRSearchPlan:
    """How a search is run: anchors, rates per anchor, their ratio, extensions, horizons.

    tokens_frac: each anchor's run lengths as a fraction of the shortest and of the longest
    token budget the grids give that size (shorter runs keep the search cheap; the rule's slope
    in D carries the rate to the grids' lengths).
    """

    anchors: int = 3
    rates: int = 5
    factor: float = 2.0
    max_extension: int = 2
    tokens_frac: float = 0.5

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                raise ValueError(f"{name!r} must be {what} (got {name}={getattr(self, name)!r})")

        def is_int(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        need(is_int(self.anchors) and self.anchors >= 1, "anchors", "an integer >= 1")
        need(is_int(self.rates) and self.rates >= 3, "rates", "an integer >= 3 (a parabola needs 3)")
        need(isinstance(self.factor, (int, float)) and math.isfinite(self.factor) and self.factor > 1,
             "factor", "a finite number > 1")
        need(is_int(self.max_extension) and self.max_extension >= 0, "max_extension", "an integer >= 0")
        need(isinstance(self.tokens_frac, (int, float)) and 0 < self.tokens_frac <= 1,
             "tokens_frac", "in (0, 1]")


def round_lr(lr: float) -> float:
    """`lr` to SIGNIFICANT digits (the searched rule's rates, stable across refits)."""
    return float(f"{lr:.{SIGNIFICANT}g}")


def lattice_rate(k: int, factor: float) -> float:
    """The k-th lattice rate LATTICE_BASE·factor^k, rounded."""
    return round_lr(LATTICE_BASE * factor ** k)


def lattice_index(lr: float, factor: float) -> int:
    """The lattice step nearest (in log) to `lr`."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"'lr' must be a finite number > 0 (got lr={lr!r})")
    return round(math.log(lr / LATTICE_BASE) / math.log(factor))


def pick_anchors(ns: Sequence[float], count: int) -> list[int]:
    """Indices of `count` distinct sizes of `ns` spanning them: the smallest, the largest and the
    ones nearest (in log N) to geometric steps between; fewer when `ns` has fewer distinct sizes."""
    if not ns or any(not (isinstance(n, (int, float)) and math.isfinite(n) and n > 0) for n in ns):
        raise ValueError(f"'ns' must be a non-empty sequence of positive sizes (got ns={list(ns)!r})")
    order = sorted(range(len(ns)), key=lambda i: ns[i])
    lo, hi = math.log(ns[order[0]]), math.log(ns[order[-1]])
    chosen: list[int] = []
    for k in range(count):
        target = lo if count == 1 else lo + k * (hi - lo) / (count - 1)
        free = [i for i in order if all(ns[i] != ns[j] for j in chosen)]
        if not free:
            break
        chosen.append(min(free, key=lambda i: abs(math.log(ns[i]) - target)))
    return sorted(chosen, key=lambda i: ns[i])


@dataclass(frozen=True)
class AnchorSearch:
    """One anchor's search: its size and run length, the rates tried (ascending) with their losses."""

    n: float
    tokens: int
    rates: tuple[float, ...]
    losses: tuple[float, ...]  # inf where the run diverged

    @property
    def best(self) -> int:
        return int(np.argmin(self.losses))

    @property
    def side(self) -> int:
        """-1 or +1 when the lowest loss is at the lowest or highest rate tried, else 0."""
        return -1 if self.best == 0 else 1 if self.best == len(self.rates) - 1 else 0

    @property
    def bracketed(self) -> bool:
        return self.side == 0 and math.isfinite(self.losses[self.best])

    @property
    def margin(self) -> float:
        """How much worse the better neighbour of the best rate is (nats; NaN when not bracketed):
        a margin below the loss's seed noise means the optimum is flat, not located."""
        if not self.bracketed:
            return math.nan
        return min(self.losses[self.best - 1], self.losses[self.best + 1]) - self.losses[self.best]

    @property
    def lr_opt(self) -> float:
        """The vertex of the parabola in log lr through the best rate and its neighbours (the best
        rate itself when it is on an edge, or a neighbour diverged), rounded."""
        i = self.best
        if not self.bracketed or not all(math.isfinite(v) for v in self.losses[i - 1:i + 2]):
            return round_lr(self.rates[i])
        u = np.log(self.rates[i - 1:i + 2])
        p2, p1, _ = np.polyfit(u - u[1], self.losses[i - 1:i + 2], 2)
        v = u[1] - p1 / (2 * p2) if p2 > 0 else u[1]
        return round_lr(math.exp(min(max(v, u[0]), u[2])))


# A rate is carried along an anchor's slope in D at most this factor beyond the lengths it was
# searched at: the 2x that runs of the search's half length need, and as much again for sizes
# between anchors; further out a measured slope is no evidence.
MAX_D_EXTRAPOLATION = 4.0


@dataclass(frozen=True)
class SizeLine:
    """One anchor size's LR* as a line in log D: `lr` at length `d`, its slope in log D (measured
    between the lengths searched, or borrowed from the nearest size where it was), and the
    lengths searched (`d_lo`..`d_hi`)."""

    n: float
    lr: float
    d: float
    slope: float
    d_lo: float
    d_hi: float
    measured: bool

    def log_rate(self, tokens: float) -> float:
        t = min(max(tokens, self.d_lo / MAX_D_EXTRAPOLATION), self.d_hi * MAX_D_EXTRAPOLATION)
        return math.log(self.lr) + self.slope * math.log(t / self.d)


@dataclass(frozen=True)
class LRRule:
    """LR*(N, D) interpolated between the searched anchors; calling it with (N, tokens) gives the rounded rate.

    Each anchor size's optima make a line in log D (`SizeLine`); at any N the rule interpolates
    log LR* linearly in log N between the two neighbouring sizes' lines (the end pair's line
    continued beyond them). Local by design: a global surface through a handful of noisy optima
    (e.g. log LR* bilinear in log N and log D) was found, on English text, to put rates 30x above
    its neighbours' in the corner of large N and long runs, where no anchor was searched.

    Summaries for the report: `b`, the least-squares slope of log LR* in log N across the sizes at
    the common length `d_ref`; `lr_ref` the rule's rate at (`n_ref`, `d_ref`), the geometric means.
    """

    lines: tuple[SizeLine, ...]
    anchors: tuple[AnchorSearch, ...]
    messages: tuple[str, ...]  # what the fit left out or borrowed (unbracketed anchors, slopes in D)
    n_ref: float
    d_ref: float
    b: float

    def __call__(self, n: float, tokens: float) -> float:
        for name, v in (("n", n), ("tokens", tokens)):
            if not (isinstance(v, (int, float, np.number)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name!r} must be a finite number > 0 (got {name}={v!r})")
        return round_lr(math.exp(self._log_rate(float(n), float(tokens))))

    def _log_rate(self, n: float, tokens: float) -> float:
        if len(self.lines) == 1:
            return self.lines[0].log_rate(tokens)
        x = [math.log(line.n) for line in self.lines]
        i = min(max(int(np.searchsorted(x, math.log(n))) - 1, 0), len(x) - 2)
        w = (math.log(n) - x[i]) / (x[i + 1] - x[i])
        return (1 - w) * self.lines[i].log_rate(tokens) + w * self.lines[i + 1].log_rate(tokens)

    @property
    def lr_ref(self) -> float:
        """The rule's rate at (n_ref, d_ref)."""
        return self(self.n_ref, self.d_ref)

    @property
    def bracketed(self) -> int:
        """How many anchors' optima are bracketed by the rates searched."""
        return sum(a.bracketed for a in self.anchors)

    def text(self) -> str:
        any_slope = any(ln.measured for ln in self.lines)
        sizes = "; ".join(
            f"N = {ln.n:.3g}: {ln.lr:.3g} at D = {ln.d:.3g}"
            + (f", ∝ D^{ln.slope:+.2f}" + ("" if ln.measured else " (borrowed)") if any_slope else "")
            for ln in self.lines)
        return (f"LR*(N, D) interpolated in log N between {len(self.lines)} sizes ({sizes}); across sizes at "
                f"D = {self.d_ref:.3g}: {self.lr_ref:.3g}·(N/{self.n_ref:.3g})^{self.b:+.3f}; searched at "
                f"{len(self.anchors)} (N, tokens), {self.bracketed} bracketed")


def fit_lr_rule(anchors: Sequence[AnchorSearch]) -> LRRule:
    """The rule through the bracketed anchors (see `LRRule`): one `SizeLine` per anchor size."""
    anchors = tuple(anchors)
    if not anchors:
        raise ValueError("'anchors' must hold at least one searched anchor (got none)")
    used = [a for a in anchors if a.bracketed]
    messages = [f"N = {a.n:.3g} on {a.tokens:,} tokens: lowest loss at the "
                f"{'lowest' if a.side < 0 else 'highest'} rate searched ({a.rates[a.best]:.3g}), not bracketed: "
                "left out of the fit" for a in anchors if not a.bracketed]
    if not used:
        used = list(anchors)
        messages.append("no anchor bracketed: the rule runs through the best rates searched, each on an edge")
    lines = []
    for n in sorted({a.n for a in used}):
        at = [a for a in used if a.n == n]
        ld, llr = np.log([float(a.tokens) for a in at]), np.log([a.lr_opt for a in at])
        measured = np.ptp(ld) > 0
        slope = float(np.polyfit(ld, llr, 1)[0]) if measured else math.nan
        lines.append(SizeLine(n, float(math.exp(llr.mean())), float(math.exp(ld.mean())), slope,
                              float(math.exp(ld.min())), float(math.exp(ld.max())), bool(measured)))
    known = [ln for ln in lines if ln.measured]
    for k, ln in enumerate(lines):
        if ln.measured:
            continue
        if known:
            near = min(known, key=lambda m: abs(math.log(m.n / ln.n)))
            lines[k] = dataclasses.replace(ln, slope=near.slope)
            messages.append(f"N = {ln.n:.3g}: bracketed at one length only: the slope in D of N = "
                            f"{near.n:.3g} ({near.slope:+.2f}) is used")
        else:
            lines[k] = dataclasses.replace(ln, slope=0.0)
    if len(lines) == 1:
        messages.append(f"{'one usable anchor' if len(used) == 1 else 'usable anchors of one size'}: "
                        "no slope in N to fit, b = 0")
    d_ref = float(np.exp(np.mean(np.log([float(a.tokens) for a in used]))))
    n_ref = float(np.exp(np.mean(np.log([ln.n for ln in lines]))))
    at_ref = np.array([ln.log_rate(d_ref) for ln in lines])
    b = float(np.polyfit(np.log([ln.n for ln in lines]), at_ref, 1)[0]) if len(lines) > 1 else 0.0
    return LRRule(tuple(lines), anchors, tuple(messages), n_ref=round_lr(n_ref), d_ref=round_lr(d_ref),
                  b=round(b, 4))


def search(ns: Sequence[float], tokens: Sequence[int], centre: Callable[[float], float],
           evaluate: Callable[[list[tuple[int, float]]], Sequence[float]], plan: LRSearchPlan) -> LRRule:
    """Search the rates at each anchor (`ns[i]`, `tokens[i]`) and fit LR*(N, D) through the optima.

    A size may be an anchor at several run lengths; `centre(n)`: a generic rule placing each
    anchor's first rates; `evaluate(points)`: the held-out loss of each (anchor index, rate) point
    (NaN or inf where the run diverged).
    """
    if not ns:
        raise ValueError("'ns' must hold at least one anchor size (got none)")
    if len(tokens) != len(ns):
        raise ValueError(f"'tokens' must give one run length per anchor (got {len(tokens)} for {len(ns)})")
    half = (plan.rates - 1) // 2
    tried: list[dict[int, float]] = []  # per anchor: lattice step -> loss
    todo = []
    for i, n in enumerate(ns):
        k0 = lattice_index(centre(n), plan.factor)
        tried.append({})
        todo += [(i, k) for k in range(k0 - half, k0 - half + plan.rates)]
    added = [{-1: 0, 1: 0} for _ in ns]
    while todo:
        losses = evaluate([(i, lattice_rate(k, plan.factor)) for i, k in todo])
        if len(losses) != len(todo):
            raise ValueError(f"'evaluate' must return one loss per point (got {len(losses)} for {len(todo)})")
        for (i, k), v in zip(todo, losses):
            tried[i][k] = float(v) if math.isfinite(v) else math.inf
        todo = []
        for i, got in enumerate(tried):
            side = _anchor(ns[i], 0, got, plan.factor).side
            if side and added[i][side] < plan.max_extension:
                added[i][side] += 1
                todo.append((i, (min(got) if side < 0 else max(got)) + side))
    return fit_lr_rule([_anchor(n, t, got, plan.factor) for n, t, got in zip(ns, tokens, tried)])


def _anchor(n: float, tokens: int, tried: dict[int, float], factor: float) -> AnchorSearch:
    ks = sorted(tried)
    return AnchorSearch(float(n), int(tokens), tuple(lattice_rate(k, factor) for k in ks),
                        tuple(tried[k] for k in ks))
