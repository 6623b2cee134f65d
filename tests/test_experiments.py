"""Tests for scaling.experiments: the claims' grids (planned, not trained) and their summaries."""

import math
from dataclasses import dataclass

import numpy as np
import pytest

from scaling.experiments import (
    EMERGENCE,
    ISOFLOP_GRID,
    KAPLAN_SWEEP,
    budget_tier,
    by_size,
    emergence_jobs,
    isoflop_jobs,
    kaplan_jobs,
)
from scaling.family import default_model_family
from scaling.race import STRATEGIES, race_jobs
from scaling.fit.replicates import SizeStats, fit_power_law_weighted, lack_of_fit, noise_model, seed_noise
from scaling.schedule import default_lr
from scaling.sweep import job_keys


def default_rule(n, tokens):
    """The trainer's default rate as an LR(N, D) rule (the grids' plans do not depend on the rate)."""
    return default_lr(n)


TIERS = ("smoke", "standard", "full")


def test_standard_means_full_on_cuda_only():
    """On CUDA the standard tier runs the full budgets; smoke stays smoke everywhere."""
    assert budget_tier("standard", "cuda") == "full"
    assert budget_tier("standard", "cuda:1") == "full"
    assert budget_tier("standard", "cpu") == "standard"
    assert budget_tier("smoke", "cuda") == "smoke"
    assert budget_tier("full", "cpu") == "full"


@pytest.mark.parametrize("tier", TIERS)
def test_kaplan_plan_meets_the_claim_minimums(tier):
    """Every tier's sweep has >=6 sizes over >=1.5 decades, each at >=3 token budgets, the largest
    every size with every seed at the largest budget and seed 0 elsewhere."""
    plan, pairs = kaplan_jobs(default_model_family(), "synthetic", tier, 3, "cpu", default_rule)
    ns = sorted({m.n for m, _ in pairs})
    assert len(ns) >= 6 and math.log10(ns[-1] / ns[0]) >= 1.5
    assert len(plan.budgets) >= 3 and plan.budgets[-1] == plan.tokens
    seeds = {}
    for m, job in pairs:
        seeds.setdefault((m.n, job.settings.tokens), set()).add(job.settings.seed)
    assert set(seeds) == {(n, b) for n in ns for b in plan.budgets}
    assert all(seeds[(n, plan.tokens)] == {0, 1, 2} for n in ns)
    assert all(v == {0} for (n, b), v in seeds.items() if b != plan.tokens)


@pytest.mark.parametrize("tier", TIERS)
def test_isoflop_plan_spends_each_budget(tier):
    """Every tier's IsoFLOP grid has >=3 budgets x >=5 sizes, each run spending C = 6·N_total·D."""
    grid, budgets, pairs = isoflop_jobs(default_model_family(), "synthetic", tier, "cpu", default_rule)
    assert len(grid.budgets) >= 3 and grid.sizes >= 5
    for C in grid.budgets:
        runs = [(m, j) for (m, j), c in zip(pairs, budgets) if c == C]
        assert len(runs) == grid.sizes
        for m, job in runs:
            spent = 6 * m.n_total * job.settings.tokens
            assert C * 0.999 <= spent + 6 * m.n_total <= C * 1.001  # D rounded down to an integer
            assert job.settings.seed == 0


def test_race_places_strategies_around_the_measured_optimum():
    """Each budget's race: balanced nearest N_opt, the rivals ~2x smaller and larger (4x in D/N), paired seeds."""
    fam = default_model_family()
    grid = ISOFLOP_GRID["smoke"]
    optima = {C: grid.centre(C) for C in grid.budgets}
    plan = race_jobs(fam, "synthetic", "smoke", 2, "cpu", optima, default_rule)
    assert {C for C, *_ in plan} == set(grid.budgets) and len(plan) == len(grid.budgets) * 3 * 2
    for C in grid.budgets:
        n = {name: m.n_total for c, name, m, _ in plan if c == C}
        assert list(n) == list(STRATEGIES)
        assert n["small-overtrained"] < n["balanced"] < n["big-undertrained"]
        assert 1.3 < n["big-undertrained"] / n["balanced"] < 3.2 and 1.3 < n["balanced"] / n["small-overtrained"] < 3.2
        seeds = {name: sorted(j.settings.seed for c, nm, _, j in plan if c == C and nm == name) for name in n}
        assert all(v == [0, 1] for v in seeds.values())


def test_extrapolation_and_sweep_share_jobs_across_calls():
    """Planning the sweep twice gives identical run keys (what lets extrapolation reuse it)."""
    fam = default_model_family()
    a = job_keys([j for _, j in kaplan_jobs(fam, "synthetic", "smoke", 2, "cpu", default_rule)[1]])
    b = job_keys([j for _, j in kaplan_jobs(fam, "synthetic", "smoke", 2, "cpu", default_rule)[1]])
    assert a == b and len(set(a)) == len(a)


@pytest.mark.parametrize("tier", TIERS)
def test_emergence_plan_has_six_sizes(tier):
    """The emergence sweep trains >=6 sizes on the addition task, each with >=3 seeds."""
    plan, pairs = emergence_jobs(default_model_family(), tier, "cpu", default_rule)
    assert all(j.source_spec == plan.task == EMERGENCE[tier].task for _, j in pairs)
    sizes = {m for m, _ in pairs}
    assert len(sizes) >= 6 and plan.seeds >= 3
    assert all(sorted(j.settings.seed for m, j in pairs if m == s) == list(range(plan.seeds)) for s in sizes)


def test_plans_follow_the_device():
    """Jobs carry the device, and on CUDA the standard tier plans the full budgets."""
    plan, pairs = kaplan_jobs(default_model_family(), "synthetic", "standard", 2, "cuda", default_rule)
    assert plan == KAPLAN_SWEEP["full"]
    assert {j.settings.device for _, j in pairs} == {"cuda"}


def test_jobs_train_at_the_given_rule():
    """Every grid's runs carry the peak rate its rule gives for their non-embedding N and run length."""
    rule = lambda n, d: round(1e-2 * (n / 1e4) ** -0.5 * (d / 1e6) ** -0.2, 6)  # noqa: E731
    _, pairs = kaplan_jobs(default_model_family(), "synthetic", "smoke", 2, "cpu", rule)
    _, _, iso = isoflop_jobs(default_model_family(), "synthetic", "smoke", "cpu", rule)
    _, task = emergence_jobs(default_model_family(), "smoke", "cpu", rule)
    assert all(j.settings.lr == rule(m.n, j.settings.tokens) for m, j in pairs + iso + task)


def _stats(losses_by_size):
    fam = default_model_family()
    members = fam.members([8, 12, 16, 24, 32, 48][:len(losses_by_size)], n_ctx=32, vocab_size=64)
    return [SizeStats(m, tuple(v)) for m, v in zip(members, losses_by_size)]


def test_by_size_groups_seeds_and_sorts_by_n():
    """by_size groups runs of one member over seeds, smallest N first."""
    from scaling.experiments import Trained

    class FakeRun:
        def __init__(self, loss):
            self.eval_loss = loss

    fam = default_model_family()
    big, small = fam.members([32, 8], n_ctx=32, vocab_size=64)
    trained = [Trained(big, FakeRun(1.0), 0), Trained(small, FakeRun(2.0), 0), Trained(big, FakeRun(1.2), 1)]
    stats = by_size(trained)
    assert [s.member for s in stats] == [small, big]
    assert stats[1].losses == (1.0, 1.2) and math.isclose(stats[1].mean, 1.1)
    assert math.isnan(stats[0].std)


def test_seed_noise_pools_replicated_sizes():
    """The pooled std weights each replicated size by its degrees of freedom."""
    stats = _stats([[2.0], [1.0, 1.2], [0.5, 0.5, 0.8]])
    sd, dof = seed_noise(stats)
    want = math.sqrt((1 * np.var([1.0, 1.2], ddof=1) + 2 * np.var([0.5, 0.5, 0.8], ddof=1)) / 3)
    assert dof == 3 and math.isclose(sd, want)
    assert seed_noise(stats[:1]) == (pytest.approx(float("nan"), nan_ok=True), 0)


def test_lack_of_fit_accepts_the_truth_and_rejects_a_bent_curve():
    """The F test does not reject the law that generated the data, and rejects a systematic miss."""
    rng = np.random.default_rng(0)
    truth = np.array([2.0, 1.6, 1.4, 1.25, 1.15, 1.1])
    noisy = [list(t * np.exp(rng.normal(0, 0.003, 3))) for t in truth]
    assert lack_of_fit(_stats(noisy), truth).p_value > 0.01
    bent = truth * np.exp(np.array([0.03, -0.03, 0.03, -0.03, 0.03, -0.03]))
    assert lack_of_fit(_stats(noisy), bent).p_value < 1e-6


def test_lack_of_fit_needs_replicates():
    """Without replicated seeds there is no pure error, and the test says so."""
    with pytest.raises(ValueError, match="replicated seeds"):
        lack_of_fit(_stats([[2.0], [1.5], [1.2], [1.1]]), [2.0, 1.5, 1.2, 1.1])


@dataclass(frozen=True)
class _Size:
    n: int


_SWEEP_N = np.round(np.logspace(3, 5, 7)).astype(int)


def _noisy_sweep(rng, seeds=3, miss_in_se=0.0):
    """Seeds of L = 0.7 + (300/N)^0.5 with log-noise std 0.012·(N/1e3)^-0.5 (quieter as N grows, as
    measured), the second-largest size shifted by `miss_in_se` of its own seed SE."""
    out = []
    for i, n in enumerate(_SWEEP_N):
        sd = 0.012 * (n / 1e3) ** -0.5
        shift = miss_in_se * sd / math.sqrt(seeds) if i == len(_SWEEP_N) - 2 else 0.0
        out.append(SizeStats(_Size(int(n)), tuple((0.7 + (300 / n) ** 0.5) * np.exp(shift + rng.normal(0, sd, seeds)))))
    return out


def test_noise_model_recovers_a_planted_trend():
    """With many seeds, the fitted std(log L) = c·N^γ recovers γ = -0.5 and the std at N = 1e3."""
    trend = noise_model(_noisy_sweep(np.random.default_rng(3), seeds=40))
    assert trend.slope_fitted and trend.dof == 7 * 39
    assert trend.slope == pytest.approx(-0.5, abs=0.1)
    assert float(trend.sigma(1e3)) == pytest.approx(0.012, rel=0.15)


def test_noise_model_pools_below_three_replicated_sizes_and_names_bad_input():
    """Two replicated sizes give a pooled (flat) noise; no replicates, or identical seeds, are ValueErrors."""
    stats = _stats([[2.0], [1.0, 1.2], [0.5, 0.55, 0.6]])
    trend = noise_model(stats)
    assert not trend.slope_fitted and trend.slope == 0.0 and trend.dof == 3
    with pytest.raises(ValueError, match="two or more seeds"):
        noise_model(_stats([[2.0], [1.5]]))
    with pytest.raises(ValueError, match="identical losses"):
        noise_model(_stats([[2.0, 2.0], [1.5, 1.6]]))


def test_weighted_lack_of_fit_judges_each_size_by_its_own_noise():
    """Over 40 simulated sweeps whose seed noise falls with N: the weighted test rarely rejects the true
    law (at most 2 of 40 at the 1% level), and catches a 5-SE miss at a quiet size at least twice as
    often as a test that pools the noise (which judges that size by the noisy sizes' scatter)."""
    rng = np.random.default_rng(0)
    false_alarms = caught_weighted = caught_pooled = 0
    for _ in range(40):
        for miss in (0.0, 5.0):
            stats = _noisy_sweep(rng, miss_in_se=miss)
            trend = noise_model(stats)
            e, nc, a = fit_power_law_weighted(stats, trend, (0.7, 300.0, 0.5))
            predicted = e + (nc / _SWEEP_N) ** a
            weighted = lack_of_fit(stats, predicted, noise=trend).p_value < 0.01
            if miss:
                caught_weighted += weighted
                caught_pooled += lack_of_fit(stats, predicted).p_value < 0.01
            else:
                false_alarms += weighted
    assert false_alarms <= 2  # 0.4 expected at the 1% level
    assert caught_weighted >= 2 * caught_pooled and caught_weighted >= 12


def test_isoflop_grid_extends_until_each_minimum_is_bracketed(monkeypatch, tmp_path):
    """A budget whose lowest loss is at its largest size gets larger sizes until the minimum is inside."""
    import scaling.experiments as ex

    fam = default_model_family()
    grid = ex.ISOFLOP_GRID["smoke"]
    optimum = {C: grid.centre(C) * grid.spread * 2.5 for C in grid.budgets}  # above every grid

    def fake_train_all(pairs, store_path, device):
        out = []
        for m, job in pairs:
            C = next(c for c in grid.budgets if abs(6 * m.n_total * job.settings.tokens - c) < 0.01 * c)
            loss = 1.0 + (math.log(m.n_total) - math.log(optimum[C])) ** 2
            out.append(ex.Trained(m, type("R", (), {"eval_loss": loss, "params": {"total": m.n_total}})(), 0))
        return out, len(out)

    monkeypatch.setattr(ex, "train_all", fake_train_all)
    _, runs, _ = ex.isoflop_grid(fam, "synthetic", "smoke", "cpu", tmp_path / "runs.sqlite", default_rule)
    for C in grid.budgets:
        at = sorted((t for c, t in runs if c == C), key=lambda t: t.n_total)
        assert len(at) <= grid.sizes + grid.max_extension
        best = min(range(len(at)), key=lambda i: at[i].loss)
        assert 0 < best < len(at) - 1
    assert len(runs) > len(grid.budgets) * grid.sizes


def test_noise_model_corrects_log_std_for_unequal_seeds():
    """Flat noise with 12 seeds at the 4 smaller sizes and 2 at the 4 larger gives a slope near 0: log s
    is biased low the more the fewer its seeds (by 0.64 at 2 seeds), and the model corrects it;
    uncorrected, the 2-seed sizes read as quieter and the trend tilts (slope about -0.13)."""
    rng = np.random.default_rng(7)
    slopes = [noise_model([SizeStats(_Size(int(n)), tuple(np.exp(rng.normal(0, 0.01, 12 if i < 4 else 2))))
                           for i, n in enumerate(np.logspace(3, 5, 8))]).slope for _ in range(30)]
    assert abs(np.mean(slopes)) < 0.05
