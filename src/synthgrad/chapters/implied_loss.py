"""Chapter 4 (RQ2): what loss does an SG see?"""

from __future__ import annotations

from .. import params as P
from . import Interface

INTERFACE = Interface(
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 20), "steps": P.integer(1),
        "lr": P.positive(), "width": P.integer(1), "depth": P.integer(2, 20),
        "sg_hidden": P.integer(0), "scale": P.choice("small", "full"),
        "probe": P.integer(1, 2000), "radius": P.number(0, 5, low_open=True),
        "n_dirs": P.integer(1, 16), "eval_every": P.integer(1), "quick": P.flag(),
    },
    record=("seed", "n_seeds", "steps", "lr", "width", "depth", "sg_hidden", "scale",
            "probe", "radius", "n_dirs", "eval_every"),
    settings=dict(limit=None, live_steps=300),
    quick=dict(steps=40, n_seeds=2, eval_every=10, limit=1000, probe=64, live_steps=20),
)  # fmt: skip
