"""Tests for scaling.data.synthetic: exact entropy, determinism, streaming, bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.data.synthetic import SyntheticLanguage

# 4 standard errors: a correct rate fails the CLT check with probability ~6e-5.
CLT_SIGMAS = 4.0


def _mean_and_se(src, batch_size, seq_len, seed):
    """Mean true NLL over targets and its standard error (rows are i.i.d.)."""
    seq = src.batch("train", batch_size, seq_len, np.random.default_rng(seed))
    per_row = src.true_nll(seq).mean(axis=1)
    return per_row.mean(), per_row.std(ddof=1) / math.sqrt(batch_size)


def test_sample_nll_matches_entropy_rate():
    """A long sample's mean NLL under the true process matches the exact entropy rate (CLT)."""
    src = SyntheticLanguage()
    mean, se = _mean_and_se(src, 4000, 65, seed=1)
    assert src.window_entropy(65) == pytest.approx(src.entropy_rate, abs=1e-12)
    assert abs(mean - src.entropy_rate) < CLT_SIGMAS * se


@settings(max_examples=12, deadline=None)
@given(
    vocab=st.integers(2, 12),
    key_len=st.integers(1, 3),
    value_len=st.integers(1, 4),
    alpha=st.floats(0.1, 2.0),
    noise=st.floats(0.01, 0.9),
    seq_len=st.integers(2, 40),
)
def test_window_entropy_matches_samples_for_any_settings(vocab, key_len, value_len, alpha, noise, seq_len):
    """For drawn settings and window lengths, sampled true NLL matches window_entropy (CLT)."""
    src = SyntheticLanguage(vocab_size=vocab, key_len=key_len, value_len=value_len, zipf_exponent=alpha, noise=noise)
    mean, se = _mean_and_se(src, 3000, seq_len, seed=2)
    assert abs(mean - src.window_entropy(seq_len)) < CLT_SIGMAS * se + 1e-9


def test_entropy_closed_form_small_case():
    """With one-token keys over 2 symbols the rate equals the hand-computed closed form."""
    src = SyntheticLanguage(vocab_size=2, key_len=1, value_len=1, zipf_exponent=1.0, noise=0.5)
    p = np.array([1.0, 2.0**-2]) / (1 + 2.0**-2)  # Zipf ranks 1, 2 with exponent α+1 = 2
    h_key = -(p * np.log(p)).sum()
    h_val = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # 1-ε+ε/V = 0.75
    assert src.entropy_rate == pytest.approx((h_key + h_val) / 2, rel=1e-12)


def test_position_entropies_sum_to_unit_entropy():
    """The chain-rule key entropies sum to the Zipf entropy of the keys."""
    src = SyntheticLanguage(vocab_size=16, key_len=3, value_len=2)
    h = src.position_entropies()
    assert h[:3].sum() == pytest.approx(src.key_entropy, rel=1e-12)
    assert h.sum() / src.unit_len == pytest.approx(src.entropy_rate, rel=1e-12)


def test_true_nll_of_fact_tokens():
    """A value token equal to its fact costs -log(1-ε+ε/V); a wrong one costs -log(ε/V)."""
    src = SyntheticLanguage(vocab_size=8, key_len=1, value_len=1, noise=0.2)
    seq = src.batch("train", 1, 2, np.random.default_rng(0))
    right = src.true_nll(seq)[0, 0]
    wrong_seq = seq.copy()
    wrong_seq[0, 1] = (seq[0, 1] + 1) % 8
    assert right == pytest.approx(-math.log(1 - 0.2 + 0.2 / 8))
    assert src.true_nll(wrong_seq)[0, 0] == pytest.approx(-math.log(0.2 / 8))


def test_deterministic_given_seed():
    """Same settings and rng seed give identical batches; another seed changes the facts."""
    a = SyntheticLanguage(seed=3).batch("train", 4, 33, np.random.default_rng(7))
    b = SyntheticLanguage(seed=3).batch("train", 4, 33, np.random.default_rng(7))
    c = SyntheticLanguage(seed=4).batch("train", 4, 33, np.random.default_rng(7))
    assert a.dtype == np.int64 and a.shape == (4, 33)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fingerprint_tracks_settings():
    """The fingerprint is stable for equal settings and changes with any setting."""
    base = SyntheticLanguage()
    assert base.fingerprint == SyntheticLanguage().fingerprint
    others = [SyntheticLanguage(seed=1), SyntheticLanguage(noise=0.1), SyntheticLanguage(zipf_exponent=0.6),
              SyntheticLanguage(value_len=2), SyntheticLanguage(vocab_size=32)]
    assert len({base.fingerprint, *(o.fingerprint for o in others)}) == 6


def test_streaming_draws_only_what_is_asked():
    """A batch holds only batch_size x seq_len tokens and the tables stay small."""
    src = SyntheticLanguage()
    assert src.batch("eval", 3, 5, np.random.default_rng(0)).shape == (3, 5)
    table_bytes = sum(getattr(src, n).nbytes for n in ("_key_of_rank", "_p_key", "_cdf", "_facts"))
    assert table_bytes < 1_000_000


def test_describe_is_json_ready():
    """describe() is JSON-serializable and carries the entropy rate."""
    import json

    d = SyntheticLanguage().describe()
    assert json.loads(json.dumps(d))["entropy_rate"] == pytest.approx(SyntheticLanguage().entropy_rate)


@pytest.mark.parametrize(
    "kw, word",
    [
        ({"vocab_size": 1}, "vocab_size"),
        ({"noise": 0.0}, "noise"),
        ({"noise": 1.0}, "noise"),
        ({"zipf_exponent": 0}, "zipf_exponent"),
        ({"value_len": 0}, "value_len"),
        ({"key_len": 0}, "key_len"),
        ({"vocab_size": 256, "key_len": 3}, "key_len"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_settings_raise(kw, word):
    """Invalid generator settings raise ValueError naming the setting."""
    with pytest.raises(ValueError, match=word):
        SyntheticLanguage(**kw)


@pytest.mark.parametrize(
    "args, word",
    [(("test", 2, 8), "split"), (("train", 0, 8), "batch_size"), (("train", 2, 1), "seq_len")],
)
def test_bad_batch_args_raise(args, word):
    """Malformed batch requests raise ValueError naming the argument."""
    with pytest.raises(ValueError, match=word):
        SyntheticLanguage().batch(*args, np.random.default_rng(0))


def test_true_nll_rejects_out_of_vocab():
    """Tokens outside the vocabulary are rejected with the offending range."""
    with pytest.raises(ValueError, match="seq"):
        SyntheticLanguage(vocab_size=8).true_nll(np.array([[0, 9]]))


def test_eval_split_is_unbiased_with_lower_variance():
    """Stratified eval batches keep the exact mean NLL but vary less between draws than train batches."""
    src = SyntheticLanguage()

    def means(split):
        return np.array([src.true_nll(src.batch(split, 128, 33, np.random.default_rng(s))).mean() for s in range(40)])

    train, held = means("train"), means("eval")
    assert abs(held.mean() - src.entropy_rate) < CLT_SIGMAS * held.std(ddof=1) / math.sqrt(len(held))
    assert held.std() < 0.6 * train.std()
    x = src.batch("eval", 100, 8, np.random.default_rng(0))
    changed = (x[:, 2:] != src._facts[x[:, 0] * 64 + x[:, 1]]).sum()
    assert 24 <= changed <= 30  # exactly ε·600 = 30 noisy tokens, each equal to the fact w.p. 1/64


def test_quanta_loss_runs_from_the_unigram_loss_to_the_entropy_rate():
    """Knowing no fact costs every value token log V; knowing all K facts leaves the entropy rate."""
    src = SyntheticLanguage()
    k = src.vocab_size ** src.key_len
    gap = src.value_len * (math.log(src.vocab_size) - src.value_entropy) / src.unit_len
    loss = src.quanta_loss([0, 1, 10, 100, k, 2 * k])
    assert loss[0] == pytest.approx(src.entropy_rate + gap, rel=1e-12)
    assert loss[-2] == pytest.approx(src.entropy_rate, rel=1e-12) and loss[-1] == loss[-2]
    assert np.all(np.diff(loss[:-1]) < 0)
    assert src.fact_bits == pytest.approx(gap * src.unit_len / math.log(2))
