"""Hoffmann et al. 2022, §3.3 eq. 10 and App. D.2; Besiroglu et al. 2024: Approach 3 refit.

Hoffmann's procedure (Huber δ = 1e-3 on log-space residuals of the log-sum-exp form, L-BFGS
from his 4,500-start grid, best kept) applied to the 240 points Epoch extracted from Chinchilla
Fig. 4 (245 points, the 5 highest-loss dropped; tokens D = FLOP/(6N)) should land on Epoch's
estimates, within their standard errors, and the bootstrap should give standard errors of the
same size as theirs. Epoch's two findings are checked on measured numbers as well: the printed
Approach 3 parameters are far outside the intervals these data allow, and Hoffmann's optimizer
stopped early - a mean of Huber losses with L-BFGS's default tolerance stops well short of the
optimum that the sum, driven to a tight tolerance, reaches from the same starts.

The data are read from ../shared/data (never copied into the repository); the claim is
skipped with its reason where the file is absent.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import huber, logsumexp

from scaling.fit import fit_chinchilla, hoffmann_grid
from scaling.laws import CHINCHILLA_2022, CHINCHILLA_2022_UNROUNDED
from scaling.published import EPOCH_FILE, MD5, DataMissing, load_epoch_chinchilla

N_DROPPED = 5  # Besiroglu et al.: the 5 highest-loss points are dropped, 240 remain

# Besiroglu et al. 2024, the refit: (estimate, standard error).
EPOCH = {"A": (482.01, 124.52), "B": (2085.43, 1293.28), "E": (1.8172, 0.0257),
         "alpha": (0.3478, 0.0154), "beta": (0.3658, 0.0206), "a": (0.513, 0.020)}
# A bootstrap SE from B resamples has ~1/sqrt(2B) sampling error (5% at 200) and A, B have
# heavy tails; 25% is the agreement we require of our SEs with Epoch's for the same data.
SE_RELATIVE_TOLERANCE = 0.25
LEVEL = 0.95  # interval level for the printed-parameter check (two-sided)
# Epoch's early-stopping finding: plain L-BFGS on the MEAN Huber loss, default tolerance,
# from this many grid starts (seeded draw) versus our fit from the same starts.
EARLY_STOP_STARTS = {"smoke": 6, "standard": 24, "full": 96}
# "Stopped early" means an objective worse than the converged one by more than the optimizers'
# own precision (relative 1e-6 and below): 0.1% is far above that, so it cannot come from noise.
EARLY_STOP_MARGIN = 1e-3

# The decision rule, stated before looking at the data; the report prints it.
RULE = (
    "every refitted parameter and a within one of Epoch's standard errors of Epoch's estimate; "
    f"bootstrap SEs within {SE_RELATIVE_TOLERANCE:.0%} of Epoch's; Hoffmann's printed E, B and β "
    f"outside the refit's {LEVEL:.0%} intervals; L-BFGS on the mean Huber loss at default tolerance "
    f"ends more than {EARLY_STOP_MARGIN:.1%} above the converged objective"
)

pytestmark = pytest.mark.claim(
    "chinchilla-refit",
    title="Approach 3 refit: Hoffmann's procedure recovers Epoch's estimates",
    source="Hoffmann et al. 2022, §3.3, eq. 10, App. D.2; Besiroglu et al. 2024",
    quote="we model all these final losses ... as L(N, D) = E + A/N^α + B/D^β ... we minimize the "
    "Huber loss ... using the L-BFGS algorithm (Hoffmann); we find that ... the estimates are "
    "inconsistent with the data (Besiroglu et al.)",
    evidence="published-data",
    headline="a (refit)",
    rule=RULE,
)


def _load():
    try:
        pts = load_epoch_chinchilla()  # md5-checked: a different copy is an error, not a skip
    except DataMissing as e:
        pytest.skip(str(e))
    keep = np.sort(np.argsort(pts.loss)[:-N_DROPPED])
    return pts.N[keep], pts.D[keep], pts.loss[keep], MD5[EPOCH_FILE]


@pytest.fixture(scope="module")
def refit(tier):
    """The full-grid fit of the 240 points with a tier-sized pairs bootstrap."""
    N, D, L, md5 = _load()
    fit = fit_chinchilla(N, D, L, bootstrap=tier.bootstrap_resamples, level=LEVEL,
                         budgets=[5.76e23], seed=0)
    return N, D, L, md5, fit


def test_refit_lands_within_epochs_standard_errors(claim, refit):
    """Every fitted parameter and the exponent a lie within one Epoch standard error of Epoch's estimate."""
    N, D, L, md5, fit = refit
    claim.environment("chinchilla_fig4_epoch.csv md5", md5)
    claim.note(f"{fit.n_points} points, {fit.n_starts} starts; status: "
               f"{', '.join(fit.status) or 'converged, no warnings'}; R² (log) {fit.r2_log:.4f}, "
               f"RMSE (log) {fit.rmse_log:.4f}; sum of Huber losses {fit.objective:.10g}.")
    misses = []
    for name, (estimate, se) in EPOCH.items():
        got = claim.measure(f"{name} (refit)", fit.params[name], expected=estimate, tolerance=se,
                            note=f"Epoch: {estimate} ± {se}")
        if abs(got - estimate) > se:
            misses.append(f"{name}: {got:.4g} vs {estimate} ± {se}")
    tpp = fit.params["tokens_per_param@5.76e+23"]
    iv = fit.intervals["tokens_per_param@5.76e+23"]
    claim.measure("tokens/param at 5.76e23 FLOPs (refit)", tpp, unit="tokens/param",
                  note=f"{100 * LEVEL:.0f}% bootstrap interval {iv.low:.1f}..{iv.high:.1f}; Epoch: about 18")
    claim.note(f"At Chinchilla's 5.76e23 FLOPs the refit allocates N = {fit.params['N_opt@5.76e+23']:.3g}, "
               f"D = {fit.params['D_opt@5.76e+23']:.3g}: {tpp:.1f} tokens/param, but the "
               f"{100 * LEVEL:.0f}% interval {iv.low:.1f}..{iv.high:.1f} shows how loosely 240 points pin it.")
    claim.figure(_fit_figure(N, D, L, fit), "fit-and-residuals")
    assert fit.ok, fit.messages
    assert not misses, "; ".join(misses)


def test_bootstrap_standard_errors_match_epochs(claim, refit, tier):
    """Pairs-bootstrap standard errors agree with Epoch's to within 25%."""
    *_, fit = refit
    bad = []
    for name, (_, se) in EPOCH.items():
        ours = claim.measure(f"{name} bootstrap SE", fit.intervals[name].se, expected=se,
                             tolerance=SE_RELATIVE_TOLERANCE, relative=True,
                             note=f"{tier.bootstrap_resamples} resamples")
        if abs(ours / se - 1) > SE_RELATIVE_TOLERANCE:
            bad.append(f"{name}: {ours:.3g} vs {se}")
    claim.figure(_bootstrap_figure(fit), "bootstrap-distributions")
    assert not bad, "; ".join(bad)


def test_printed_approach3_parameters_are_inconsistent_with_the_data(claim, refit):
    """Hoffmann's printed E, B and beta lie outside the refit's 95% bootstrap intervals (Epoch's finding)."""
    N, D, L, _, fit = refit
    outside = []
    for name in ("E", "A", "B", "alpha", "beta"):
        printed, iv = getattr(CHINCHILLA_2022, name), fit.intervals[name]
        z = (printed - fit.params[name]) / iv.se
        claim.measure(f"printed {name}, standard errors from the refit", z, unit="SE",
                      note=f"printed {printed}; refit {fit.params[name]:.4g}, "
                           f"{100 * LEVEL:.0f}% interval {iv.low:.4g}..{iv.high:.4g}")
        if not iv.contains(printed):
            outside.append(name)
    claim.note(f"Printed Approach 3 values outside the refit's {100 * LEVEL:.0f}% intervals: "
               f"{', '.join(outside) or 'none'}.")
    rmse = {law_name: float(np.sqrt(np.mean((np.log(law.predict(N, D)) - np.log(L)) ** 2)))
            for law_name, law in (("printed", CHINCHILLA_2022), ("unrounded", CHINCHILLA_2022_UNROUNDED))}
    for law_name, v in rmse.items():
        claim.measure(f"log-space RMSE of the {law_name} law on the 240 points", v,
                      note=f"the refit's own: {fit.rmse_log:.4f}")
    assert {"E", "B", "beta"} <= set(outside)
    assert fit.rmse_log < min(rmse.values())


def test_mean_huber_with_default_tolerance_stops_early(claim, tier):
    """From the same grid starts, L-BFGS on the mean Huber loss at default tolerance ends above the sum's optimum."""
    N, D, L, _ = _load()
    grid = hoffmann_grid()
    starts = grid[np.random.default_rng(0).choice(len(grid), EARLY_STOP_STARTS[tier.name], replace=False)]
    lN, lD, lL = np.log(N), np.log(D), np.log(L)

    def huber_sum(p):
        a, b, e, alpha, beta = p
        pred = logsumexp([a - alpha * lN, b - beta * lD, np.full_like(lN, e)], axis=0)
        return huber(1e-3, pred - lL).sum()

    plain = [minimize(lambda p: huber_sum(p) / lN.size, s, method="L-BFGS-B") for s in starts]
    best_plain = min(plain, key=lambda r: r.fun)
    ours = fit_chinchilla(N, D, L, starts=starts)
    excess = claim.measure("mean-Huber L-BFGS objective / converged objective",
                           huber_sum(best_plain.x) / ours.objective, expected=1.0,
                           note=f"best of {len(starts)} grid starts each; plain L-BFGS-B stopped with "
                                f"'{best_plain.message}' at alpha={best_plain.x[3]:.3f}, "
                                f"beta={best_plain.x[4]:.3f}; ours: alpha={ours.law.alpha:.4f}, "
                                f"beta={ours.law.beta:.4f}")
    assert excess > 1.0 + EARLY_STOP_MARGIN


def _fit_figure(N, D, L, fit):
    pred = fit.law.predict(N, D)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    C = 6 * N * D
    sc = ax1.scatter(C, L, c=np.log10(N), s=12, cmap="viridis", label="Fig. 4 points (Epoch)")
    ax1.scatter(C, pred, s=6, marker="x", c="k", label="refit")
    ax1.set(xscale="log", xlabel="training FLOPs (6ND)", ylabel="loss (nats/token)",
            title=f"E={fit.law.E:.3f}, A={fit.law.A:.0f}, B={fit.law.B:.0f}, "
                  f"α={fit.law.alpha:.3f}, β={fit.law.beta:.3f}")
    fig.colorbar(sc, ax=ax1, label="log10 N")
    ax1.legend(fontsize=8)
    ax2.scatter(N, fit.residuals, s=10, c=np.log10(D), cmap="plasma")
    ax2.axhline(0, color="k", lw=0.8)
    ax2.axhspan(-1e-3, 1e-3, color="grey", alpha=0.3, label="Huber δ")
    ax2.set(xscale="log", xlabel="parameters N", ylabel="log L − log L̂",
            title=f"residuals (RMSE {fit.rmse_log:.4f})")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _bootstrap_figure(fit):
    names = ("E", "alpha", "beta", "a")
    fig, axes = plt.subplots(1, len(names), figsize=(13, 3.2))
    for ax, name in zip(axes, names):
        s = fit.samples[name]
        ax.hist(s[np.isfinite(s)], bins=40, color="C0", alpha=0.7)
        est, se = EPOCH[name]
        ax.axvline(est, color="C3", label="Epoch ± SE")
        ax.axvspan(est - se, est + se, color="C3", alpha=0.15)
        ax.axvline(fit.params[name], color="k", ls="--", label="refit")
        if name in ("E", "alpha", "beta"):
            ax.axvline(getattr(CHINCHILLA_2022, name), color="C2", ls=":", label="printed")
        ax.set_title(name)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
