"""Pearce & Song 2024 (and Porian et al. 2024): the Kaplan-Chinchilla gap in a comes from
counting non-embedding parameters at small scale.

Losses are simulated from a Chinchilla law of TOTAL parameters N_T. Pearce & Song fit the
total count of Chinchilla's configurations (vocab 32k) as N_T = N_E + 47491·N_E^(1/3), N_E the
non-embedding parameters. Done Kaplan's way - the compute-optimal N_E for each non-embedding
budget C_E = 6·N_E·D, fitted as one power law over Kaplan's range of 768 to 1.5e9
non-embedding parameters - the exponent comes out about 0.73-0.78; done Chinchilla's way, total
parameters against total compute, it is about 0.5. The frontier is found twice: exactly (a
one-dimensional minimization per budget) and by the IsoFLOP method on simulated losses (a
parabola in log N per budget), the way an experimenter would see it. That part is arithmetic
on published constants and is labelled so.

On the trained IsoFLOP runs of `compute-optimal` the mechanism is tested directly: the same
minima are counted Kaplan's way (non-embedding N_E of this model family, C_E = 6·N_E·D) and
Chinchilla's way (total N and C), and the difference of the two exponents is compared with
Pearce & Song's prediction: the frontier of the Approach-3 law fitted on the same runs, seen
through this family's embedding share N_T(N_E). Both sides are uncertain, so measured minus
predicted is bootstrapped jointly: each resample (runs drawn within each budget) refits the
IsoFLOP minima and the Approach-3 law, and the decision is whether that interval contains 0.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from scaling.fit import FitError, fit_chinchilla
from scaling.laws import CHINCHILLA_2022, CHINCHILLA_2022_UNROUNDED, EPOCH_2024, chinchilla_frontier
from scaling.optimal import compute_optimal, fit_isoflop

EMBEDDING_COEF = 47491.0  # Pearce & Song: N_T = N_E + 47491·N_E^(1/3) for Chinchilla's configs
KAPLAN_RANGE = (768.0, 1.5e9)  # Kaplan's non-embedding model sizes (Kaplan et al. 2020, §1)
# Pearce & Song 2024 report a local exponent of about 0.74-0.78, and Kaplan's eq. 6.1 gives 0.73:
# 0.73-0.78 is the band the non-embedding exponent must land in.
NON_EMBEDDING_BAND = (0.73, 0.78)
# "About 0.5": Hoffmann's Table 2 approaches give 0.46-0.50 and Epoch 0.51; ±0.05 covers them.
TOTAL_EXPECTED, TOTAL_TOLERANCE = 0.5, 0.05
# A parabola over ±0.4 decades of N per budget biases each minimum slightly; the IsoFLOP
# exponent must agree with the exact frontier's to this (absolute).
ISOFLOP_TOLERANCE = 0.02
N_FRONTIER_BUDGETS = 64  # the exact frontier: dense enough that the fitted slope is converged
ISOFLOP_BUDGETS = {"smoke": 6, "standard": 12, "full": 24}  # simulated IsoFLOP experiment
# Pearce & Song simulate with Chinchilla's published law; Epoch's refit is the cross-check.
LAWS = {"Chinchilla printed": CHINCHILLA_2022, "Chinchilla TeX digits": CHINCHILLA_2022_UNROUNDED}
# The trained part: the difference a_E - a_T gets the 10th-90th percentile interval Hoffmann's
# Table 2 quotes for a; the gap is shown when that interval excludes 0, and Pearce & Song's
# mechanism explains it when measured minus predicted, bootstrapped jointly (the same resampled
# runs refit both the IsoFLOP minima and the Approach-3 law), has an interval containing 0.
TRAINED_LEVEL = 0.8

# The decision rule, stated before looking at the data; the report prints it.
RULE = (
    f"seen through non-embedding parameters (N_T = N_E + {EMBEDDING_COEF:g}·N_E^(1/3)) over Kaplan's "
    f"{KAPLAN_RANGE[0]:g}..{KAPLAN_RANGE[1]:.2g} sizes, Chinchilla's law has a frontier exponent in "
    f"{NON_EMBEDDING_BAND[0]:g}-{NON_EMBEDDING_BAND[1]:g}; over total parameters it is "
    f"{TOTAL_EXPECTED:g} ± {TOTAL_TOLERANCE:g}; simulated IsoFLOP parabolas agree with the exact "
    f"frontier within {ISOFLOP_TOLERANCE:g}; on the trained IsoFLOP runs, a_E − a_T has a "
    f"{TRAINED_LEVEL:.0%} interval that excludes 0, and measured minus the difference predicted from this "
    "family's embedding share and the Approach-3 law fitted on the same runs has a joint-bootstrap "
    f"{TRAINED_LEVEL:.0%} interval containing 0"
)

pytestmark = pytest.mark.claim(
    "chinchilla-gap",
    title="Counting non-embedding parameters at small scale turns a ≈ 0.5 into ≈ 0.75",
    source="Pearce & Song 2024 (arXiv:2406.12907); Porian et al. 2024 (arXiv:2406.19146)",
    quote="much of this discrepancy can be attributed to Kaplan counting non-embedding rather than "
    "total parameters, combined with their analysis being performed at small scale",
    evidence="trained",
    headline="trained: a_E − a_T (non-embedding minus total count)",
    rule=RULE,
)


class NonEmbeddingView:
    """The law seen through non-embedding parameters: L(N_E, D) = law(N_E + 47491 N_E^(1/3), D)."""

    def __init__(self, law):
        self.law = law

    def predict(self, N_E, D):
        N_E = np.asarray(N_E, dtype=float)
        return self.law.predict(total_params(N_E), D)


def total_params(N_E):
    return N_E + EMBEDDING_COEF * np.cbrt(N_E)


def _budget_for(view, n_target: float) -> float:
    """The non-embedding budget C_E whose compute-optimal N_E is n_target (bisection in log C)."""
    lo, hi = math.log(1e6), math.log(1e28)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if compute_optimal(view, math.exp(mid))[0] < n_target else (lo, mid)
    return math.exp(0.5 * (lo + hi))


def frontiers(law, n_budgets: int):
    """Exact non-embedding and total frontiers over Kaplan's size range, and their exponents."""
    view = NonEmbeddingView(law)
    C_E = np.logspace(math.log10(_budget_for(view, KAPLAN_RANGE[0])),
                      math.log10(_budget_for(view, KAPLAN_RANGE[1])), n_budgets)
    N_E = compute_optimal(view, C_E)[0]
    D = C_E / (6 * N_E)
    C_T = 6 * total_params(N_E) * D  # the same runs, total compute
    N_T = compute_optimal(law, C_T)[0]
    a_E = np.polyfit(np.log(C_E), np.log(N_E), 1)[0]
    a_T = np.polyfit(np.log(C_T), np.log(N_T), 1)[0]
    return C_E, N_E, C_T, N_T, float(a_E), float(a_T)


def isoflop_exponent(law, C_E) -> float:
    """a from IsoFLOP parabolas on losses simulated at 9 sizes (±0.4 decades) per budget."""
    view = NonEmbeddingView(law)
    C, N = [], []
    for c in C_E:
        n_opt = compute_optimal(view, c)[0]
        for n in n_opt * np.logspace(-0.4, 0.4, 9):
            C.append(c)
            N.append(n)
    C, N = np.array(C), np.array(N)
    return fit_isoflop(C, N, view.predict(N, C / (6 * N))).a


@pytest.mark.parametrize("name", list(LAWS))
def test_non_embedding_frontier_at_kaplan_scale_gives_kaplans_exponent(claim, tier, name):
    """Over 768..1.5e9 non-embedding params the frontier exponent lies in 0.73-0.78; with total params it is about 0.5."""
    law = LAWS[name]
    C_E, N_E, C_T, N_T, a_E, a_T = frontiers(law, N_FRONTIER_BUDGETS)
    C_iso, *_, a_E_iso_budgets, _ = frontiers(law, ISOFLOP_BUDGETS[tier.name])
    a_iso = isoflop_exponent(law, C_iso)
    mid = 0.5 * sum(NON_EMBEDDING_BAND)
    pub = "published-numbers"
    claim.measure(f"{name}: a over non-embedding N (exact frontier)", a_E, expected=mid,
                  tolerance=mid - NON_EMBEDDING_BAND[0], evidence=pub)
    claim.measure(f"{name}: a over non-embedding N (IsoFLOP parabolas)", a_iso,
                  expected=a_E_iso_budgets, tolerance=ISOFLOP_TOLERANCE, evidence=pub,
                  note=f"{len(C_iso)} budgets; compared with the exact frontier at the same budgets")
    claim.measure(f"{name}: a over total N", a_T, expected=TOTAL_EXPECTED, tolerance=TOTAL_TOLERANCE,
                  evidence=pub)
    local = np.gradient(np.log(N_E), np.log(C_E))
    peak = int(np.argmax(local))
    claim.note(f"{name}: budgets C_E {C_E[0]:.3g}..{C_E[-1]:.3g} FLOPs; the local slope "
               f"d log N_E / d log C_E is {local[0]:.2f} at the small end, peaks at {local[peak]:.2f} "
               f"(C_E ≈ {C_E[peak]:.2g}, where embeddings stop dominating) and falls to {local[-1]:.2f} "
               f"at the large end, so one power law over the range reads {a_E:.3f}; total "
               f"parameters give {a_T:.3f} throughout.")
    claim.figure(_figure(name, C_E, N_E, C_T, N_T, a_E, a_T, local), f"frontiers-{name}")
    assert NON_EMBEDDING_BAND[0] <= a_E <= NON_EMBEDDING_BAND[1]
    assert abs(a_iso - a_E_iso_budgets) <= ISOFLOP_TOLERANCE
    assert abs(a_T - TOTAL_EXPECTED) <= TOTAL_TOLERANCE


def test_epoch_refit_shows_the_same_gap(claim):
    """With Epoch's law too, non-embedding counting at Kaplan's scale lifts a from about 0.5 to at least 0.73."""
    C_E, N_E, C_T, N_T, a_E, a_T = frontiers(EPOCH_2024, N_FRONTIER_BUDGETS)
    claim.measure("Epoch 2024: a over non-embedding N (exact frontier)", a_E, evidence="published-numbers",
                  expected=NON_EMBEDDING_BAND[1], note="Pearce & Song's band is for Chinchilla's law")
    claim.measure("Epoch 2024: a over total N", a_T, expected=TOTAL_EXPECTED, tolerance=TOTAL_TOLERANCE,
                  evidence="published-numbers")
    claim.note(f"Epoch's law: a = {a_E:.3f} over non-embedding parameters at Kaplan's scale "
               f"(Pearce & Song's 0.74-0.78 band was found with Chinchilla's law), {a_T:.3f} over total.")
    assert a_E >= NON_EMBEDDING_BAND[0]
    assert abs(a_T - TOTAL_EXPECTED) <= TOTAL_TOLERANCE


def counted_exponents(N_T, D, to_ne) -> tuple[float, float]:
    """(a_E, a_T) of the same frontier points (N_T, D): Kaplan's count N_E = to_ne(N_T), C_E = 6·N_E·D,
    against Chinchilla's N_T, C_T = 6·N_T·D (least-squares slopes in log-log)."""
    N_T, D = np.asarray(N_T, dtype=float), np.asarray(D, dtype=float)
    N_E = to_ne(N_T)
    a_E = np.polyfit(np.log(6 * N_E * D), np.log(N_E), 1)[0]
    a_T = np.polyfit(np.log(6 * N_T * D), np.log(N_T), 1)[0]
    return float(a_E), float(a_T)


def test_trained_isoflop_runs_show_the_counting_gap(claim, device, tier, experiments):
    """On the trained IsoFLOP minima, a_E − a_T exceeds 0 and agrees with Pearce & Song's prediction
    within the joint bootstrap interval of measured minus predicted."""
    runs = experiments.isoflop(device)
    # This family's embedding share, read off its members at the grid's shape: N_E as a function of N_T.
    members = sorted({t.member for t in runs.trained}, key=lambda m: m.n_total)
    lt = np.log([m.n_total for m in members])
    le = np.log([m.n for m in members])

    def to_ne(n_t):
        return np.exp(np.interp(np.log(n_t), lt, le))

    C, N, D, L = runs.C, runs.N, runs.D, runs.loss
    budgets = np.array(sorted(set(C)))
    groups = [np.flatnonzero(np.isclose(C, c, rtol=1e-6)) for c in budgets]
    # One set of resamples (runs drawn within each budget) for both sides of the comparison.
    rng = np.random.default_rng(0)
    picks = [np.concatenate([rng.choice(g, size=g.size, replace=True) for g in groups])
             for _ in range(tier.bootstrap_resamples)]
    weights = np.array([np.bincount(p, minlength=C.size) for p in picks], dtype=float)
    try:
        iso = fit_isoflop(C, N, L, D=D, on_edge="drop")
        a3 = fit_chinchilla(N, D, L, bootstrap_weights=weights)
    except FitError as e:
        claim.verdict("inconclusive", f"no frontier to count: {e}")
        raise
    at = np.array([m.C for m in iso.minima])
    a_E, a_T = counted_exponents([m.N_opt for m in iso.minima], [m.D_opt for m in iso.minima], to_ne)
    p_E, p_T = counted_exponents(*compute_optimal(a3.law, at), to_ne)
    s = a3.samples
    measured, diffs = [], []
    for i, pick in enumerate(picks):
        try:
            r = fit_isoflop(C[pick], N[pick], L[pick], D=D[pick], on_edge="drop")
        except (FitError, ValueError):
            continue
        e, t = counted_exponents([m.N_opt for m in r.minima], [m.D_opt for m in r.minima], to_ne)
        measured.append(e - t)
        with np.errstate(all="ignore"):
            n3, d3 = chinchilla_frontier(s["A"][i], s["B"][i], s["alpha"][i], s["beta"][i],
                                         np.array([m.C for m in r.minima]))
        if np.all(np.isfinite(n3)) and np.all(n3 > 0) and np.all(d3 > 0):
            pe, pt = counted_exponents(n3, d3, to_ne)
            diffs.append((e - t) - (pe - pt))
    q = [(1 - TRAINED_LEVEL) / 2, (1 + TRAINED_LEVEL) / 2]
    lo, hi = np.quantile(measured, q) if measured else (math.nan,) * 2
    d_lo, d_hi = np.quantile(diffs, q) if diffs else (math.nan,) * 2
    share = 1 - members[0].n / members[0].n_total, 1 - members[-1].n / members[-1].n_total
    claim.note(f"{len(iso.minima)} bracketed budgets; embedding share of total N {share[0]:.0%} at "
               f"N_T = {members[0].n_total:,} to {share[1]:.0%} at N_T = {members[-1].n_total:,} "
               f"({experiments.family.name}); {len(diffs)} of {tier.bootstrap_resamples} joint resamples usable "
               "(runs resampled within each budget; the IsoFLOP minima and the Approach-3 law refitted on each).")
    claim.measure("trained: a over total N (Chinchilla's count)", a_T, drift=0.1)
    claim.measure("trained: a over non-embedding N and C (Kaplan's count)", a_E, drift=0.1)
    claim.measure("trained: a_E − a_T (non-embedding minus total count)", a_E - a_T, expected=p_E - p_T,
                  drift=0.1, note=f"{TRAINED_LEVEL:.0%} interval {lo:.3f}..{hi:.3f}; expected: Pearce & Song's "
                                  f"prediction from the Approach-3 law on the same runs (a_E {p_E:.3f}, a_T {p_T:.3f})")
    claim.measure("trained: measured − predicted a_E − a_T", (a_E - a_T) - (p_E - p_T), expected=0.0, drift=0.1,
                  note=f"{TRAINED_LEVEL:.0%} joint bootstrap interval {d_lo:.3f}..{d_hi:.3f} (the IsoFLOP noise "
                       "and the Approach-3 law's uncertainty, on the same resamples): must contain 0")
    gap, explained = lo > 0, d_lo <= 0 <= d_hi
    text = (f"a_E − a_T = {a_E - a_T:.3f} ({TRAINED_LEVEL:.0%} {lo:.3f}..{hi:.3f}), predicted {p_E - p_T:.3f} "
            f"from this family's embedding share and the Approach-3 law; measured − predicted "
            f"{(a_E - a_T) - (p_E - p_T):.3f} ({TRAINED_LEVEL:.0%} {d_lo:.3f}..{d_hi:.3f})")
    if gap and explained:
        claim.verdict("reproduced", text)
    else:
        claim.verdict("inconclusive" if lo <= 0 <= hi else "not_reproduced", text)
    assert gap and explained, text


def _figure(name, C_E, N_E, C_T, N_T, a_E, a_T, local):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax1.loglog(C_E, N_E, "C3o-", ms=3, label=f"non-embedding N_E vs C_E = 6·N_E·D: fit a = {a_E:.3f}")
    ax1.loglog(C_T, N_T, "C0o-", ms=3, label=f"total N_T vs C_T = 6·N_T·D: a = {a_T:.3f}")
    ax1.axhspan(*KAPLAN_RANGE, color="grey", alpha=0.12, label="Kaplan's N range (768..1.5e9)")
    ax1.set(xlabel="training FLOPs", ylabel="compute-optimal parameters", title=f"{name}: two frontiers")
    ax1.legend(fontsize=8)
    ax2.semilogx(C_E, local, "C3-", label="local d log N_E / d log C_E")
    ax2.axhspan(*NON_EMBEDDING_BAND, color="C3", alpha=0.15, label="Pearce & Song band")
    ax2.axhline(a_T, color="C0", label="total-parameter exponent")
    ax2.set(xlabel="non-embedding FLOPs C_E", ylabel="exponent", title="local exponent")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig
