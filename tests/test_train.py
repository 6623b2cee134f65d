"""Tests for scaling.train: one training run on a tiny order-1 Markov chain."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

import scaling.train as train_mod
from scaling.model import GPT, GPTConfig
from scaling.params import count_params
from scaling.schedule import curve_steps, default_lr
from scaling.run import ENGINE_VERSION, Run
from scaling.train import TrainSettings, train, validate
from markov_source import MarkovSource, MarkovTask

CFG = GPTConfig(n_layer=1, d_model=32, n_head=2, n_ctx=16, vocab_size=16)
SMALL = TrainSettings(tokens=16 * 16 * 40, batch_size=16, eval_seqs=32, curve_points=6, curve_eval_seqs=16)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as sweep workers train tiny models (and immune to a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def source():
    """The tiny Markov chain every test here trains on."""
    return MarkovSource()


@pytest.fixture(scope="module")
def run(source):
    return train(CFG, source, SMALL)


def test_same_seed_gives_identical_losses(source, run):
    """Two CPU runs with the same seed give bit-identical curves and held-out loss."""
    again = train(CFG, source, SMALL)
    assert again.eval_loss == run.eval_loss
    assert again.curve == run.curve


def test_flop_count_is_reused_per_config_and_equals_a_fresh_count(source, run, monkeypatch):
    """The FlopCounterMode count is made once per config per process; a fresh count gives the same FLOPs."""
    assert (CFG, "cpu") in train_mod._MEASURED_PER_TOKEN
    monkeypatch.setattr(train_mod, "_MEASURED_PER_TOKEN", {})
    fresh = train(CFG, source, SMALL)
    assert fresh.flops == run.flops
    monkeypatch.setattr(train_mod, "measure_training_flops", lambda *a: pytest.fail("counted again"))
    assert train(CFG, source, SMALL).flops == run.flops


def test_other_seed_gives_other_losses(source, run):
    """A different seed changes the initialization and the data order, hence the losses."""
    other = train(CFG, source, TrainSettings(**{**SMALL.to_dict(), "seed": 1}))
    assert other.eval_loss != run.eval_loss


def test_learns_the_chain_but_not_below_its_entropy(source):
    """Held-out loss falls from log V most of the way to the chain's entropy rate, and not below it."""
    r = train(CFG, source, TrainSettings(tokens=16 * 16 * 150, batch_size=16, lr=1e-2, eval_seqs=64))
    uniform, floor = math.log(source.vocab_size), source.entropy_rate
    assert r.status == "ok"
    assert r.eval_loss < floor + 0.25 * (uniform - floor), (r.eval_loss, floor)
    # 64·16 eval tokens: a few standard errors of the per-token loss below the floor at most
    assert r.eval_loss > floor - 0.1


def test_run_records_budget_params_and_flops(run):
    """Tokens, steps, parameter counts and FLOPs are consistent with the config and budget."""
    assert run.status == "ok"
    assert run.steps == SMALL.tokens // (SMALL.batch_size * CFG.n_ctx)
    assert run.tokens == run.steps * SMALL.batch_size * CFG.n_ctx
    assert run.params["total"] == sum(p.numel() for p in GPT(CFG).parameters())
    assert run.params["total"] == run.params["embedding"] + run.params["non_embedding"]
    assert run.flops["6nd"] == 6 * run.params["total"] * run.tokens
    assert run.flops["6nd_non_embedding"] == 6 * run.params["non_embedding"] * run.tokens
    # the FLOP counter sees the real matmuls: at least the 6N of the non-embedding weights
    assert run.flops["measured_per_token"] >= 6 * run.params["non_embedding"]
    assert run.flops["measured"] == pytest.approx(run.flops["measured_per_token"] * run.tokens)
    assert run.tokens_per_s > 0 and run.wall_s > 0
    assert run.engine_version == ENGINE_VERSION
    assert run.lr == default_lr(count_params(CFG).non_embedding)


def test_curve_is_log_spaced_and_ends_at_the_last_step(run):
    """The curve's steps are increasing, log-spaced, end at the last step and carry losses."""
    steps = [p["step"] for p in run.curve]
    assert steps == curve_steps(run.steps, SMALL.curve_points)
    assert steps[0] == 1 and steps[-1] == run.steps
    for p in run.curve:
        assert p["tokens"] == p["step"] * SMALL.batch_size * CFG.n_ctx
        assert math.isfinite(p["train_loss"]) and math.isfinite(p["eval_loss"])
    assert run.curve[-1]["train_loss"] < run.curve[0]["train_loss"]


def test_run_round_trips_through_json(run):
    """Run.to_dict() is strict JSON and Run.from_dict rebuilds an equal Run."""
    text = json.dumps(run.to_dict(), allow_nan=False)
    assert Run.from_dict(json.loads(text)) == run
    assert Run.from_dict(json.loads(text)).gpt_config == CFG


def test_from_dict_ignores_unknown_keys_and_names_missing_ones(run):
    """A newer engine's extra fields are ignored; a missing required field is an error naming it."""
    assert Run.from_dict({**run.to_dict(), "bogus": 1}) == run
    d = run.to_dict()
    del d["eval_loss"]
    with pytest.raises(ValueError, match="eval_loss"):
        Run.from_dict(d)


class _NaNAfter(GPT):
    """A GPT whose loss turns NaN from its 4th forward pass on (a divergence on cue)."""

    calls = 0

    def forward(self, idx, targets=None):
        out = super().forward(idx, targets)
        if targets is None or not self.training:
            return out
        type(self).calls += 1
        logits, loss = out
        return logits, loss * (math.nan if type(self).calls >= 4 else 1.0)


def test_nan_loss_ends_the_run_as_diverged(source, monkeypatch):
    """A NaN loss stops training with status 'diverged' and NaN eval loss, not an exception."""
    _NaNAfter.calls = 0
    monkeypatch.setattr(train_mod, "GPT", _NaNAfter)
    r = train(CFG, source, SMALL)
    assert r.status == "diverged"
    assert r.steps == 4 and r.tokens == 4 * SMALL.batch_size * CFG.n_ctx
    assert math.isnan(r.eval_loss)
    assert r.curve[-1]["step"] == 4 and r.curve[-1]["train_loss"] is None
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))  # still strict JSON
    assert d["eval_loss"] is None and math.isnan(Run.from_dict(d).eval_loss)


def test_huge_learning_rate_diverges_without_raising(source):
    """An absurd learning rate without clipping blows the loss up; the run reports it as diverged."""
    s = TrainSettings(**{**SMALL.to_dict(), "lr": 1e30, "grad_clip": 0.0, "warmup_tokens_frac": 0.0})
    r = train(CFG, source, s)
    assert r.status == "diverged"
    assert r.steps < SMALL.tokens // (SMALL.batch_size * CFG.n_ctx)


def test_source_metrics_are_stored():
    """A source with an evaluate() hook has its metrics stored in Run.metrics."""
    r = train(CFG, MarkovTask(), SMALL)
    assert set(r.metrics) == {"top1_agreement"}
    assert 0.0 <= r.metrics["top1_agreement"] <= 1.0


def test_train_leaves_global_rng_and_threads_alone(source):
    """Training neither reseeds the caller's torch RNG nor changes its thread count."""
    torch.manual_seed(1234)
    expected = torch.rand(3)
    threads = torch.get_num_threads()
    torch.manual_seed(1234)
    train(CFG, source, SMALL)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_budget_smaller_than_one_batch_is_rejected(source):
    """A token budget below one batch names the budget and the batch size, before training."""
    with pytest.raises(ValueError, match=r"'tokens'.*16·16 = 256.*tokens=255"):
        train(CFG, source, TrainSettings(tokens=255, batch_size=16))


def test_vocab_smaller_than_source_is_rejected(source):
    """A config whose vocabulary cannot hold the source's tokens is rejected, naming both sizes."""
    cfg = GPTConfig(n_layer=1, d_model=32, n_head=2, n_ctx=16, vocab_size=8)
    with pytest.raises(ValueError, match=r"vocab_size=8.*16 tokens"):
        validate(cfg, source, SMALL)


def test_token_ids_outside_the_vocabulary_are_rejected(source):
    """A source that emits an id its declared vocabulary cannot hold is stopped before the model sees
    it (on CUDA the embedding lookup would be an opaque device-side assert), naming the id and range."""

    class Liar:
        name, vocab_size, entropy_rate = "liar", source.vocab_size, None

        def __init__(self, bad_id, split):
            self.bad_id, self.split = bad_id, split

        def batch(self, split, batch_size, seq_len, rng):
            out = source.batch(split, batch_size, seq_len, rng)
            if split == self.split:
                out[0, 0] = self.bad_id
            return out

    for bad_id, split in ((CFG.vocab_size + 3, "eval"), (-1, "train")):
        with pytest.raises(ValueError, match=rf"'liar' gave token id {bad_id}.*\[0, {CFG.vocab_size}\)"):
            train(CFG, Liar(bad_id, split), SMALL)


def test_unavailable_cuda_is_rejected(source):
    """Asking for CUDA on a machine without it is a ValueError naming the device."""
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="'cuda'"):
        validate(CFG, source, TrainSettings(tokens=10_000, device="cuda"))


@pytest.mark.parametrize(
    "field, value",
    [
        ("tokens", 0), ("tokens", 1.5), ("tokens", True), ("batch_size", 0), ("lr", -1e-3),
        ("lr", math.nan), ("warmup_tokens_frac", 1.0), ("min_lr_frac", 1.5), ("weight_decay", -0.1),
        ("seed", -1), ("device", "tpu"), ("eval_seqs", 0), ("curve_points", 1),
        ("curve_eval_seqs", 1000), ("grad_clip", -1.0),
    ],
)
def test_settings_validation_names_field_and_value(field, value):
    """Each invalid setting is a ValueError naming the field and the value."""
    kw = {"tokens": 1000, field: value}
    with pytest.raises(ValueError, match=rf"'{field}'.*{field}={value!r}".replace("(", r"\(").replace(")", r"\)")):
        TrainSettings(**kw)


def test_settings_are_frozen():
    """TrainSettings cannot be changed after construction."""
    s = TrainSettings(tokens=1000)
    with pytest.raises(AttributeError):
        s.tokens = 5  # type: ignore[misc]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_run_is_finite_and_learns(source):
    """On CUDA (bf16 autocast, TF32) a run finishes with a finite loss below log V."""
    r = train(CFG, source, TrainSettings(**{**SMALL.to_dict(), "device": "cuda"}))
    assert r.status == "ok" and r.eval_loss < math.log(source.vocab_size)


@pytest.mark.parametrize("tie", [False, True])
def test_flat_parameters_train_like_the_per_tensor_step(tie):
    """One step on the flat buffers (clip, fused AdamW) matches torch's per-parameter clip and AdamW."""
    cfg = GPTConfig(n_layer=2, d_model=16, n_head=2, n_ctx=8, vocab_size=12, tie_embeddings=tie)
    torch.manual_seed(0)
    a, b = GPT(cfg), GPT(cfg)
    b.load_state_dict(a.state_dict())
    names = [n for n, _ in a.named_parameters()]
    flat = train_mod._FlatParams(a)
    assert [n for n, _ in a.named_parameters()] == names and flat.data.numel() == count_params(cfg).total
    opt_a = train_mod._adamw(flat, 1e-2, 0.1)
    params = list(b.parameters())
    opt_b = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
                               {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                              lr=1e-2, betas=train_mod.ADAM_BETAS, eps=train_mod.ADAM_EPS)
    idx = torch.randint(0, 12, (4, 8))
    for _ in range(2):
        flat.grad.zero_()
        a(idx, idx)[1].backward()
        flat.clip_grad_norm_(0.05)  # small enough to clip
        opt_a.step()
        b(idx, idx)[1].backward()
        torch.nn.utils.clip_grad_norm_(params, 0.05)
        opt_b.step()
        opt_b.zero_grad(set_to_none=True)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_adamw_is_torchs_fused_adamw_bit_for_bit():
    """The engine's AdamW on flat groups gives exactly torch.optim.AdamW(fused=True)'s parameters."""
    torch.manual_seed(0)
    a, b = torch.randn(300), torch.randn(40)
    ours = [a.clone(), b.clone()]
    theirs = [a.clone(), b.clone()]
    opt = train_mod._AdamW([(ours[0], 0.1), (ours[1], 0.0)], lr=3e-3)
    ref = torch.optim.AdamW([{"params": [theirs[0]], "weight_decay": 0.1}, {"params": [theirs[1]], "weight_decay": 0.0}],
                            lr=3e-3, betas=train_mod.ADAM_BETAS, eps=train_mod.ADAM_EPS, fused=True)
    for k in range(5):
        grads = [torch.randn(300), torch.randn(40)]
        for p, q, g in zip(ours, theirs, grads):
            p.grad, q.grad = g.clone(), g.clone()
        opt.lr = ref.param_groups[0]["lr"] = ref.param_groups[1]["lr"] = 3e-3 / (k + 1)
        opt.step()
        ref.step()
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_training_does_not_import_dynamo():
    """A run in a fresh process leaves torch._dynamo unimported (torch.optim's first call would cost 1.2-1.7 s)."""
    code = ("import sys; from scaling.config import GPTConfig; from scaling.data import make_source; "
            "from scaling.train import TrainSettings, train; "
            "r = train(GPTConfig(1, 16, 1, 16, 64), make_source('synthetic'), TrainSettings(tokens=512, batch_size=8)); "
            "print(r.status, 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["ok", "False"]
