"""Parameter counts of a `GPTConfig`, from the config alone, as a named breakdown.

The breakdown is keyed like `GPT.named_parameters()` with the layer index folded away
(`h.0.attn.c_attn.weight`, `h.1.attn.c_attn.weight`, ... -> `h.attn.c_attn.weight`, summed
over layers), so it can be compared with a built module one component at a time
(`module_breakdown`). Pure integer arithmetic: any size, 175B included, costs nothing.

Conventions, each by name (Kaplan et al. 2020, §2.1, eq. 2.1):
- `total`: every parameter, a tied head counted once;
- `embedding`: token embedding + position embedding + an untied output head;
- `non_embedding`: `total - embedding` (Kaplan's N, with biases and norms);
- `kaplan_exact`: 2·d_model·n_layer·(2·d_attn + d_ff), the matmul weights of the blocks;
- `kaplan_12ld2`: 12·n_layer·d_model², eq. 2.1 with d_attn = d_ff/4 = d_model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from scaling.config import GPTConfig

_LAYER_INDEX = re.compile(r"^h\.\d+\.")


@dataclass(frozen=True)
class ParamCount:
    """Parameter counts of one config in every named convention (see module docstring)."""

    total: int
    embedding: int
    non_embedding: int
    kaplan_exact: int
    kaplan_12ld2: int
    breakdown: Mapping[str, int] = field(hash=False)

    @property
    def sub_leading(self) -> int:
        """Biases and norms: what `non_embedding` has beyond Kaplan's matmul weights."""
        return self.non_embedding - self.kaplan_exact


def count_params(config: GPTConfig) -> ParamCount:
    """Count the parameters `GPT(config)` will have, without building it."""
    if not isinstance(config, GPTConfig):
        raise ValueError(f"'config' must be a GPTConfig (got config={config!r})")
    L, d, d_attn, d_ff = config.n_layer, config.d_model, config.d_attn, config.d_ff
    V, n_ctx = config.vocab_size, config.n_ctx

    parts: dict[str, int] = {"wte.weight": V * d, "wpe.weight": n_ctx * d}
    per_layer = {  # one block's parameters, in module order (model.Block)
        "h.ln_1.weight": d,
        "h.ln_1.bias": d,
        "h.attn.c_attn.weight": 3 * d_attn * d,
        "h.attn.c_attn.bias": 3 * d_attn,
        "h.attn.c_proj.weight": d * d_attn,
        "h.attn.c_proj.bias": d,
        "h.ln_2.weight": d,
        "h.ln_2.bias": d,
        "h.mlp.c_fc.weight": d_ff * d,
        "h.mlp.c_fc.bias": d_ff,
        "h.mlp.c_proj.weight": d * d_ff,
        "h.mlp.c_proj.bias": d,
    }
    parts.update({name: L * n for name, n in per_layer.items()})
    parts.update({"ln_f.weight": d, "ln_f.bias": d})
    if not config.bias:
        parts = {name: n for name, n in parts.items() if not name.endswith(".bias")}
    if not config.tie_embeddings:
        parts["lm_head.weight"] = V * d  # the head has no bias (GPT-2)

    total = sum(parts.values())
    embedding = parts["wte.weight"] + parts["wpe.weight"] + parts.get("lm_head.weight", 0)
    return ParamCount(
        total=total,
        embedding=embedding,
        non_embedding=total - embedding,
        kaplan_exact=2 * d * L * (2 * d_attn + d_ff),  # Kaplan eq. 2.1, first form
        kaplan_12ld2=12 * L * d * d,  # Kaplan eq. 2.1, d_attn = d_ff/4 = d_model
        breakdown=MappingProxyType(parts),
    )


def module_breakdown(named_parameters: Iterable[tuple[str, Any]]) -> dict[str, int]:
    """Fold `module.named_parameters()` into `count_params(...).breakdown`'s keys and sizes."""
    parts: dict[str, int] = {}
    for name, p in named_parameters:
        key = _LAYER_INDEX.sub("h.", name)
        parts[key] = parts.get(key, 0) + p.numel()
    return parts
