"""Learning rules side by side on the same network and batch (chapter 6).

:func:`identities` checks the unified view's exact equalities: two implementations of one rule
(DFA written directly and as a fixed error-conditioned SG; Kickback written directly and as
the paper's fixed SG; FA with the forward weights' transposes and backprop) give the same
parameter updates, while the rule itself differs from backprop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .data import Dataset
from .losses import LOSSES
from .models import Net, broadcast_seeds
from .rules import (
    Backprop,
    DirectFeedbackAlignment,
    ErrorSG,
    FeedbackAlignment,
    Kickback,
    KickbackSG,
    LearningRule,
    relative_difference,
    updates,
)

# claim: (what is compared, the rule that trains the networks it is checked on)
IDENTITIES = {
    "C6.1": ("DFA direct vs DFA as a fixed error SG", "dfa"),
    "C6.2": ("Kickback direct vs the paper's fixed SG", "kickback"),
    "C6.3": ("FA with B = W^T vs backprop", "fa"),
}


def identity_rules(
    rule: str, net: Net, seeds: Sequence[int]
) -> tuple[LearningRule, LearningRule, LearningRule]:
    """For ``rule`` (``dfa``, ``kickback`` or ``fa``): its two implementations that must agree
    on ``net``, and the rule as it trains (FA: with its random feedback), to set against
    backprop."""
    if rule == "dfa":
        return (
            DirectFeedbackAlignment(net, seeds),
            ErrorSG(net, seeds, learned=False),
            DirectFeedbackAlignment(net, seeds),
        )
    if rule == "kickback":
        return Kickback(net), KickbackSG(), Kickback(net)
    if rule == "fa":
        return FeedbackAlignment.transposed(net, seeds), Backprop(), FeedbackAlignment(net, seeds)
    raise ValueError(f"no identity for rule {rule!r}; known: dfa, kickback, fa")


def update_gap(net: Net, a: LearningRule, b: LearningRule, data: Dataset, examples: int) -> float:
    """:func:`~synthgrad.rules.relative_difference` of the updates ``a`` and ``b`` compute for
    ``net`` on the first ``examples`` held-out examples of ``data`` (every seed)."""
    y = data.y_test[:examples]
    batch = (
        broadcast_seeds(data.x_test[:examples], net.n_seeds),
        y,
        data.context(y),
        LOSSES[data.task],
    )
    return relative_difference(updates(a, net, *batch), updates(b, net, *batch))


def identities(
    networks: Mapping[str, Sequence[tuple[str, Net, Dataset]]],
    seeds: Sequence[int],
    examples: int = 512,
) -> pd.DataFrame:
    """One row per claim of :data:`IDENTITIES` and network: ``networks[claim]`` lists
    ``(name, net, data)``. Columns: ``relative difference`` between the two implementations
    (float32 rounding is about 1e-7), and ``rule vs backprop``, the same for the rule itself
    against backprop (how far apart the identity's two sides could have been)."""
    rows = []
    for claim, (label, rule) in IDENTITIES.items():
        for name, net, data in networks[claim]:
            a, b, plain = identity_rules(rule, net, seeds)
            rows.append(
                {
                    "claim": claim,
                    "comparison": label,
                    "network": name,
                    "relative difference": update_gap(net, a, b, data, examples),
                    "rule vs backprop": update_gap(net, plain, Backprop(), data, examples),
                }
            )
    return pd.DataFrame(rows).set_index(["claim", "network"])


def identity_holds(table: pd.DataFrame, claim: str, tol: float, apart: float) -> bool:
    """The identity holds when every network's difference is at most ``tol`` and, on the fresh
    network, the rule's updates differ from backprop's by at least ``apart``. A NaN or infinite
    value (a network or a rule whose updates diverged) counts against it."""
    part = table.loc[claim]
    difference, away = part["relative difference"], part.loc["fresh", "rule vs backprop"]
    return bool(
        (difference <= tol).all()
        and away >= apart
        and np.isfinite(difference).all()
        and np.isfinite(away)
    )
