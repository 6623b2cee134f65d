"""Tests for scaling.tuning and the session object's use of it: one LR search per setup, used by its grids."""

import math
from types import SimpleNamespace

import pytest

import scaling.experiments as ex
import scaling.tuning as tuning
from scaling.family import default_model_family
from scaling.lr_search import LRRule
from scaling.trained import Experiments


def truth(n, tokens):
    """A planted LR*(N, D) for the fake trainer."""
    return 0.02 * (n / 1e4) ** -0.4 * (tokens / 1e5) ** -0.1


def fake_runs(calls):
    """A train_all that records its jobs and returns a parabola in log lr around truth(N)."""
    def train_all(pairs, store_path, device):
        calls.append(pairs)
        out = []
        for m, job in pairs:
            loss = 1.0 + (math.log(job.settings.lr) - math.log(truth(m.n, job.settings.tokens))) ** 2
            run = SimpleNamespace(eval_loss=loss, params={"total": m.n_total}, tokens=job.settings.tokens,
                                  settings={"tokens": job.settings.tokens},
                                  flops={"6nd": 6.0 * m.n_total * job.settings.tokens})
            out.append(ex.Trained(m, run, job.settings.seed))
        return out, len(out)
    return train_all


def test_setups_share_a_search_where_batch_and_context_agree():
    """kaplan-sweep and the IsoFLOP grid share a setup on the session source; emergence has its own."""
    setups = tuning.grid_setups("synthetic", "standard", "cpu")
    assert [name for name, *_ in setups] == ["kaplan-sweep", "IsoFLOP grid", "emergence"]
    assert setups[0][1:] == setups[1][1:] and setups[2][1] == ex.EMERGENCE["standard"].task
    names, planned = tuning.served(default_model_family(), "synthetic", setups[0][2], "standard", "cpu")
    assert names == ["kaplan-sweep", "IsoFLOP grid"]
    assert len(planned) == len(set(planned)) and {t for _, t in planned} >= {ex.KAPLAN_SWEEP["standard"].tokens}


def test_search_recovers_the_planted_rule_on_short_runs(monkeypatch, tmp_path):
    """The search spans the planned sizes, runs a fraction of each size's shortest and longest length, and
    finds LR*(N, D)."""
    calls = []
    monkeypatch.setattr(tuning, "train_all", fake_runs(calls))
    fam, training = default_model_family(), ex.KAPLAN_SWEEP["smoke"].training
    rule, names, new = tuning.search_lr(fam, "synthetic", training, "smoke", "cpu", tmp_path / "runs.sqlite")
    _, planned = tuning.served(fam, "synthetic", training, "smoke", "cpu")
    ns = sorted({m.n for m, _ in planned})
    assert [a.n for a in rule.anchors][0] == ns[0] and rule.anchors[-1].n == ns[-1]
    assert len({a.n for a in rule.anchors}) == 3 and rule.bracketed == len(rule.anchors)
    assert rule.b == pytest.approx(-0.4, abs=0.03)
    assert [ln.slope for ln in rule.lines] == pytest.approx([-0.1] * 3, abs=0.03)
    frac = tuning.LR_SEARCH["smoke"].tokens_frac
    for a in rule.anchors:
        lengths = sorted(t for m, t in planned if m.n == a.n)
        assert a.tokens % training.tokens_per_step == 0 and a.tokens <= frac * lengths[-1] + 1
    assert len(rule.anchors) > 3  # a size with planned runs of several lengths is searched at two
    jobs = [j for pairs in calls for _, j in pairs]
    assert new == len(jobs) and {j.settings.seed for j in jobs} == {0}
    assert {j.settings.curve_eval_seqs for j in jobs} == {0}


def test_horizons_are_a_fraction_of_the_shortest_and_longest_run():
    """Lengths a factor 2 apart or more give two horizons, closer ones one (their median), in whole steps."""
    assert tuning.horizons([1000, 8000, 4000], 0.5, 100) == [500, 4000]
    assert tuning.horizons([1000, 1500], 0.5, 100) == [600]
    assert tuning.horizons([10, 10], 0.5, 100) == [100]


def test_session_grids_train_at_the_searched_rule(monkeypatch, tmp_path):
    """The session object searches once per setup and every run of its grids uses that rule's rate."""
    calls = []
    monkeypatch.setattr(tuning, "train_all", fake_runs(calls))
    monkeypatch.setattr(ex, "train_all", fake_runs(calls))
    exp = Experiments(default_model_family(), "synthetic", "smoke", 2, tmp_path / "runs.sqlite")
    sweep = exp.size_sweep("cpu")
    iso = exp.isoflop("cpu")
    assert isinstance(sweep.lr, LRRule) and iso.lr is sweep.lr  # one search for the shared setup
    grid = [(m, j) for pairs in calls for m, j in pairs if j.settings.curve_eval_seqs]  # search runs have no curve
    assert len(grid) >= len(sweep.trained) + len(iso.trained)
    assert all(j.settings.lr == sweep.lr(m.n, j.settings.tokens) for m, j in grid)
    assert len(exp.lr_searches("cpu")) == 2  # the session source's setup and the emergence task's
