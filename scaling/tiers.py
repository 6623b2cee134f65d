"""Budget tiers: how much work a claim may spend.

smoke runs on every push (minutes on a 2-core CPU), standard is the main job (`make claims`),
full is for a GPU or a long night. Claim modules keep their own training budgets keyed by
`tier.name`; the fields here size the generic work every claim shares.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    name: str
    hypothesis_examples: int  # examples per property-based claim
    bootstrap_resamples: int  # resamples behind every reported interval
    seeds: int  # independent training seeds where a claim averages over seeds


TIERS: dict[str, Tier] = {
    "smoke": Tier("smoke", hypothesis_examples=15, bootstrap_resamples=200, seeds=2),
    "standard": Tier("standard", hypothesis_examples=60, bootstrap_resamples=1000, seeds=3),
    "full": Tier("full", hypothesis_examples=200, bootstrap_resamples=2000, seeds=5),
}


def get_tier(name: str) -> Tier:
    """The tier called `name`; a ValueError names the unknown value and the choices."""
    try:
        return TIERS[name]
    except KeyError:
        raise ValueError(f"unknown tier {name!r}; expected one of {', '.join(TIERS)}") from None
