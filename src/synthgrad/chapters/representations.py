"""Chapter 5 (RQ3): how do SG-trained networks represent data?

The sweep (backprop, one SG in the middle and its control, at every depth), the wide networks
of section (c2), their measurements, their reduction to what the claims decide on
(:func:`sweep_values`, :func:`wide_values`), and :func:`finish`. The methods and their names on
the page are in :mod:`.representations_methods`; the claims, the numbers the prose quotes and
the measurements they read (:class:`Sweep`, :class:`Wide`) in :mod:`.representations_claims`;
both imported here, so that the notebook, the tests and the figures find them on this module.
The figures and tables are in :mod:`.representations_figures`, the widgets in
:mod:`.representations_widgets`, the paper-scale store's part in :mod:`.representations_store`,
the registered grid of section (c3) (C5.3p, C5.4p) in :mod:`.representations_registered`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from .. import analysis, chapters, models, parallel, representations, train
from .. import params as P
from ..data import Dataset
from ..models import Net
from ..params import ParameterError
from ..train import History
from . import MNIST_QUICK, Interface, depth_sweep_results, representations_registered
from . import representations_store as paper_store
from .representations_claims import Sweep, Wide, claims, numbers
from .representations_claims import matched_gap as matched_gap  # the figures' table
from .representations_claims import sweep_results as sweep_results  # the figures' table
from .representations_methods import ACTIVATIONS, Key, compared, methods, sg_block, wide_methods
from .representations_methods import CONTROL as CONTROL  # the tests' names
from .representations_methods import EVERY as EVERY  # the tests' names
from .representations_methods import sg_name as sg_name  # the notebook's


def _resolve(p: SimpleNamespace) -> None:
    """Chapter 5: a GPU that exists, the depths as a sorted list, the RDM depth one of them
    (the deepest by default)."""
    if p.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ParameterError(
                "invalid parameter(s): device = 'cuda' is not allowed: torch sees no CUDA GPU "
                "on this machine"
            )
    p.depths = sorted(P.as_ints(p.depths))
    if p.rdm_depth is not None and p.rdm_depth not in p.depths:
        raise ParameterError(
            f"invalid parameter(s): rdm_depth = {p.rdm_depth!r} is not allowed: must be one of "
            f"depths {p.depths} (or None)"
        )
    p.rdm_depth = p.rdm_depth or max(p.depths)


INTERFACE = Interface(
    defaults={"seed": 0, "n_seeds": 3, "depths": "3,6,12,20", "width": 64,
        "activation": "relu", "steps": 800, "batch_size": 128, "lr": 0.001, "sg_hidden": 0,
        "conditioned": True, "loss_threshold": 0.3, "rdm_depth": None, "rdm_per_class": 10,
        "widget": True, "device": "cpu", "scale": "small", "eval_every": 50, "wide_width": 256,
        "wide_depth": 6, "wide_steps": 400, "quick": False},
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 20),
        "depths": P.ints(3, 50, max_len=8), "width": P.integer(2),
        "activation": P.choice("relu", "tanh"), "steps": P.integer(30),
        "batch_size": P.integer(1, 60000), "lr": P.positive(), "sg_hidden": P.integer(0),
        "conditioned": P.flag(), "loss_threshold": P.positive(),
        "rdm_depth": P.integer(3, 50, optional=True), "rdm_per_class": P.integer(1, 100),
        "widget": P.flag(), "device": P.choice("cpu", "cuda"),
        "scale": P.choice("small", "full"), "eval_every": P.integer(1),
        "wide_width": P.integer(2), "wide_depth": P.integer(3, 50),
        "wide_steps": P.integer(30), "quick": P.flag(),
    },
    record=("seed", "n_seeds", "depths", "width", "activation", "steps", "batch_size", "lr",
            "sg_hidden", "conditioned", "loss_threshold", "rdm_depth", "rdm_per_class",
            "widget", "scale", "eval_every", "device", "wide_width", "wide_depth",
            "wide_steps"),
    settings=dict(limit=None, widget_steps=300, live_steps=200),
    quick=dict(MNIST_QUICK, depths=[3, 4], rdm_depth=None, widget_steps=10, live_steps=10,
               wide_width=16, wide_depth=3, wide_steps=20),
    resolve=_resolve,
)  # fmt: skip


CLAIM_IDS = (
    "C5.1", "C5.2", "C5.3", "C5.4", "C5.1p", "C5.2p", "C5.1p-tanh", "C5.2p-tanh", "C5.3w", "C5.4w",
    *representations_registered.CLAIM_IDS,
)  # fmt: skip
IN_PART = CLAIM_IDS  # claims that can hold in part
PAIRED = CLAIM_IDS  # claims decided on seed-paired intervals (BOOK.md section 6)


# ---- the runs --------------------------------------------------------------------------------


def common(p: SimpleNamespace) -> dict[str, Any]:
    """The settings every run of the chapter shares."""
    return dict(
        batch_norm=True,
        activation=p.activation,
        conditioned=p.conditioned,
        batch_size=p.batch_size,
        eval_every=p.eval_every,
        device=p.device,
    )


def workers(p: SimpleNamespace) -> int | None:
    """Worker processes: one run per core, each on one torch thread (None: as many as this
    kernel has threads); a GPU's runs and a quick run's tiny ones train here."""
    return 1 if p.device == "cuda" or p.quick else None


def describe(mnist: Dataset, p: SimpleNamespace) -> str:
    """The data and the sweep's settings in one line."""
    return (
        f"MNIST ({mnist.description}): {len(mnist.x_train)} training, {len(mnist.x_test)} held-out images; "
        f"depths {p.depths}, width {p.width}, {p.activation}, {p.steps} steps of batch {p.batch_size}, lr {p.lr:g}, seeds {p.seeds}"
    )


def train_sweep(
    trained: train.Runs, mnist: Dataset, p: SimpleNamespace
) -> tuple[dict[Key, Net], dict[Key, History]]:
    """Every (depth, method) of the sweep, each in a worker process of its own: the trained
    networks and their histories (kept in ``trained``, for the widget to reuse)."""
    fitted = parallel.fit_nets_all(
        trained,
        mnist,
        p.seeds,
        {(depth, method): dict(rule=rule, hidden=[p.width] * depth, sg_hidden=p.sg_hidden,
                               lr=p.lr, steps=p.steps, **common(p))
         for depth in p.depths for method, rule in methods(p).items()},
        workers(p),
    )  # fmt: skip
    nets = {key: net for key, (net, _) in fitted.items()}
    runs = {key: history for key, (_, history) in fitted.items()}
    return nets, runs


def steps_to_threshold(runs: Mapping[Key, History], p: SimpleNamespace) -> dict[Key, np.ndarray]:
    """Per (depth, compared method), each seed's steps until the running training loss reaches
    the threshold (``inf``: never within the run)."""
    return {
        (d, m): analysis.steps_to(runs[d, m], "loss", p.loss_threshold)
        for d in p.depths
        for m in compared(p)
    }


def measure(
    nets: Mapping[Key, Net], mnist: Dataset, p: SimpleNamespace
) -> dict[Key, representations.LayerMeasures]:
    """RDMs, similarities, weight norms and probes of every layer of the compared networks (the
    control is drawn in Figure 1 and counted in C5.1)."""
    return {
        key: representations.layer_measures(net, mnist, per_class=p.rdm_per_class)
        for key, net in nets.items()
        if key[1] in compared(p)
    }


def weight_moved(nets: Mapping[Key, Net], mnist: Dataset, p: SimpleNamespace) -> pd.DataFrame:
    """How far each network's raw weights moved from its initialisation, mean over layers and
    seeds, per depth (rows) and method (columns)."""
    start = {
        key: models.mlp(
            mnist.d_in, [p.width] * key[0], mnist.d_out, p.seeds, p.activation, batch_norm=True
        )
        for key in nets
    }
    return pd.DataFrame(
        {
            m: [representations.weight_change(nets[d, m], start[d, m]).mean() for d in p.depths]
            for m in methods(p)
        },
        index=pd.Index(p.depths, name="depth"),
    )


def train_wide(
    trained: train.Runs, mnist: Dataset, p: SimpleNamespace
) -> dict[Key, tuple[Net, History]]:
    """Section (c2): one wide network per (activation, learning rule), ``wide_depth`` hidden
    layers of ``wide_width`` units for ``wide_steps`` steps."""
    wide_settings = dict(
        common(p), hidden=[p.wide_width] * p.wide_depth, steps=p.wide_steps, lr=p.lr
    )
    return parallel.fit_nets_all(
        trained,
        mnist,
        p.seeds,
        {(act, m): dict(cfg, **dict(wide_settings, activation=act))
         for act in ACTIVATIONS for m, cfg in wide_methods(p).items()},
        workers(p),
    )  # fmt: skip


def measure_wide(
    wide: Mapping[Key, tuple[Net, History]], mnist: Dataset, p: SimpleNamespace
) -> dict[Key, representations.LayerMeasures]:
    """RDMs, similarities and weight norms of every layer of section (c2)'s networks (no
    probes)."""
    return {
        key: representations.layer_measures(net, mnist, per_class=p.rdm_per_class, probes=False)
        for key, (net, _) in wide.items()
    }


# ---- what the claims and numbers decide on ---------------------------------------------------


def sweep_values(
    p: SimpleNamespace,
    runs: Mapping[Key, History],
    measures: Mapping[Key, representations.LayerMeasures],
    moved: pd.DataFrame,
    pixels: float,
) -> Sweep:
    """What the claims and numbers need from the sweep's runs and measures."""
    steps = steps_to_threshold(runs, p)
    pairs = [(d, m) for d in p.depths for m in compared(p)]
    return Sweep(
        acc={key: analysis.end_value(h) for key, h in runs.items()},
        diverged={key: h.diverged for key, h in runs.items()},
        steps=steps,
        # matched training loss: held-out accuracy at the first evaluation after each run
        # reached the loss threshold; NaN where a seed never got there
        acc_at={k: analysis.eval_at(runs[k], "test_acc", steps[k]) for k in pairs},
        mean_sim={(d, m): measures[d, m].similarity.mean(1) for d, m in pairs},
        below_sim={
            (d, m): measures[d, m].similarity[:, : sg_block(d) + 1].mean(1) for d, m in pairs
        },
        slopes={(d, m): representations.slope(measures[d, m].norms[:, 1:d]) for d, m in pairs},
        # not a criterion, a closer look: the slope over the hidden-to-hidden layers below the SG
        below_slope={
            (d, m): float(
                representations.slope(measures[d, m].norms[:, 1 : sg_block(d) + 1]).mean()
            )
            if sg_block(d) >= 2
            else np.nan
            for d, m in pairs
        },
        probes={k: measures[k].probes for k in pairs},
        seconds={key: h.settings["seconds"] for key, h in runs.items()},
        moved=moved,
        pixels=pixels,
    )


def wide_values(
    p: SimpleNamespace,
    wide: Mapping[Key, tuple[Net, History]],
    wide_measures: Mapping[Key, representations.LayerMeasures],
) -> Wide:
    """What the claims and numbers need from section (c2): per seed, the RDM similarity over
    the layers below the middle SG and the norm slope over the hidden-to-hidden layers."""
    block = sg_block(p.wide_depth)
    return Wide(
        below_sim={key: m.similarity[:, : block + 1].mean(1) for key, m in wide_measures.items()},
        slopes={
            key: representations.slope(m.norms[:, 1 : p.wide_depth])
            for key, m in wide_measures.items()
        },
        diverged={key: int(h.diverged.sum()) for key, (_, h) in wide.items()},
    )


def finish(
    p: SimpleNamespace,
    s: Sweep,
    w: Wide,
    paper: paper_store.Paper | None = None,
    registered: depth_sweep_results.Sweep | None = None,
    layers: representations_registered.Layers | None = None,
) -> pd.DataFrame:
    """The chapter's last cell: its claims and numbers from the sweep, section (c2) and the
    store (C5.1p and C5.2p on :func:`.depth_sweep_results.ledger_evidence`: the registered
    sweep once it is complete; C5.3p and C5.4p on the registered grid of section c3,
    ``layers``, once it is complete), the ledger written and every number glued; returns the
    claims table."""
    evidence, source = depth_sweep_results.ledger_evidence(paper, registered)
    found = claims(p, s, w, evidence) + representations_registered.claims(layers)
    extra = {"paper_source": source, **representations_registered.numbers(layers)}
    return chapters.finish(p, found, numbers(p, s, w, paper) | extra)
