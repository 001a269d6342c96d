"""Chapter 5's learning rules and their names on the page.

The methods of the sweep (:func:`methods`: backprop, the middle SG and its control) and of
section (c2) (:func:`wide_methods`), the two whose representations and speed the paper compares
(:func:`compared`), where the middle SG sits (:func:`sg_block`), and the key by which the
chapter's runs and measurements are indexed (:data:`Key`). The lowest of the chapter's modules:
the runs (:mod:`synthgrad.chapters.representations`, which the figures and widgets read them
through) and the claims (:mod:`synthgrad.chapters.representations_claims`) take the methods from
here, and it imports none of them.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from .. import analysis, rules

CONTROL = analysis.CONTROL
EVERY = "SG every layer, cDNI"
ACTIVATIONS = ["relu", "tanh"]  # section (c2): both of the paper's activations
Key = tuple[Any, str]  # (depth or activation, method)


def sg_name(conditioned: bool) -> str:
    """The middle SG's name on the page: cDNI (label-conditioned) or DNI."""
    return f"SG middle{', cDNI' if conditioned else ', DNI'}"


def methods(p: SimpleNamespace) -> dict[str, str]:
    """The sweep's methods, name on the page -> learning rule: backprop, the middle SG and its
    control (the layers below the SG frozen at initialisation)."""
    return {"backprop": "backprop", sg_name(p.conditioned): "sg_middle", CONTROL: "frozen_middle"}


def compared(p: SimpleNamespace) -> list[str]:
    """The two methods whose representations and speed the paper compares."""
    return ["backprop", sg_name(p.conditioned)]


def wide_methods(p: SimpleNamespace) -> dict[str, dict[str, Any]]:
    """Section (c2)'s learning rules, name -> rule and its options."""
    return {
        "backprop": dict(rule="backprop"),
        sg_name(p.conditioned): dict(
            rule="sg_middle", conditioned=p.conditioned, sg_hidden=p.sg_hidden
        ),
        EVERY: dict(rule="sg_every", conditioned=True, sg_hidden=p.sg_hidden),
        "DFA": dict(rule="dfa"),
    }


def sg_block(depth: int) -> int:
    """The hidden block (from 0) the middle SG follows in a network of ``depth`` hidden layers."""
    return rules.sg_positions("sg_middle", depth)[0]
