"""Rules by name: :func:`make_rule`, the one factory for every learning rule and SG form."""

from __future__ import annotations

from collections.abc import Sequence

from ..models import Net
from .base import Backprop, LearningRule
from .feedback import DirectFeedbackAlignment, ErrorSG, FeedbackAlignment, Kickback, KickbackSG
from .synthetic import ControlledError, FrozenBelow, SyntheticGradients

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
    *,
    positions: Sequence[int] | None = None,
    form: str = "standard",
    error: float = 0.0,
    mode: str = "random",
) -> LearningRule:
    """Build a rule by name: ``backprop``, ``sg_middle`` (one SG after the middle hidden block),
    ``sg_every`` (an SG after every hidden block, bootstrapped), ``sg`` (SGs after the blocks in
    ``positions``; block ``net.n_hidden`` is the output), ``controlled_error`` (at the one block
    in ``positions``, the true gradient plus an error of relative size ``error`` in direction
    ``mode``: :class:`ControlledError`), ``frozen_below`` (the control: the blocks up to
    the highest of ``positions`` never learn, :class:`FrozenBelow`), ``frozen_middle`` and
    ``frozen_every`` (that control for ``sg_middle`` and ``sg_every``), ``fa``, ``dfa``, ``dfa_as_sg`` (DFA written as a fixed
    error-conditioned SG), ``error_sg`` (the same SG, learned), ``kickback``,
    ``kickback_as_sg``. For the SG rules, ``d_context>0`` conditions the SGs on the label
    (cDNI), ``sg_hidden`` and ``sg_depth`` set their capacity, and ``form="matched"`` makes
    them loss-matched (:class:`~synthgrad.sg.LossMatchedSG`). Options a kind does not use are
    ignored, except ``positions``, which ``sg_middle`` and ``sg_every`` fix themselves."""
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
    controls = {f"frozen_{k.removeprefix('sg_')}": k for k in SG_RULES}
    if kind in controls:
        if positions is not None:
            raise ValueError(f"{kind!r} places its own control; use 'frozen_below' for a position")
        return FrozenBelow(net, max(sg_positions(controls[kind], net.n_hidden)))
    if kind in ("sg", "controlled_error", "frozen_below"):
        if positions is None:
            raise ValueError(f"a {kind!r} rule needs positions")
        if kind == "frozen_below":
            return FrozenBelow(net, max(positions))
        if kind == "controlled_error":
            if len(positions) != 1:
                raise ValueError(f"a controlled error sits at one position, got {list(positions)}")
            return ControlledError(net, positions[0], seeds, error, mode)
    elif kind in SG_RULES:
        if positions is not None:
            raise ValueError(f"{kind!r} places its own SGs; use kind 'sg' for given positions")
        positions = sg_positions(kind, net.n_hidden)
    else:
        known = [*simple, *SG_RULES, *controls, "sg", "controlled_error", "frozen_below"]
        raise ValueError(f"unknown rule {kind!r}; known: {', '.join(known)}")
    return SyntheticGradients(net, positions, seeds, d_context, sg_hidden, sg_depth, form)
