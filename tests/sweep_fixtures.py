"""Shared pieces of the sweep, executor and sweep-CLI tests: tiny jobs and tiny data.

`fake_make_source` stands in for `scaling.data.make_source` in this process (specs
"markov" and "markov2"); worker processes build real sources, so their tests use
`write_corpus`, a folder of a few standard-library modules' source.
"""

from __future__ import annotations

from pathlib import Path

from markov_source import MarkovSource
from scaling.sweep import Job, make_jobs

TINY = dict(batch_size=8, eval_seqs=16, curve_points=4, curve_eval_seqs=8)
N_CTX = 16


def tiny_jobs(spec: str, sizes=(16, 32), tokens=(8 * 16 * 12,), seeds=(0,), vocab_size=16) -> list[Job]:
    """1-layer models on n_ctx 16 for a dozen steps of 8 sequences."""
    return make_jobs(spec, sizes, n_layer=1, n_ctx=N_CTX, vocab_size=vocab_size, tokens=tokens,
                     seeds=seeds, **TINY)


def fake_make_source(spec: str, **kw):
    """'markov' and 'markov2' (two tiny chains); anything else is unknown."""
    if spec == "markov":
        return MarkovSource(seed=0)
    if spec == "markov2":
        return MarkovSource(seed=1)
    raise ValueError(f"unknown source {spec!r}")


def write_corpus(folder: Path) -> str:
    """A small real text corpus: three standard-library modules' source, as a folder."""
    import json.decoder
    import json.encoder
    import textwrap

    for mod in (json.decoder, json.encoder, textwrap):
        (folder / f"{mod.__name__}.py").write_text(Path(mod.__file__).read_text())
    return str(folder)


def corpus_jobs(corpus: str) -> list[Job]:
    """`tiny_jobs` on a corpus folder (vocab 256 bytes)."""
    from scaling.data import make_source

    return tiny_jobs(corpus, sizes=(16, 32), vocab_size=make_source(corpus).vocab_size)
