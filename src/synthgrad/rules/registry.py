"""Rules by name: :func:`make_rule`, the one factory for every learning rule and SG form."""

from __future__ import annotations

from collections.abc import Sequence

from ..models import Net
from .base import Backprop, LearningRule
from .feedback import DirectFeedbackAlignment, ErrorSG, FeedbackAlignment, Kickback, KickbackSG
from .synthetic import SyntheticGradients

SG_RULES = ("sg_middle", "sg_every")


def sg_positions(kind: str, n_hidden: int) -> list[int]:
    """The hidden blocks an SG rule puts its SGs after: ``sg_middle`` the middle one,
    ``sg_every`` every one."""
    if kind == "sg_middle":
        return [(n_hidden - 1) // 2]
    if kind == "sg_every":
        return list(range(n_hidden))
    raise ValueError(f"{kind!r} is not an SG rule; SG rules: {', '.join(SG_RULES)}")


def make_rule(
    kind: str,
    net: Net,
    seeds: Sequence[int],
    d_context: int = 0,
    sg_hidden: int = 0,
    sg_depth: int = 1,
) -> LearningRule:
    """Build a rule by name: ``backprop``, ``sg_middle`` (one SG after the middle hidden block),
    ``sg_every`` (an SG after every hidden block, bootstrapped), ``fa``, ``dfa``,
    ``dfa_as_sg`` (DFA written as a fixed error-conditioned SG), ``error_sg`` (the same SG,
    learned), ``kickback``, ``kickback_as_sg``. ``d_context>0`` conditions the SGs on the label
    (cDNI)."""
    simple = {
        "backprop": lambda: Backprop(),
        "fa": lambda: FeedbackAlignment(net, seeds),
        "dfa": lambda: DirectFeedbackAlignment(net, seeds),
        "dfa_as_sg": lambda: ErrorSG(net, seeds, learned=False),
        "error_sg": lambda: ErrorSG(net, seeds, learned=True),
        "kickback": lambda: Kickback(net),
        "kickback_as_sg": lambda: KickbackSG(),
    }
    if kind in simple:
        return simple[kind]()
    if kind not in SG_RULES:
        raise ValueError(f"unknown rule {kind!r}; known: {', '.join([*simple, *SG_RULES])}")
    positions = sg_positions(kind, net.n_hidden)
    return SyntheticGradients(net, positions, seeds, d_context, sg_hidden, sg_depth)
