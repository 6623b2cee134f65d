"""Fixtures shared by the sweep, scheduling, executor and sweep-CLI tests: tiny jobs and tiny data.

`markov` makes `make_source` in this process know the tiny Markov chains "markov" and
"markov2"; worker processes build real sources, so their tests use `corpus`, a folder of a few
standard-library modules' source.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from markov_source import N_CTX, TINY, MarkovSource
from scaling.sweep import Job, make_jobs


def _markov_source(spec: str, **kw):
    if spec == "markov":
        return MarkovSource(seed=0)
    if spec == "markov2":
        return MarkovSource(seed=1)
    raise ValueError(f"unknown source {spec!r}")


@pytest.fixture
def markov(monkeypatch):
    """`make_source` in this process knows the tiny Markov chains 'markov' and 'markov2'."""
    monkeypatch.setattr("scaling.data.make_source", _markov_source)


def write_corpus(folder: Path) -> str:
    import json.decoder
    import json.encoder
    import textwrap

    for mod in (json.decoder, json.encoder, textwrap):
        (folder / f"{mod.__name__}.py").write_text(Path(mod.__file__).read_text())
    return str(folder)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> str:
    """A folder of real text that worker processes can read: three standard-library modules' source."""
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def new_corpus(tmp_path) -> str:
    """A corpus folder of this test's own (for tests that must not share runs with others)."""
    (tmp_path / "corpus").mkdir()
    return write_corpus(tmp_path / "corpus")


def _tiny_jobs(spec: str, sizes=(16, 32), tokens=(8 * 16 * 12,), seeds=(0,), vocab_size=16) -> list[Job]:
    return make_jobs(spec, sizes, n_layer=1, n_ctx=N_CTX, vocab_size=vocab_size, tokens=tokens,
                     seeds=seeds, **TINY)


@pytest.fixture(scope="session")
def tiny_jobs():
    """Makes jobs of 1-layer models on n_ctx 16 for a dozen steps of 8 sequences."""
    return _tiny_jobs


@pytest.fixture(scope="session")
def corpus_jobs():
    """Makes `tiny_jobs` on a corpus folder (vocab 256 bytes)."""
    def make(corpus: str) -> list[Job]:
        from scaling.data import make_source

        return _tiny_jobs(corpus, sizes=(16, 32), vocab_size=make_source(corpus).vocab_size)

    return make
