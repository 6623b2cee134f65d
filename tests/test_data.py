"""Tests for scaling.data: make_source, the DataSource protocol and the shared checks."""

import json

import numpy as np
import pytest

from scaling.data.arithmetic import AdditionTask
from scaling.data.corpus import ByteCorpus
from scaling.data import DataSource, check_batch_args, make_source
from scaling.data.synthetic import SyntheticLanguage


@pytest.mark.parametrize(
    "spec, cls, name",
    [("synthetic", SyntheticLanguage, "synthetic"), ("stdlib", ByteCorpus, "stdlib"), ("arithmetic", AdditionTask, "arithmetic")],
)
def test_make_source_by_name(spec, cls, name):
    """Each named spec builds its source, which satisfies the DataSource protocol."""
    src = make_source(spec)
    assert isinstance(src, cls) and isinstance(src, DataSource)
    assert src.name == name and isinstance(src.vocab_size, int)
    assert len(src.fingerprint) == 64
    assert src.entropy_rate is None or src.entropy_rate > 0
    batch = src.batch("train", 2, 17, np.random.default_rng(0))
    assert batch.dtype == np.int64 and batch.shape == (2, 17) and batch.max() < src.vocab_size
    json.dumps(src.describe())


def test_make_source_passes_keywords():
    """Keyword arguments reach the source's constructor."""
    assert make_source("synthetic", vocab_size=32, seed=2) == SyntheticLanguage(vocab_size=32, seed=2)
    assert make_source("arithmetic", n_digits=4).n_digits == 4


def test_make_source_from_path_and_name_roundtrip(tmp_path):
    """A folder path builds a byte corpus whose name "file:<path>" builds it again."""
    (tmp_path / "a.txt").write_text("alpha beta gamma\n" * 20)
    src = make_source(str(tmp_path))
    assert isinstance(src, ByteCorpus) and src.name == f"file:{tmp_path.resolve()}"
    assert make_source(src.name).fingerprint == src.fingerprint


@pytest.mark.parametrize("spec", ["synthtic", "", "/no/such/path/anywhere"])
def test_unknown_spec_raises_naming_it(spec):
    """An unknown spec is a ValueError that names the value."""
    with pytest.raises(ValueError, match="spec" if not spec else repr(spec).replace("/", ".")):
        make_source(spec)


def test_empty_folder_raises(tmp_path):
    """An empty folder is a ValueError naming the folder when the corpus is first used."""
    with pytest.raises(ValueError, match="empty corpus"):
        make_source(str(tmp_path)).fingerprint


def test_check_batch_args_rejects_non_generator():
    """A legacy RandomState instead of a Generator is rejected by name."""
    with pytest.raises(ValueError, match="rng"):
        check_batch_args("train", 1, 2, np.random.RandomState(0))
