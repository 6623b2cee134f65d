"""Data sources and `make_source`, which builds one from its spec.

The sources themselves live in one module each:

- `scaling.data.synthetic.SyntheticLanguage` ("synthetic"): a known-entropy language whose
  learnable structure is a Zipf-distributed set of facts (Michaud et al. 2023 quanta);
- `scaling.data.corpus.ByteCorpus` ("stdlib" or a path): bytes of a real text corpus, by default
  the running interpreter's standard library source;
- `scaling.data.arithmetic.AdditionTask` ("arithmetic"): multi-digit addition for emergence,
  with exact-match and continuous metrics.

Every source is deterministic given its settings and the `numpy.random.Generator` handed to
`batch`, draws only the tokens asked for (nothing is materialized beyond the corpus bytes
themselves), and downloads nothing.
"""

from __future__ import annotations

import os
from typing import Any

from scaling.data.arithmetic import AdditionTask
from scaling.data.base import SPLITS, DataSource, LogitsFn, check_batch_args, settings_fingerprint
from scaling.data.corpus import ByteCorpus
from scaling.data.synthetic import SyntheticLanguage

__all__ = ["SPLITS", "AdditionTask", "ByteCorpus", "DataSource", "LogitsFn", "SyntheticLanguage",
           "check_batch_args", "make_source", "settings_fingerprint"]


def make_source(spec: str, **kw: Any) -> DataSource:
    """Build a data source from "synthetic" | "stdlib" | "arithmetic" | a file or folder path.

    Keyword arguments go to the source's constructor. A "file:" prefix (the `name` of a
    corpus source) is accepted, so `make_source(src.name)` rebuilds a path source.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(
            f"'spec' must be 'synthetic', 'stdlib', 'arithmetic' or a path (got spec={spec!r})"
        )
    if spec == "synthetic":
        return SyntheticLanguage(**kw)
    if spec == "stdlib":
        return ByteCorpus.stdlib(**kw)
    if spec == "arithmetic":
        return AdditionTask(**kw)
    path = spec[len("file:"):] if spec.startswith("file:") else spec
    if os.path.exists(path):
        return ByteCorpus(path, **kw)
    raise ValueError(
        f"unknown data source {spec!r}: expected 'synthetic', 'stdlib', 'arithmetic' "
        "or an existing file or folder path"
    )
