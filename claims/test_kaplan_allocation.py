"""Kaplan et al. 2020, eq. 6.1 and Table 6: compute-efficient training puts N_opt ∝ C^0.73.

Table 6 gives the compute-efficient frontier as three power laws in C_min (PF-days):
N = 1.3e9·C^0.73, B = 2.0e6·C^0.24, S = 5.4e3·C^0.03; their product must spend the budget,
6·N·B·S = C (Kaplan §2.1, C = 6NBS), which fixes both the exponent sum and the constant up to
the printed digits. The exponent is then derived three other ways from Kaplan's own constants:
from L(N) and L(C_min) (eqs 1.1, 1.3: N ∝ C^(α_C/α_N)), from α_S, α_B and α_N (§6.1:
α_C = 1/(1/α_S + 1/α_B + 1/α_N)), and from the joint L(N, D) of eq. 1.5 (Table 2), whose
compute-optimal frontier under C = 6ND is found numerically and by simulated IsoFLOP curves.
Every Kaplan route must lie above every Chinchilla-form estimate of a (Hoffmann Table 2,
Approach 3 printed and unrounded, Epoch's refit): the gap the chinchilla-gap claim explains.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from scaling.laws import (
    CHINCHILLA_2022,
    CHINCHILLA_2022_UNROUNDED,
    EPOCH_2024,
    KAPLAN_2020,
    KAPLAN_2020_CMIN,
    KAPLAN_2020_N,
)
from scaling.optimal import allocation_exponents, compute_optimal, fit_isoflop

PF_DAY = 8.64e19  # FLOPs (Kaplan §1.3)
# Table 6, C_min in PF-days: (constant, exponent) for N (params), B (tokens), S (steps).
TABLE6 = {"N": (1.3e9, 0.73), "B": (2.0e6, 0.24), "S": (5.4e3, 0.03)}
# Kaplan et al. 2020 §5-6 (B_crit: eq. 1.4): alpha_S and alpha_B of L(N, S) and B_crit(L).
ALPHA_S, ALPHA_B = 0.76, 0.21
HOFFMANN_QUOTE_A = 0.73  # Hoffmann Table 2, the "Kaplan et al. (2020)" row
# Hoffmann Table 2, 10th-90th percentile intervals of a (Approaches 1, 2, 3).
CHINCHILLA_A_INTERVALS = {"Approach 1": (0.488, 0.502), "Approach 2": (0.462, 0.534),
                          "Approach 3": (0.454, 0.455)}
EPOCH_A = (0.513, 0.020)  # Besiroglu et al. 2024: estimate and standard error
# Rounding of the printed digits: each exponent ±0.005, so the sum of three ±0.015; the
# constants 1.3e9, 2.0e6, 5.4e3 carry ±3.8%, ±2.5%, ±0.9% (sum 7.2%).
EXPONENT_SUM_TOLERANCE = 0.015
CONSTANT_TOLERANCE = 0.072
ISOFLOP_BUDGETS = {"smoke": 4, "standard": 8, "full": 16}

# The decision rule, stated before looking at the data; the report prints it.
RULE = (
    f"Table 6's exponents sum to 1 within ±{EXPONENT_SUM_TOLERANCE:g} and 6·N·B·S is one PF-day "
    f"within {CONSTANT_TOLERANCE:.1%} (the printed digits); every route from Kaplan's constants gives "
    "an a above every Chinchilla-form estimate and interval top (the difference is positive)"
)

pytestmark = pytest.mark.claim(
    "kaplan-allocation",
    title="Kaplan: N_opt ∝ C^0.73",
    source="Kaplan et al. 2020, eq. 6.1, Table 6, §6.1; Hoffmann et al. 2022, Table 2",
    quote="N ∝ C_min^0.73, B ∝ C_min^0.24, and S ∝ C_min^0.03",
    evidence="published-numbers",
    headline="lowest Kaplan route minus highest Chinchilla a (incl. interval tops)",
    rule=RULE,
)


def test_table6_spends_the_budget(claim):
    """The Table 6 laws multiply to C = 6·N·B·S: exponents sum to 1 and the constant is one PF-day."""
    exponent_sum = claim.measure("Table 6: sum of N, B, S exponents", sum(e for _, e in TABLE6.values()),
                                 expected=1.0, tolerance=EXPONENT_SUM_TOLERANCE)
    ratio = claim.measure("Table 6: 6·N·B·S / C at C = 1 PF-day",
                          6 * math.prod(k for k, _ in TABLE6.values()) / PF_DAY, expected=1.0,
                          tolerance=CONSTANT_TOLERANCE, relative=True)
    claim.note(f"Kaplan's Table 6 N exponent is {TABLE6['N'][1]}; Hoffmann Table 2 quotes Kaplan's "
               f"a as {HOFFMANN_QUOTE_A} (and b as 0.27).")
    assert abs(exponent_sum - 1) <= EXPONENT_SUM_TOLERANCE
    assert abs(ratio - 1) <= CONSTANT_TOLERANCE


def test_kaplan_routes_all_lie_above_chinchillas_a(claim, tier):
    """Every route from Kaplan's constants gives a larger a than every Chinchilla-form estimate and interval top."""
    routes = {
        "Table 6 (eq. 6.1)": TABLE6["N"][1],
        "alpha_C/alpha_N from L(C_min), L(N) (eqs 1.1, 1.3)": KAPLAN_2020_CMIN.alpha / KAPLAN_2020_N.alpha,
        "1/(1/alpha_S+1/alpha_B+1/alpha_N)/alpha_N (§6.1)":
            1 / (1 / ALPHA_S + 1 / ALPHA_B + 1 / KAPLAN_2020_N.alpha) / KAPLAN_2020_N.alpha,
        "L(N, D) eq. 1.5 frontier under C = 6ND (numeric)": allocation_exponents(KAPLAN_2020, C=1e21)[0],
    }
    budgets = np.logspace(17, 23, ISOFLOP_BUDGETS[tier.name])
    iso = _kaplan_isoflop(budgets)
    routes["L(N, D) eq. 1.5, IsoFLOP parabolas on simulated losses"] = iso.a
    for name, a in routes.items():
        claim.measure(f"Kaplan a: {name}", a, expected=HOFFMANN_QUOTE_A)
    chinchilla = {
        "Approach 3 printed (eq. 10)": allocation_exponents(CHINCHILLA_2022)[0],
        "Approach 3 TeX digits": allocation_exponents(CHINCHILLA_2022_UNROUNDED)[0],
        "Epoch 2024 refit": allocation_exponents(EPOCH_2024)[0],
    }
    for name, a in chinchilla.items():
        claim.measure(f"Chinchilla a: {name}", a, expected=0.5)
    ceiling = max([*chinchilla.values(), EPOCH_A[0] + 2 * EPOCH_A[1],
                   *(hi for _, hi in CHINCHILLA_A_INTERVALS.values())])
    floor = min(routes.values())
    claim.measure("lowest Kaplan route minus highest Chinchilla a (incl. interval tops)", floor - ceiling)
    claim.note("Kaplan's fitted 0.73 (Table 6) is not what his converged L(N, D) implies "
               f"({routes['L(N, D) eq. 1.5 frontier under C = 6ND (numeric)']:.3f}): his frontier "
               "was measured on early-stopped runs (C_min) with non-embedding N; the chinchilla-gap "
               "claim shows the counting convention alone moves a from ~0.5 to ~0.75 at his scale.")
    claim.figure(_figure(routes, chinchilla), "frontiers")
    assert floor > ceiling


def _kaplan_isoflop(budgets):
    C, N = [], []
    for c in budgets:
        n_opt, _ = compute_optimal(KAPLAN_2020, c)
        for n in n_opt * np.logspace(-0.6, 0.6, 9):
            C.append(c)
            N.append(n)
    C, N = np.array(C), np.array(N)
    return fit_isoflop(C, N, KAPLAN_2020.predict(N, C / (6 * N)))


def _figure(routes, chinchilla):
    C = np.logspace(18, 26, 100)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    k, e = TABLE6["N"]
    ax.plot(C, k * (C / PF_DAY) ** e, "C3-", label=f"Kaplan Table 6: N ∝ C^{e}")
    ax.plot(C, compute_optimal(KAPLAN_2020, C)[0], "C3--",
            label=f"Kaplan L(N,D) eq 1.5 frontier: C^{routes['L(N, D) eq. 1.5 frontier under C = 6ND (numeric)']:.3f}")
    for (name, law), style in zip((("Approach 3 TeX digits", CHINCHILLA_2022_UNROUNDED),
                                   ("Epoch 2024 refit", EPOCH_2024)), ("C1-", "C0-")):
        ax.plot(C, compute_optimal(law, C)[0], style, label=f"{name}: C^{chinchilla[name]:.3f}")
    ax.set(xscale="log", yscale="log", xlabel="training FLOPs C", ylabel="compute-optimal N",
           title="Compute-optimal model size: Kaplan vs Chinchilla")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
