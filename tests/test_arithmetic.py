"""Tests for scaling.data.arithmetic: encoding, splits, packing and the emergence metrics."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.data.arithmetic import AdditionTask, edit_distance

V = AdditionTask.vocab_size


def oracle_logits(task, *, wrong_digit=None, confidence=10.0):
    """A logits_fn that knows the task: logit `confidence` on the true next token of every row.

    With wrong_digit=i it puts its mass on a wrong digit at answer position i instead.
    """
    plen, start = task.problem_len, 2 * task.n_digits + 2

    def fn(idx):
        b, t = idx.shape
        out = np.zeros((b, t, V), dtype=np.float32)
        n_prob = -(-(t + 1) // plen)
        for r in range(b):
            digits = idx[r]
            probs = []
            for p in range(n_prob):
                chunk = digits[p * plen : p * plen + 2 * task.n_digits + 1]
                if len(chunk) < 2 * task.n_digits + 1:
                    break
                a = int("".join(map(str, chunk[: task.n_digits])))
                bb = int("".join(map(str, chunk[task.n_digits + 1 :])))
                probs.append(task.encode([a], [bb])[0])
            truth = np.concatenate(probs) if probs else np.zeros(0, dtype=np.int64)
            for i in range(t):
                if i + 1 < len(truth):
                    nxt = truth[i + 1]
                    k = (i + 1) % plen - start
                    if wrong_digit is not None and k == wrong_digit:
                        nxt = (nxt + 1) % 10
                    out[r, i, nxt] = confidence
        return out

    return fn


def test_encoding_reversed_and_plain():
    """123+989 encodes to '123+989=2111;' reversed and '123+989=1112;' plain."""
    assert AdditionTask().render(AdditionTask().encode([123], [989])[0]) == "123+989=2111;"
    plain = AdditionTask(reverse_answer=False)
    assert plain.render(plain.encode([123], [989])[0]) == "123+989=1112;"
    assert AdditionTask(n_digits=2).render(AdditionTask(n_digits=2).encode([5], [7])[0]) == "05+07=210;"


def test_batches_pack_problems_from_a_boundary():
    """Rows are back-to-back train problems starting at a problem boundary."""
    task = AdditionTask()
    x = task.batch("train", 6, 40, np.random.default_rng(0))
    assert x.dtype == np.int64 and x.shape == (6, 40)
    text = task.render(x[0])
    for prob in text.split(";")[:-1]:
        a, rest = prob.split("+")
        b, c = rest.split("=")
        assert int(c[::-1]) == int(a) + int(b)
        assert not task.is_test([int(a)], [int(b)])[0]


def test_train_and_test_problems_are_disjoint():
    """Train batches never contain a test problem and eval batches only test problems."""
    task = AdditionTask(n_digits=2)
    for split, want in (("train", False), ("eval", True)):
        a, b = task.problems(split, 2000, np.random.default_rng(1))
        assert (task.is_test(a, b) == want).all()
    every = np.arange(100)
    frac = task.is_test(np.repeat(every, 100), np.tile(every, 100)).mean()
    assert 0.05 < frac < 0.15  # test_fraction 0.1 of all 10,000 two-digit problems


def test_deterministic_and_fingerprinted():
    """Equal seeds give equal batches; settings change the fingerprint and the split."""
    t = AdditionTask()
    assert np.array_equal(t.batch("eval", 3, 20, np.random.default_rng(5)), t.batch("eval", 3, 20, np.random.default_rng(5)))
    prints = {AdditionTask(**kw).fingerprint for kw in ({}, {"seed": 1}, {"n_digits": 4}, {"reverse_answer": False})}
    assert len(prints) == 4 and AdditionTask().fingerprint == t.fingerprint
    grid = np.arange(1000)
    assert not np.array_equal(t.is_test(grid, grid), AdditionTask(seed=1).is_test(grid, grid))


def test_perfect_model_scores_perfectly():
    """A model that knows addition gets exact match 1, edit distance 0 and near-zero NLL."""
    task = AdditionTask()
    m = task.evaluate(oracle_logits(task), n_ctx=64, n_problems=40)
    assert m["exact_match"] == 1.0 and m["token_accuracy"] == 1.0 and m["edit_distance"] == 0.0
    # logit 10 on the right token among 13: NLL = log(1 + 12 e^-10)
    assert m["answer_nll"] == pytest.approx(math.log1p(12 * math.exp(-10)), rel=1e-5)


def test_one_wrong_digit_breaks_exact_match_only():
    """One wrong answer digit: exact match 0, token accuracy 3/4, edit distance 1."""
    task = AdditionTask()
    m = task.evaluate(oracle_logits(task, wrong_digit=1), n_ctx=64, n_problems=40)
    assert m["exact_match"] == 0.0
    assert m["token_accuracy"] == pytest.approx(0.75)
    assert m["edit_distance"] == pytest.approx(1.0)
    # the true digit at position 1 gets logit 0 among one token at 10: NLL = 10 + log(1 + 12 e^-10)
    expected = (3 * math.log1p(12 * math.exp(-10)) + 10 + math.log1p(12 * math.exp(-10))) / 4
    assert m["answer_nll"] == pytest.approx(expected, rel=1e-5)


def test_uniform_model_nll_is_log_vocab():
    """Constant logits give answer NLL log(13) and exact match 0 on 3-digit problems."""
    m = AdditionTask().evaluate(lambda idx: np.zeros(idx.shape + (V,), np.float32), n_ctx=32, n_problems=64)
    assert m["answer_nll"] == pytest.approx(math.log(V))
    assert m["exact_match"] == 0.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=6), st.lists(st.integers(0, 3), max_size=6))
def test_edit_distance_matches_reference(a, b):
    """Vectorized edit distance equals a plain dynamic-programming Levenshtein."""
    ref = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(ref[j] + 1, cur[j - 1] + 1, ref[j - 1] + (x != y)))
        ref = cur
    got = edit_distance(np.array([a], dtype=np.int64).reshape(1, len(a)), np.array([b], dtype=np.int64).reshape(1, len(b)))
    assert int(got[0]) == ref[-1]


@pytest.mark.parametrize(
    "kw, word", [({"n_digits": 0}, "n_digits"), ({"test_fraction": 1.0}, "test_fraction"), ({"reverse_answer": 1}, "reverse_answer")]
)
def test_bad_settings_raise(kw, word):
    """Invalid task settings raise ValueError naming the setting."""
    with pytest.raises(ValueError, match=word):
        AdditionTask(**kw)


def test_bad_evaluate_args_raise():
    """Too short a context or a logits_fn of the wrong shape raise ValueError."""
    task = AdditionTask()
    with pytest.raises(ValueError, match="n_ctx"):
        task.evaluate(lambda idx: np.zeros(idx.shape + (V,)), n_ctx=5)
    with pytest.raises(ValueError, match="logits_fn"):
        task.evaluate(lambda idx: np.zeros((1, 1, V)), n_ctx=64)
    with pytest.raises(ValueError, match="operands"):
        task.encode([1000], [1])
