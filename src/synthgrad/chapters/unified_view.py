"""Chapter 6: one language for SG, Feedback Alignment, DFA and Kickback."""

from __future__ import annotations

from .. import params as P
from . import MNIST_QUICK, Interface

INTERFACE = Interface(
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 20), "steps": P.integer(2),
        "batch_size": P.integer(1, 60000), "lr": P.positive(), "width": P.integer(2),
        "depth": P.integer(3, 20), "align_examples": P.integer(1, 8000),
        "scale": P.choice("small", "full"), "eval_every": P.integer(1), "quick": P.flag(),
    },
    record=("seed", "n_seeds", "steps", "batch_size", "lr", "width", "depth",
            "align_examples", "scale", "eval_every"),
    settings=dict(limit=None, widget_steps=300, live_steps=200),
    quick=dict(MNIST_QUICK, widget_steps=30, live_steps=10),
)  # fmt: skip
