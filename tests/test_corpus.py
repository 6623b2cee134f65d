"""Tests for scaling.data.corpus: stdlib corpus, path corpora, splits, fingerprints, caching."""

import hashlib
import json

import numpy as np
import pytest

from scaling.data.corpus import ByteCorpus


@pytest.fixture
def folder(tmp_path):
    """A folder of 40 small text files, a binary file, a hidden dir and an excluded dir."""
    for i in range(40):
        sub = tmp_path / f"pkg{i % 3}"
        sub.mkdir(exist_ok=True)
        (sub / f"mod{i}.py").write_text(f"def f{i}():\n    return {i} * 'x'\n" * (i + 1))
    (tmp_path / "blob.bin").write_bytes(b"\0\1\2" * 100)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("secret\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("assert True\n")
    return tmp_path


def test_stdlib_corpus_loads_with_splits():
    """The stdlib corpus has hundreds of files, no tests or idlelib, and two non-empty splits."""
    src = ByteCorpus.stdlib()
    files = src.files()
    assert src.name == "stdlib" and src.vocab_size == 256 and src.entropy_rate is None
    assert len(files) > 200 and list(files) == sorted(files)
    assert all(f.endswith(".py") for f in files)
    banned = {"test", "tests", "idlelib", "site-packages"}
    assert not any(set(f.split("/")[:-1]) & banned for f in files)
    d = src.describe()
    assert d["split_by"] == "file" and 0 < d["n_eval_files"] < d["n_files"]
    assert d["train_bytes"] > 1_000_000 and d["eval_bytes"] > 50_000
    assert json.loads(json.dumps(d)) == d


def test_stdlib_batches_are_bytes_and_deterministic():
    """Batches are int64 bytes in [0, 256), equal for equal rng seeds."""
    src = ByteCorpus.stdlib()
    a = src.batch("train", 8, 65, np.random.default_rng(0))
    b = src.batch("train", 8, 65, np.random.default_rng(0))
    assert a.dtype == np.int64 and a.shape == (8, 65)
    assert np.array_equal(a, b) and a.min() >= 0 and a.max() < 256


def test_corpus_is_loaded_once_per_process():
    """Two corpus objects for the same root share one loaded array (no re-reading)."""
    a, b = ByteCorpus.stdlib(), ByteCorpus.stdlib()
    assert a.split_bytes("train") is b.split_bytes("train")


def test_folder_split_is_by_file_and_disjoint(folder):
    """Train and eval hold different files: every file's bytes go to exactly one split."""
    src = ByteCorpus(str(folder))
    files = src.files()
    assert "blob.bin" not in files and not any(f.startswith(".git") for f in files)
    d = src.describe()
    assert d["split_by"] == "file" and 0 < d["n_eval_files"] < d["n_files"]
    texts = {f: (folder / f).read_bytes() for f in files}
    train, held = src.split_bytes("train").tobytes(), src.split_bytes("eval").tobytes()
    assert len(train) + len(held) == sum(len(t) for t in texts.values())
    for t in texts.values():  # each file's text is unique (its number), so it sits in one split
        assert (t in train) != (t in held)


def test_excluded_and_hidden_dirs_are_skipped(folder):
    """Hidden folders are always skipped; exclude_dirs drops named folders."""
    assert "tests/test_a.py" in ByteCorpus(str(folder)).files()
    src = ByteCorpus(str(folder), exclude_dirs=("tests",))
    assert not any(f.startswith((".git/", "tests/")) for f in src.files())


def test_single_file_is_split_by_bytes(tmp_path):
    """A single file is split by bytes: the last eval_fraction of it is held out."""
    path = tmp_path / "one.txt"
    path.write_bytes(bytes(range(32, 127)) * 20)
    src = ByteCorpus(str(path), eval_fraction=0.25)
    assert src.name == f"file:{path.resolve()}"
    assert src.describe()["split_by"] == "bytes"
    assert src.split_bytes("eval").tobytes() == path.read_bytes()[-len(src.split_bytes("eval")):]
    assert len(src.split_bytes("eval")) == 475


def test_fingerprint_stable_and_sensitive(folder):
    """The fingerprint is stable across loads and changes with an edit, a rename or the split."""
    from scaling.data import corpus

    first = ByteCorpus(str(folder)).fingerprint
    corpus._CACHE.clear()
    assert ByteCorpus(str(folder)).fingerprint == first
    assert ByteCorpus(str(folder), eval_fraction=0.2).fingerprint != first
    corpus._CACHE.clear()
    (folder / "pkg0" / "mod0.py").write_text("changed\n")
    edited = ByteCorpus(str(folder)).fingerprint
    corpus._CACHE.clear()
    (folder / "pkg0" / "mod0.py").rename(folder / "pkg0" / "renamed.py")
    renamed = ByteCorpus(str(folder)).fingerprint
    assert len({first, edited, renamed}) == 3
    assert all(len(f) == len(hashlib.sha256().hexdigest()) for f in (first, edited, renamed))


def test_empty_corpus_raises(tmp_path):
    """A folder with no text files is a ValueError naming the root."""
    (tmp_path / "x.bin").write_bytes(b"\0" * 10)
    with pytest.raises(ValueError, match="empty corpus.*root="):
        ByteCorpus(str(tmp_path)).batch("train", 1, 2, np.random.default_rng(0))


def test_one_byte_corpus_says_it_is_too_small(tmp_path):
    """A corpus of one byte is a ValueError giving its size and the minimum, not 'no text files'."""
    (tmp_path / "one.txt").write_bytes(b"a")
    with pytest.raises(ValueError, match=r"has 1 byte of text; it needs at least 2"):
        ByteCorpus(str(tmp_path / "one.txt")).batch("train", 1, 2, np.random.default_rng(0))


def test_missing_path_raises(tmp_path):
    """A path that does not exist is a ValueError naming it."""
    with pytest.raises(ValueError, match="root"):
        ByteCorpus(str(tmp_path / "nope"))


def test_seq_len_longer_than_split_raises(tmp_path):
    """Asking for windows longer than a split is a ValueError naming seq_len."""
    path = tmp_path / "short.txt"
    path.write_text("hello world\n" * 5)
    with pytest.raises(ValueError, match="seq_len"):
        ByteCorpus(str(path)).batch("eval", 1, 50, np.random.default_rng(0))


def test_eval_windows_cover_the_held_out_text(tmp_path):
    """Eval windows are evenly spaced over the held-out bytes, train windows are random."""
    path = tmp_path / "random.txt"  # random printable bytes: every 8-byte window is unique
    path.write_bytes(np.random.default_rng(0).integers(33, 127, size=10_000, dtype=np.uint8).tobytes())
    src = ByteCorpus(str(path), eval_fraction=0.5)
    held = src.split_bytes("eval")
    rows = src.batch("eval", 10, 8, np.random.default_rng(0))
    starts = sorted(int(np.flatnonzero((np.lib.stride_tricks.sliding_window_view(held, 8) == r).all(1))[0]) for r in rows)
    gaps = np.diff(starts)
    assert gaps.min() >= (len(held) - 8) // 10 - 1 and gaps.max() <= (len(held) - 8) // 10 + 1
