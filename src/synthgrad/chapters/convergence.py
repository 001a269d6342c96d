"""Chapter 3 (RQ2): does SG learning converge, and to what?"""

from __future__ import annotations

from .. import params as P
from . import Interface

INTERFACE = Interface(
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 20), "n_points": P.integer(500, 20000),
        "steps": P.integer(1), "lr": P.number(0, 1, low_open=True),
        "sg_lr": P.positive(optional=True), "depth": P.integer(2, 50), "width": P.integer(1),
        "sgd_lr": P.number(0, 10, low_open=True), "sgd_steps": P.integer(1),
        "quick": P.flag(),
    },
    record=("seed", "n_seeds", "n_points", "steps", "lr", "sg_lr", "depth", "width",
            "sgd_lr", "sgd_steps", "errors", "phase_lrs", "widget_steps"),
    settings=dict(
        errors=[0.0, 0.25, 0.5, 0.75, 0.9, 1.0, 1.25, 1.5, 2.0],
        phase_lrs=[0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
        widget_steps=1500,
    ),
    quick=dict(steps=60, sgd_steps=60, n_seeds=2, depth=4, width=4, errors=[0.0, 0.5, 1.5],
               phase_lrs=[0.01, 1.0, 3.0], widget_steps=30),
)  # fmt: skip
