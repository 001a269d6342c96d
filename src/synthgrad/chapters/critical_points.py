"""Chapter 2 (RQ1): do synthetic gradients change the critical points?"""

from __future__ import annotations

from .. import params as P
from . import Interface

INTERFACE = Interface(
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 20), "n_points": P.integer(50, 20000),
        "anisotropy": P.number(0, 1, low_open=True), "flip": P.number(0.01, 0.45),
        "noise": P.number(0, 2, low_open=True), "steps": P.integer(1),
        "lr": P.number(0, 1, low_open=True), "sg_lr": P.positive(optional=True),
        "grid_size": P.integer(2, 15), "mlp_hidden": P.integer(1),
        "max_width": P.integer(4, 4096), "quick": P.flag(),
    },
    record=("seed", "n_seeds", "n_points", "anisotropy", "flip", "noise", "steps", "lr",
            "sg_lr", "grid_size", "mlp_hidden", "max_width"),
    quick=dict(steps=150, grid_size=3, n_seeds=2, max_width=16, n_points=200, mlp_hidden=8),
)  # fmt: skip
