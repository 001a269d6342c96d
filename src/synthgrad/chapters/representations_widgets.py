"""Chapter 5's widgets: the grid of runs the notebook's widget browses (every depth, learning
rate and SG capacity, cut from the sweep's runs where they match) and the live widget's pair of
runs, trained on demand. Apart from the figures (:mod:`.representations_figures`, which hands
these to the notebook as ``figures.train_widget``, ...) because they train, where the figures
only draw."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from .. import parallel, sweep, train
from ..data import Dataset
from ..train import History
from . import representations as ch

# the widgets' controls, and the live widget's grid
WIDGET_LABELS = {
    "depth": "hidden layers",
    "lr": "learning rate",
    "sg_hidden": "SG hidden units (0: linear)",
}
LIVE_GRID = {"depth": [3, 6, 12, 20, 50], "lr": [3e-4, 1e-3, 3e-3], "sg_hidden": [0, 64, 256]}


def train_widget(
    trained: train.Runs, mnist: Dataset, p: SimpleNamespace
) -> tuple[dict[str, list], dict[tuple, History]]:
    """The widget's grid (every depth; two learning rates and SG capacities unless ``widget``
    is False) and its runs over the first ``widget_steps`` steps: backprop at ``("backprop",
    depth, lr)``, the middle SG at ``(depth, lr, sg_hidden)``. Runs of the sweep are cut, not
    trained again."""
    other_capacity = 64 if p.sg_hidden == 0 else 0
    grid = {
        "depth": p.depths,
        "lr": [p.lr, 3 * p.lr] if p.widget else [p.lr],
        "sg_hidden": sorted({p.sg_hidden, other_capacity}) if p.widget else [p.sg_hidden],
    }
    short = dict(ch.common(p), steps=min(p.widget_steps, p.steps))
    runs = parallel.fit_all(
        trained,
        mnist,
        p.seeds,
        {
            **{("backprop", g["depth"], g["lr"]): dict(rule="backprop", hidden=[p.width] * g["depth"],
                                                       lr=g["lr"], sg_hidden=p.sg_hidden, **short)
               for g in sweep.grid(**grid)},
            **{(g["depth"], g["lr"], g["sg_hidden"]): dict(rule="sg_middle",
                                                          hidden=[p.width] * g["depth"], lr=g["lr"],
                                                          sg_hidden=g["sg_hidden"], **short)
               for g in sweep.grid(**grid)},
        },
        ch.workers(p),
    )  # fmt: skip
    return grid, runs


def live_pair(
    live_data: Dataset, p: SimpleNamespace, depth: int, lr: float, sg_hidden: int
) -> dict[str, History]:
    """The live widget's runs: backprop and the middle SG on one seed, ``live_steps`` steps."""
    kw: dict[str, Any] = dict(
        hidden=[p.width] * depth,
        batch_norm=True,
        activation=p.activation,
        steps=p.live_steps,
        lr=lr,
        batch_size=p.batch_size,
        eval_every=20,
        device=p.device,
    )
    return {
        "backprop": train.fit(live_data, [p.seed], "backprop", **kw),
        ch.sg_name(p.conditioned): train.fit(
            live_data, [p.seed], "sg_middle", conditioned=p.conditioned, sg_hidden=sg_hidden, **kw
        ),
    }
