"""Porian et al. 2024 (arXiv:2406.19146), Fig. 1 and §3-4: the Kaplan → Chinchilla path.

Claim: removing, one factor at a time, what separates Kaplan et al.'s setup from Hoffmann et
al.'s (counting last-layer FLOPs, correcting warmup, cosine decay matched to each budget,
tuning the optimizer per scale) takes the exponent a of N* ∝ C^a from Kaplan's 0.835 to
Chinchilla's 0.497 on RefinedWeb (0.864 → 0.519 on OpenWebText2), in that order.

What is measured, from their released IsoFLOP points (../shared/data/porian2024, md5-checked
by `scaling.published`), with this project's own IsoFLOP method, not theirs:
- the optimum per budget: a parabola in log N (Hoffmann et al. 2022, Approach 2) through the
  lowest-loss model and up to two neighbours on each side, refused when it is not bracketed
  (`scaling.isoflop`). Local, because the profiles span up to three decades of N, over which
  L(log N) is far from a parabola; five points is the fewest any budget holds, so at the
  sparsest budgets this is Hoffmann's whole-profile parabola.
- a: least squares of log N* on log C through the bracketed budgets, with a 95% bootstrap
  interval (each resample adds the authors' seed noise to every loss and resamples budgets).
- the method difference: their released per-budget optima, fitted directly (their weighted
  least squares, and ours), compared budget by budget with ours.

The data are never copied into the repository; every test skips with its reason when absent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.stats import norm

from scaling.fit import FitError
from scaling.isoflop import LocalIsoFLOPFit, fit_local_isoflop, power_law, window
from scaling.optimal import fit_isoflop
from scaling.published import DataError, DataMissing, load_porian_isoflop, load_porian_optima, porian_configs

# --- the decision rule, fixed before the data were fitted ------------------------------------

LEVEL = 0.95  # Porian et al. quote 95% bootstrap intervals; ours are at the same level
HALF = 0.5  # Hoffmann et al. 2022: N and D scale equally with compute, a = 0.5
# z at LEVEL: the per-budget disagreement between the two optimum finders is carried into a
# at the level of the published intervals it widens.
Z_METHOD = float(norm.ppf(0.5 + LEVEL / 2))
# A slope through fewer optima has no residual left to judge the method difference by.
MIN_BUDGETS = 4
STEPS = ("kaplan_repro", "last_layer_flops", "warmup", "cosine_decay", "tuned_const_lr")
ATT_STEPS = ("att_last_layer_flops", "att_warmup", "att_cosine_decay", "att_tuned_const_lr")
STEP_LABELS = ("1 Kaplan's setup", "2 last-layer FLOPs", "3 warmup", "4 cosine decay", "5 tuned optimizer")
# Porian et al. 2024, Fig. 1 and their summary table: (a, low, high) as printed, None where no
# interval is printed. A printed end is taken to +- half a unit of its last printed digit.
PUBLISHED = {
    ("rw", "kaplan_repro"): ("0.835", "0.824", "0.846"),
    ("rw", "last_layer_flops"): ("0.707", "0.69", "0.72"),
    ("rw", "warmup"): ("0.602", "0.59", "0.62"),
    ("rw", "cosine_decay"): ("0.572", None, None),
    ("rw", "tuned_const_lr"): ("0.497", "0.491", "0.505"),
    ("owt2", "kaplan_repro"): ("0.864", "0.819", "0.897"),
    ("owt2", "last_layer_flops"): ("0.699", None, None),
    ("owt2", "warmup"): ("0.603", None, None),
    ("owt2", "cosine_decay"): ("0.574", None, None),
    ("owt2", "tuned_const_lr"): ("0.519", "0.493", "0.541"),
    ("rw", "att_last_layer_flops"): ("0.717", None, None),
    ("rw", "att_warmup"): ("0.622", None, None),
    ("rw", "att_cosine_decay"): ("0.577", None, None),
    ("rw", "att_tuned_const_lr"): ("0.505", None, None),
    ("rw", "kaplan_tuned_hparams"): ("0.712", None, None),
}
# Where no interval is printed, the published interval is the one their released optima give
# under their own per-budget uncertainty: log n* + N(0, n_star_std) per budget, refitted by
# their weighted least squares, at LEVEL (their bootstrap, rebuilt from what was released).
RULE = (
    f"(1) For each of the 15 configurations, a measured from the IsoFLOP points lies inside the "
    f"published {LEVEL:.0%} interval (printed ends +- half their last digit; where none is printed, "
    f"the interval their released optima give under their n_star_std), widened on both sides by "
    f"the method difference measured on the released optima: |a(ours, fitted to their optima) - "
    f"a(their weighted fit)| + {Z_METHOD:.2f} x the standard error that the budget-by-budget "
    f"scatter of log(N*ours / N*theirs) puts on a slope; at least {MIN_BUDGETS} bracketed budgets. "
    f"(2) On RefinedWeb and on OWT2 the five steps' measured a fall strictly in the published "
    f"order. (3) The last step's measured {LEVEL:.0%} interval contains {HALF} and the first "
    f"step's excludes it, on both datasets."
)
HEADLINE = "configurations whose a agrees with Porian et al. (of 15)"
# Not part of the rule: a check that the released optima are what the printed a were fitted to.
# a is printed to 3 decimals, and for 4 of 15 configurations the printed value is one unit
# above the rounding of this refit (0.70647 printed 0.707), so one unit, not half.
PRINTED_UNIT = 0.001

pytestmark = pytest.mark.claim(
    "porian-path",
    title="Kaplan → Chinchilla, one factor at a time: a from 0.835 to 0.497 (Porian et al.'s data refitted)",
    source="Porian et al. 2024, arXiv:2406.19146, Fig. 1, §3-4; released IsoFLOP data",
    quote="we explain the discrepancy by identifying three factors: last layer computational cost, "
    "warmup duration, and scale-dependent optimizer tuning",
    evidence="published-data",
    headline=HEADLINE,
    rule=RULE,
)


@dataclass(frozen=True, eq=False)
class Config:
    """One configuration: our fit from the points, their optima refitted, the widened interval."""

    dataset: str
    config: str
    fit: LocalIsoFLOPFit
    released_C: np.ndarray  # budgets with a released optimum in their fit
    released_n: np.ndarray
    released_loss: np.ndarray
    a_theirs: float  # their weighted least squares through their released optima
    a_ours_on_theirs: float  # our least squares through their released optima
    se_method: float  # standard error the per-budget method scatter puts on a
    published: tuple[float, float, float]  # a, low, high
    printed_interval: bool
    rebuilt: tuple[float, float]  # their interval rebuilt from their n_star_std (all 15)

    @property
    def widening(self) -> float:
        return abs(self.a_ours_on_theirs - self.a_theirs) + Z_METHOD * self.se_method

    @property
    def bounds(self) -> tuple[float, float]:
        return self.published[1] - self.widening, self.published[2] + self.widening

    @property
    def agrees(self) -> bool:
        lo, hi = self.bounds
        return len(self.fit.minima) >= MIN_BUDGETS and lo <= self.fit.a <= hi


def _half_unit(printed: str) -> float:
    return 0.5 * 10.0 ** -len(printed.split(".")[1])


def _weighted_slopes(x: np.ndarray, Y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Slopes of the weighted least-squares lines of each row of Y on x (weights w)."""
    xm = np.sum(w * x) / w.sum()
    ym = (Y * w).sum(axis=-1, keepdims=True) / w.sum()
    return ((Y - ym) * w * (x - xm)).sum(axis=-1) / np.sum(w * (x - xm) ** 2)


def _method_se(fit: LocalIsoFLOPFit, C: np.ndarray, n_star: np.ndarray) -> float:
    """s/√Sxx of the line through log(N*ours/N*theirs) against log C, over budgets both have."""
    theirs = {round(math.log(c), 6): n for c, n in zip(C, n_star)}
    pairs = [(math.log(m.C), math.log(m.N_opt / theirs[round(math.log(m.C), 6)]))
             for m in fit.minima if round(math.log(m.C), 6) in theirs]
    if len(pairs) < 3:
        return math.nan
    x, d = np.array(pairs).T
    slope, icpt = np.polyfit(x, d, 1)
    s = math.sqrt(np.sum((d - icpt - slope * x) ** 2) / (x.size - 2))
    return s / math.sqrt(np.sum((x - x.mean()) ** 2))


def _configuration(pts, opt, dataset: str, config: str, tier) -> Config:
    m = (pts.dataset == dataset) & (pts.config == config)
    fit = fit_local_isoflop(pts.C[m], pts.N[m], pts.loss[m], noise_std=pts.loss_noise_std[m],
                            bootstrap=tier.bootstrap_resamples, level=LEVEL, seed=0)
    o = (opt.dataset == dataset) & (opt.config == config) & opt.in_fit
    C, n, std = opt.C[o], opt.n_star[o], opt.n_star_std[o]
    x, y, w = np.log(C), np.log(n), 1.0 / std ** 2
    a_theirs = float(_weighted_slopes(x, y, w))
    # their bootstrap rebuilt from the released per-budget uncertainties
    draws = y + std * np.random.default_rng(1).standard_normal((tier.bootstrap_resamples, y.size))
    rebuilt = tuple(float(q) for q in np.quantile(_weighted_slopes(x, draws, w), [(1 - LEVEL) / 2, (1 + LEVEL) / 2]))
    a, lo, hi = PUBLISHED[(dataset, config)]
    published = (float(a), *((float(lo) - _half_unit(lo), float(hi) + _half_unit(hi)) if lo is not None else rebuilt))
    return Config(dataset, config, fit, C, n, opt.loss_star[o], a_theirs, power_law(C, n)[0],
                  _method_se(fit, C, n), published, lo is not None, rebuilt)


@pytest.fixture(scope="module")
def path(tier):
    """All 15 configurations, fitted once: {(dataset, config): Config}."""
    try:
        pts, opt = load_porian_isoflop(), load_porian_optima()
    except DataMissing as e:
        pytest.skip(str(e))
    configs = porian_configs()
    if set(configs) != set(PUBLISHED):
        raise DataError(f"{pts.path}: configurations {sorted(configs)} are not the 15 published ones")
    return {key: _configuration(pts, opt, *key, tier) for key in PUBLISHED}


def _label(key) -> str:
    return f"{key[0]} {key[1]}"


def test_each_configuration_agrees_with_published(claim, path, tier):
    """All 15 configurations' a lie in the published 95% interval widened by the method difference."""
    for key, c in path.items():
        lo, hi = c.bounds
        side = hi - c.published[0] if c.fit.a >= c.published[0] else c.published[0] - lo
        iv = c.fit.interval
        claim.measure(f"a, {_label(key)}", c.fit.a, expected=c.published[0], tolerance=side,
                      note=f"ours {LEVEL:.0%} [{iv.low:.3f}, {iv.high:.3f}] from {len(c.fit.minima)} of "
                           f"{c.fit.n_budgets} budgets bracketed; published {c.published[0]:.3f} "
                           f"[{c.published[1]:.3f}, {c.published[2]:.3f}]"
                           f"{'' if c.printed_interval else ' (interval rebuilt from their n_star_std)'}; "
                           f"widened by {c.widening:.3f} to [{lo:.3f}, {hi:.3f}]")
        claim.measure(f"method difference in a, {_label(key)}", c.widening,
                      note=f"|ours - their weighted fit| on their optima {abs(c.a_ours_on_theirs - c.a_theirs):.4f}"
                           f" + {Z_METHOD:.2f} x {c.se_method:.4f} (per-budget scatter of log N*ours/N*theirs)")
        for message in c.fit.refused:
            claim.note(f"{_label(key)}: {message}")
    undecided = [f"{_label(k)}: {len(c.fit.minima)} bracketed budgets, method difference {c.widening:.3g}"
                 for k, c in path.items() if len(c.fit.minima) < MIN_BUDGETS or not math.isfinite(c.widening)]
    bad = [f"{_label(k)}: {c.fit.a:.3f} outside [{c.bounds[0]:.3f}, {c.bounds[1]:.3f}]"
           for k, c in path.items() if not c.agrees and len(c.fit.minima) >= MIN_BUDGETS
           and math.isfinite(c.widening)]
    claim.measure(HEADLINE, len(path) - len(bad), expected=len(path), tolerance=0,
                  note=f"{tier.bootstrap_resamples} bootstrap resamples per configuration")
    claim.note(_table(path))
    claim.note(_sensitivity(path))
    claim.note(_whole_profile(path))
    claim.figure(_path_figure(path), "a-along-the-path")
    if bad or undecided:
        claim.verdict("not_reproduced" if bad else "inconclusive", "; ".join(bad + undecided))
    assert not (bad or undecided), "; ".join(bad + undecided)


def test_steps_fall_in_published_order(claim, path):
    """On RefinedWeb and on OWT2 the five steps' a fall strictly, as printed."""
    broken = []
    for dataset in ("rw", "owt2"):
        a = [path[(dataset, s)].fit.a for s in STEPS]
        drops = np.diff(a)
        claim.measure(f"smallest drop in a between steps, {dataset}", -float(drops.max()),
                      note="a along the steps: " + " > ".join(f"{v:.3f}" for v in a))
        if not np.all(drops < 0):
            broken.append(dataset)
    att = [path[("rw", s)].fit.a for s in ATT_STEPS]
    claim.note("Attention FLOPs counted too (rw, steps 2-5, not in the rule): "
               + " > ".join(f"{v:.3f}" for v in att) + f"; Kaplan setup with tuned hyperparameters "
               f"{path[('rw', 'kaplan_tuned_hparams')].fit.a:.3f}.")
    claim.figure(_profiles_figure(path), "isoflop-profiles-rw")
    assert not broken, f"steps out of the published order on {', '.join(broken)}"


def test_last_step_reaches_half_and_first_does_not(claim, path):
    """The tuned-optimizer step's 95% interval contains 0.5 and Kaplan's setup's excludes it, on both datasets."""
    wrong = []
    for dataset in ("rw", "owt2"):
        for step, want in ((STEPS[-1], True), (STEPS[0], False)):
            iv = path[(dataset, step)].fit.interval
            claim.measure(f"{LEVEL:.0%} interval of a, {dataset} {step}, distance from {HALF}",
                          max(iv.low - HALF, HALF - iv.high, 0.0) if want else min(abs(iv.low - HALF), abs(iv.high - HALF)),
                          note=f"[{iv.low:.3f}, {iv.high:.3f}]; {'must' if want else 'must not'} contain {HALF}")
            if iv.contains(HALF) != want:
                wrong.append(f"{dataset} {step} [{iv.low:.3f}, {iv.high:.3f}]")
    assert not wrong, "; ".join(wrong)


def test_released_optima_give_the_printed_exponents(claim, path):
    """Their weighted fit through their released optima gives the printed a to one unit of the last digit."""
    off = []
    for key, c in path.items():
        if c.printed_interval:
            claim.measure(f"rebuilt / printed interval width, {_label(key)}",
                          (c.rebuilt[1] - c.rebuilt[0]) / (c.published[2] - c.published[1]),
                          note=f"rebuilt [{c.rebuilt[0]:.3f}, {c.rebuilt[1]:.3f}] vs printed "
                               f"[{c.published[1]:.3f}, {c.published[2]:.3f}]: their n_star_std has a "
                               "floor and is inflated by 1000/valid replicates")
        claim.measure(f"their weighted fit through their optima, {_label(key)}", c.a_theirs,
                      expected=c.published[0], tolerance=PRINTED_UNIT,
                      note=f"{c.released_n.size} released optima; our least squares on them: {c.a_ours_on_theirs:.4f}")
        if abs(c.a_theirs - c.published[0]) > PRINTED_UNIT + 1e-12:
            off.append(f"{_label(key)}: {c.a_theirs:.4f} vs {c.published[0]}")
    assert not off, "; ".join(off)


def _sensitivity(path) -> str:
    """The rule's outcome where no interval is printed, with the rebuilt ones shrunk (not the rule)."""
    ratio = max((c.rebuilt[1] - c.rebuilt[0]) / (c.published[2] - c.published[1])
                for c in path.values() if c.printed_interval)
    rebuilt = [c for c in path.values() if not c.printed_interval]
    held = 0
    for c in rebuilt:
        mid, half = (c.published[1] + c.published[2]) / 2, (c.published[2] - c.published[1]) / (2 * ratio)
        held += mid - half - c.widening <= c.fit.a <= mid + half + c.widening
    return (f"Sensitivity (not the rule): the rebuilt intervals are up to {ratio:.1f}x as wide as the printed "
            f"ones where both exist; shrunk by that factor, {held} of the {len(rebuilt)} configurations "
            "without a printed interval still agree.")


def _whole_profile(path) -> str:
    """a from Hoffmann's whole-profile parabola on the same points, beside ours (not the rule)."""
    pts, parts = load_porian_isoflop(), []
    for (dataset, config), c in path.items():
        m = (pts.dataset == dataset) & (pts.config == config)
        try:
            whole = fit_isoflop(pts.C[m], pts.N[m], pts.loss[m], on_edge="drop")
            parts.append(f"{dataset} {config} {whole.a:.3f} ({len(whole.minima)} budgets; local {c.fit.a:.3f})")
        except FitError as e:
            parts.append(f"{dataset} {config}: {e}")
    return ("Hoffmann's whole-profile parabola on the same points (not the rule: on profiles this wide "
            "the vertex depends on how far the parabola reaches): " + "; ".join(parts) + ".")


def _table(path) -> str:
    lines = ["| dataset | config | a measured (95%) | a published (95%) | widened by | agrees |",
             "|---|---|---|---|---|---|"]
    for (dataset, config), c in path.items():
        iv, (a, lo, hi) = c.fit.interval, c.published
        lines.append(f"| {dataset} | {config} | {c.fit.a:.3f} ({iv.low:.3f}, {iv.high:.3f}) | {a:.3f} "
                     f"({lo:.3f}, {hi:.3f}){'' if c.printed_interval else '*'} | {c.widening:.3f} | "
                     f"{'yes' if c.agrees else 'no'} |")
    return "\n".join(lines) + "\n\n* interval rebuilt from their released n_star_std (none printed)."


def _path_figure(path):
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    steps = np.arange(1, len(STEPS) + 1)
    for ax, dataset, name in zip(axes, ("rw", "owt2"), ("RefinedWeb", "OpenWebText2")):
        rows = [path[(dataset, s)] for s in STEPS]
        _errorbars(ax, steps - 0.08, rows, "C0", "o", "measured (local parabola)")
        _errorbars(ax, steps + 0.08, rows, "C3", "s", "published", published=True)
        if dataset == "rw":
            att = [path[("rw", s)] for s in ATT_STEPS]
            _errorbars(ax, steps[1:] + 0.24, att, "C2", "^", "measured, attention FLOPs", hollow=True)
            _errorbars(ax, steps[1:] + 0.32, att, "C1", "v", "published, attention FLOPs", published=True, hollow=True)
        ax.axhline(HALF, color="k", ls=":", lw=1)
        ax.set_xticks(steps, [s.split(" ", 1)[1] for s in STEP_LABELS], rotation=20, fontsize=8)
        ax.set_title(name)
        ax.legend(fontsize=7)
    axes[0].set_ylabel(f"a in N* ∝ C^a ({LEVEL:.0%} intervals)")
    fig.suptitle("Porian et al. 2024: the Kaplan → Chinchilla path, refitted from the released IsoFLOP points")
    fig.tight_layout()
    return fig


def _errorbars(ax, x, rows, color, marker, label, *, published=False, hollow=False):
    y = np.array([r.published[0] if published else r.fit.a for r in rows])
    lo = np.array([r.published[1] if published else r.fit.interval.low for r in rows])
    hi = np.array([r.published[2] if published else r.fit.interval.high for r in rows])
    ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt=marker, color=color, capsize=3, label=label,
                mfc="white" if hollow else color)


def _profiles_figure(path):
    pts = load_porian_isoflop(dataset="rw")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, step in zip(axes, (STEPS[0], STEPS[-1])):
        c = path[("rw", step)]
        m = pts.config == step
        C, N, L = pts.C[m], pts.N[m], pts.loss[m]
        budgets = np.unique(C)
        colors = plt.cm.viridis(np.linspace(0.05, 0.9, budgets.size))
        minima = {round(math.log(mm.C), 6): mm for mm in c.fit.minima}
        theirs = {round(math.log(cc), 6): (n, ls) for cc, n, ls in zip(c.released_C, c.released_n, c.released_loss)}
        for b, col in zip(budgets, colors):
            r = C == b
            order = np.argsort(N[r])
            ax.plot(N[r][order], L[r][order], "o-", color=col, ms=3, lw=0.6)
            mm = minima.get(round(math.log(b), 6))
            if mm is not None:
                u = np.log(N[r][order])
                w = window(L[r][order])
                g = np.linspace(u[w].min(), u[w].max(), 60)
                ax.plot(np.exp(g), mm.loss + 0.5 * mm.curvature * (g - math.log(mm.N_opt)) ** 2, "-",
                        color=col, lw=1.8)
                ax.plot(mm.N_opt, mm.loss, "*", ms=11, color=col, mec="k")
            if round(math.log(b), 6) in theirs:
                ax.plot(*theirs[round(math.log(b), 6)], "x", ms=9, mew=2, color="C3")
        ax.set(xscale="log", xlabel=f"N ({'Kaplan: non-embedding' if step == STEPS[0] else 'with head'})",
               ylabel="loss (nats/token)", title=f"rw {step}: a = {c.fit.a:.3f} (published {c.published[0]:.3f})",
               ylim=(L.min() - 0.1, max(mm.loss for mm in c.fit.minima) + 1.2))
    axes[0].plot([], [], "*", color="grey", mec="k", label="local-parabola minimum (ours)")
    axes[0].plot([], [], "x", color="C3", mew=2, label="released optimum (theirs)")
    axes[0].legend(fontsize=7)
    fig.suptitle("IsoFLOP profiles, first and last step on RefinedWeb (one colour per budget)")
    fig.tight_layout()
    return fig

