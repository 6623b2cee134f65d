"""Tests for scaling.trained: a grid is trained once per device and read back as named arrays."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import scaling.trained as trained_mod
from scaling.lr_search import AnchorSearch, fit_lr_rule
from scaling.trained import Experiments, IsoFLOPRuns

RULE = fit_lr_rule([AnchorSearch(1e4, 1, (0.01, 0.02, 0.04), (2.0, 1.0, 2.0))])  # a flat rule at 0.02


def _fake_trained(n_total, n, tokens, loss):
    run = SimpleNamespace(tokens=tokens, flops={"6nd": 6.0 * n_total * tokens})
    return SimpleNamespace(n_total=n_total, n=n, loss=loss, run=run)


def test_isoflop_runs_are_aligned_named_arrays():
    """Each array of IsoFLOPRuns holds one entry per run, in the grid's order."""
    runs = [(1e9, _fake_trained(100, 60, 1000, 2.0)), (1e10, _fake_trained(300, 200, 5000, 1.5))]
    r = IsoFLOPRuns.of("grid", runs, new=1, lr=RULE)
    np.testing.assert_array_equal(r.C, [1e9, 1e10])
    np.testing.assert_array_equal(r.N, [100, 300])
    np.testing.assert_array_equal(r.N_non_embedding, [60, 200])
    np.testing.assert_array_equal(r.D, [1000, 5000])
    np.testing.assert_array_equal(r.loss, [2.0, 1.5])
    np.testing.assert_array_equal(r.flops_6nd, [6e5, 9e6])
    assert r.new == 1 and len(r.trained) == 2 and r.lr is RULE


def test_each_grid_is_trained_once_per_device(monkeypatch, tmp_path):
    """Asking twice for the same grid on the same device trains it once; another device trains again."""
    calls = []

    def fake_grid(family, source, tier_name, device, store_path, lr):
        calls.append(device)
        return "grid", [(1e9, _fake_trained(100, 60, 1000, 2.0))], 1

    def fake_search(family, source, training, tier_name, device, store_path):
        calls.append(f"lr search on {device}")
        return RULE, ["IsoFLOP grid"], 0

    monkeypatch.setattr(trained_mod, "isoflop_grid", fake_grid)
    monkeypatch.setattr(trained_mod, "search_lr", fake_search)
    exp = Experiments(family=None, source="synthetic", tier_name="smoke", seeds=2, store_path=tmp_path)
    first = exp.isoflop("cpu")
    assert exp.isoflop("cpu") is first
    exp.isoflop("cuda")
    assert calls == ["lr search on cpu", "cpu", "lr search on cuda", "cuda"]
