"""Hoffmann et al. 2022, Table 3 and §4: compute-optimal training uses about 20 tokens per parameter.

Table 3 (Approach 1 projections) lists, for nine model sizes, the FLOPs and tokens of the
compute-optimal run; each row should spend its budget (6ND = C, to the printed digits) at 20-22
tokens per parameter. Approach 3 (eq. 10) gives a closed-form frontier (eq. 4): with the
digits of the paper's TeX source it should land on Table A3's row (400M params, 9.2B tokens at
2.21e19 FLOPs); with the rounded printed parameters it should not, and we report by how much.
Epoch's refit (Besiroglu et al. 2024) allocates about 72B params and 1.33T tokens at
Chinchilla's 5.76e23 FLOPs: about 18 tokens per parameter.
"""

from __future__ import annotations


import matplotlib.pyplot as plt
import numpy as np
import pytest

from scaling.laws import CHINCHILLA_2022, CHINCHILLA_2022_UNROUNDED, EPOCH_2024
from scaling.optimal import compute_optimal

# Table 3: (label, params, printed digits of params), FLOPs, tokens, each with the unit of its
# last printed digit (half of it is the rounding the row can carry).
TABLE3 = [
    ("400M", 400e6, 1e6, 1.92e19, 0.01e19, 8.0e9, 0.1e9),
    ("1B", 1e9, 0.1e9, 1.21e20, 0.01e20, 20.2e9, 0.1e9),
    ("10B", 10e9, 1e9, 1.23e22, 0.01e22, 205.1e9, 0.1e9),
    ("67B", 67e9, 1e9, 5.76e23, 0.01e23, 1.5e12, 0.1e12),
    ("175B", 175e9, 1e9, 3.85e24, 0.01e24, 3.7e12, 0.1e12),
    ("280B", 280e9, 1e9, 9.90e24, 0.01e24, 5.9e12, 0.1e12),
    ("520B", 520e9, 1e9, 3.43e25, 0.01e25, 11.0e12, 0.1e12),
    ("1T", 1e12, 0.1e12, 1.27e26, 0.01e26, 21.2e12, 0.1e12),
    ("10T", 10e12, 1e12, 1.30e28, 0.01e28, 216.2e12, 0.1e12),
]
# Rows whose printed tokens do not give 6ND = C within the printed rounding, with the reason:
# asserted to stay inconsistent so that a corrected transcription is noticed.
INCONSISTENT = {"67B": "1.5T printed; C/(6N) = 1.43T, which prints as 1.4T"}
# §4 and Table 3: tokens per parameter along the Approach 1 frontier.
TOKENS_PER_PARAM_RANGE = (20.0, 22.0)

# Table A3, Approach 3 row for 400M params.
A3_FLOPS, A3_PARAMS, A3_TOKENS = 2.21e19, 400e6, 9.2e9
# The paper gives no error for Table A3; 5% is the gap we accept between a law's frontier and
# the row ("the same law, up to digits not printed"). Both gaps are reported as measured.
A3_TOLERANCE = 0.05
# Besiroglu et al. 2024: "about 72B params and 1.33T tokens ... about 18 tokens/param".
EPOCH_N, EPOCH_D, EPOCH_TPP = 72e9, 1.33e12, 18.0
EPOCH_TOLERANCE_TPP = 0.5  # "about 18": rounding to the nearest integer
EPOCH_TOLERANCE_ND = 0.01  # relative: 72B and 1.33T are printed to 2-3 significant figures
CHINCHILLA_FLOPS = 5.76e23  # Gopher's budget, Chinchilla's (Table 3, §4)

# The decision rule, stated before looking at the data; the report prints it.
RULE = (
    "every Table 3 row spends its budget (6ND = C within its printed rounding; rows listed in "
    f"INCONSISTENT must miss it) at {TOKENS_PER_PARAM_RANGE[0]:g}-{TOKENS_PER_PARAM_RANGE[1]:g} tokens "
    f"per parameter; the TeX-digit law lands on Table A3 within {A3_TOLERANCE:.0%} and the printed "
    f"law misses it by more; Epoch's law gives {EPOCH_TPP:g} ± {EPOCH_TOLERANCE_TPP:g} tokens per "
    f"parameter, N and D within {EPOCH_TOLERANCE_ND:.0%}"
)

pytestmark = pytest.mark.claim(
    "tokens-per-param-20",
    title="Compute-optimal training uses about 20 tokens per parameter",
    source="Hoffmann et al. 2022, Table 3, Table A3, §4; Besiroglu et al. 2024",
    quote="for every doubling of model size the number of training tokens should also be doubled",
    evidence="published-numbers",
    headline="Table 3 67B: tokens/param from C/(6N^2)",
    rule=RULE,
)


@pytest.mark.parametrize("row", TABLE3, ids=[r[0] for r in TABLE3])
def test_table3_row_spends_its_budget_at_20_to_22_tokens_per_param(claim, row):
    """6·N·D equals the printed FLOPs within the row's rounding, and C/(6N²) lies in 20-22."""
    label, N, dN, C, dC, D, dD = row
    gap = claim.measure(f"Table 3 {label}: 6ND/C - 1", 6 * N * D / C - 1,
                        note=f"6·{N:.3g}·{D:.3g} = {6 * N * D:.4g} vs C = {C:.3g}")
    rounding = 0.5 * (dN / N + dD / D + dC / C)  # first-order error of the printed digits
    tpp = claim.measure(f"Table 3 {label}: tokens/param from C/(6N^2)", C / (6 * N * N),
                        expected=21.0, tolerance=1.0, unit="tokens/param")
    assert TOKENS_PER_PARAM_RANGE[0] <= tpp <= TOKENS_PER_PARAM_RANGE[1]
    if label in INCONSISTENT:
        claim.note(f"Table 3 row {label}: 6ND misses C by {100 * gap:.1f}%, past the "
                   f"{100 * rounding:.1f}% its printed digits allow ({INCONSISTENT[label]}).")
        assert abs(gap) > rounding
    else:
        assert abs(gap) <= rounding


def test_unrounded_approach3_law_lands_on_table_a3(claim):
    """The eq. 10 law with its TeX-source digits gives ~400M params and ~9.2B tokens at 2.21e19 FLOPs."""
    N, D = _a3_measurements(claim, "unrounded", CHINCHILLA_2022_UNROUNDED)
    claim.note(f"The TeX-source digits land {100 * (N / A3_PARAMS - 1):+.1f}% in N and "
               f"{100 * (D / A3_TOKENS - 1):+.1f}% in D from Table A3: close, not exact.")
    assert abs(N / A3_PARAMS - 1) <= A3_TOLERANCE
    assert abs(D / A3_TOKENS - 1) <= A3_TOLERANCE


def test_rounded_printed_law_misses_table_a3(claim):
    """The printed, rounded eq. 10 law misses Table A3 by more than the tolerance (reported by how much)."""
    N, D = _a3_measurements(claim, "printed", CHINCHILLA_2022)
    claim.note(f"The printed (rounded) parameters miss Table A3 by {100 * (N / A3_PARAMS - 1):+.1f}% "
               f"in N and {100 * (D / A3_TOKENS - 1):+.1f}% in D: rounding alpha and beta to two "
               "digits moves the frontier exponent and its constant G.")
    assert abs(N / A3_PARAMS - 1) > A3_TOLERANCE
    assert abs(D / A3_TOKENS - 1) > A3_TOLERANCE


def _a3_measurements(claim, name, law):
    N, D = compute_optimal(law, A3_FLOPS)
    claim.measure(f"{name} law: N_opt at 2.21e19", N, expected=A3_PARAMS, tolerance=A3_TOLERANCE,
                  relative=True, unit="params")
    claim.measure(f"{name} law: D_opt at 2.21e19", D, expected=A3_TOKENS, tolerance=A3_TOLERANCE,
                  relative=True, unit="tokens")
    claim.measure(f"{name} law: tokens/param at 2.21e19", D / N, expected=A3_TOKENS / A3_PARAMS,
                  unit="tokens/param")
    return N, D


def test_epoch_law_gives_about_18_tokens_per_param(claim):
    """Epoch's refit allocates ~72B params and ~1.33T tokens, ~18 tokens/param, at 5.76e23 FLOPs."""
    N, D = compute_optimal(EPOCH_2024, CHINCHILLA_FLOPS)
    claim.measure("Epoch law: N_opt at 5.76e23", N, expected=EPOCH_N, tolerance=EPOCH_TOLERANCE_ND,
                  relative=True, unit="params")
    claim.measure("Epoch law: D_opt at 5.76e23", D, expected=EPOCH_D, tolerance=EPOCH_TOLERANCE_ND,
                  relative=True, unit="tokens")
    tpp = claim.measure("Epoch law: tokens/param at 5.76e23", D / N, expected=EPOCH_TPP,
                        tolerance=EPOCH_TOLERANCE_TPP, unit="tokens/param")
    for name, law in (("printed", CHINCHILLA_2022), ("unrounded", CHINCHILLA_2022_UNROUNDED)):
        n, d = compute_optimal(law, CHINCHILLA_FLOPS)
        claim.measure(f"{name} Approach 3 law: tokens/param at 5.76e23", d / n, unit="tokens/param",
                      note="Approach 3 itself is far from Approach 1's ~20 at this budget")
    claim.figure(_frontier_figure(), "tokens-per-param")
    assert abs(N / EPOCH_N - 1) <= EPOCH_TOLERANCE_ND
    assert abs(D / EPOCH_D - 1) <= EPOCH_TOLERANCE_ND
    assert abs(tpp - EPOCH_TPP) <= EPOCH_TOLERANCE_TPP


def _frontier_figure():
    C = np.logspace(18, 28, 200)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, law, style in (("Approach 3, printed", CHINCHILLA_2022, "C1--"),
                             ("Approach 3, TeX digits", CHINCHILLA_2022_UNROUNDED, "C1-"),
                             ("Epoch 2024 refit", EPOCH_2024, "C0-")):
        N, D = compute_optimal(law, C)
        ax.plot(C, D / N, style, label=name)
    ax.scatter([r[3] for r in TABLE3], [r[3] / (6 * r[1] ** 2) for r in TABLE3], c="k", zorder=3,
               label="Table 3 (Approach 1), C/(6N²)")
    ax.scatter([A3_FLOPS], [A3_TOKENS / A3_PARAMS], marker="*", s=120, c="C3", zorder=3,
               label="Table A3, Approach 3, 400M")
    ax.axhspan(*TOKENS_PER_PARAM_RANGE, color="grey", alpha=0.2)
    ax.axvline(CHINCHILLA_FLOPS, color="grey", lw=0.8, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="training FLOPs C = 6ND", ylabel="tokens per parameter",
           title="Compute-optimal tokens per parameter")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
