"""Chapter 1: synthetic gradients from scratch (the primer), on MNIST.

The chapter's methods, runs, figures and widgets, the store's reading (:func:`dni_evidence`) and
:func:`finish`. Its claims and numbers are pure functions of accuracies in
:mod:`synthgrad.chapters.primer_claims`, imported here so that the notebook and the tests find
them on this module."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from .. import analysis, chapters, parallel, plots, store, sweep, train
from .. import params as P
from ..data import Dataset
from ..train import History
from . import MNIST_QUICK, Interface
from .dni_table import MIDDLE_SCALE
from .primer_claims import STORED, STORED_METHODS, claims, numbers
from .primer_claims import claim_dni_table as claim_dni_table  # the notebook's and the tests'
from .primer_claims import stored_claims as stored_claims

INTERFACE = Interface(
    defaults={"seed": 0, "n_seeds": 3, "steps": 1200, "batch_size": 256, "lr": 0.0003,
        "sg_lr": None, "width": 256, "depth": 3, "sg_hidden": 0, "scale": "small",
        "eval_every": 50, "quick": False},
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 20), "steps": P.integer(1),
        "batch_size": P.integer(1, 60000), "lr": P.positive(),
        "sg_lr": P.positive(optional=True), "width": P.integer(1), "depth": P.integer(2, 50),
        "sg_hidden": P.integer(0), "scale": P.choice("small", "full"),
        "eval_every": P.integer(1), "quick": P.flag(),
    },
    record=("seed", "n_seeds", "steps", "batch_size", "lr", "sg_lr", "width", "depth",
            "sg_hidden", "scale", "eval_every"),
    settings=dict(limit=None, widget_steps=150, live_steps=150),
    quick=dict(MNIST_QUICK, widget_steps=30, live_steps=10),
)  # fmt: skip


# the methods of the chapter's experiment: name on the page -> learning rule and its options
METHODS = {
    "backprop": dict(rule="backprop"),
    "SG middle, cDNI": dict(rule="sg_middle", conditioned=True),
    "SG middle, DNI": dict(rule="sg_middle", conditioned=False),
    "SG every layer, cDNI": dict(rule="sg_every", conditioned=True),
    "SG every layer, DNI": dict(rule="sg_every", conditioned=False),
    analysis.CONTROL: dict(rule="frozen_middle"),
    analysis.CONTROL_EVERY: dict(rule="frozen_every"),
}
CLAIM_IDS = ("C1.1", "C1.2", "C1.3", "C1.4p", "C1.1p", "C1.2p", "C1.3p")
IN_PART = ("C1.3", "C1.4p", "C1.1p", "C1.2p", "C1.3p")  # claims that can hold in part
PAIRED = CLAIM_IDS  # claims decided on seed-paired intervals (BOOK.md section 6)


# the grid of this chapter in the results store (make paper)
def _experiment() -> store.Experiment:
    """Chapter 1: the DNI paper's MNIST table, 3 to 6 hidden layers, every-layer DNI and cDNI."""
    settings = dict(steps=6000, lr=3e-4, batch_size=256, eval_every=200)
    runs = {
        f"{depth}/{method}": store.mnist_task(rule, conditioned, depth, **settings)
        for depth in (3, 4, 5, 6)
        for method, (rule, conditioned) in STORED_METHODS.items()
    }
    return store.Experiment(
        "01_dni_table",
        "01_primer",
        "MNIST (8,000 / 2,000 images), MLPs of 3 to 6 hidden layers of 256 ReLU units with "
        "batch norm, an SG after every hidden layer (bootstrapped), with (cDNI) and without "
        "(DNI) the label, against backprop and the control whose hidden layers never learn "
        "(only the output layer does); Adam 3e-4, batch 256, 3 seeds.",
        "6,000 steps (192 passes over the 8,000 images): five times the chapter's own budget; "
        "the DNI paper trained for 500k steps on the full training set, which is not here.",
        runs,
        "MNIST 8,000 images, width 256, 3 to 6 hidden layers, 6,000 steps, 3 seeds",
    )


EXPERIMENT = _experiment()


def net(p: SimpleNamespace) -> dict[str, Any]:
    """The network and minibatch settings every run of the chapter shares."""
    return dict(
        hidden=[p.width] * p.depth,
        batch_norm=True,
        batch_size=p.batch_size,
        eval_every=p.eval_every,
    )


def train_methods(trained: train.Runs, mnist: Dataset, p: SimpleNamespace) -> dict[str, History]:
    """Every method of :data:`METHODS` on the chapter's seeds, each in a worker process of its
    own (as many at once as the kernel has threads)."""
    jobs = {
        name: dict(steps=p.steps, lr=p.lr, sg_lr=p.sg_lr, sg_hidden=p.sg_hidden, **net(p), **cfg)
        for name, cfg in METHODS.items()
    }
    return parallel.fit_all(trained, mnist, p.seeds, jobs)


# the widget's grid: backprop against one cDNI SG in the middle
WIDGET_GRID = {"lr": [1e-4, 3e-4, 1e-3], "sg_hidden": [0, 256]}
WIDGET_LABELS = {"lr": "learning rate", "sg_hidden": "SG hidden units (0: linear)"}


def train_widget(trained: train.Runs, mnist: Dataset, p: SimpleNamespace) -> dict[Any, History]:
    """The widget's runs, for its first ``widget_steps`` steps: backprop at each learning rate
    (key ``("backprop", lr)``) and the middle cDNI SG at each point of :data:`WIDGET_GRID`
    (key ``(lr, sg_hidden)``)."""
    short = dict(net(p), steps=p.widget_steps)
    jobs = {("backprop", r): dict(rule="backprop", lr=r, **short) for r in WIDGET_GRID["lr"]}
    for g in sweep.grid(**WIDGET_GRID):
        jobs[g["lr"], g["sg_hidden"]] = dict(
            rule="sg_middle", conditioned=True, lr=g["lr"], sg_hidden=g["sg_hidden"], **short
        )
    return parallel.fit_all(trained, mnist, p.seeds, jobs)


# the live widget (JupyterLab): its grid, and one run of backprop and of the middle cDNI SG
LIVE_GRID = {"lr": [1e-4, 3e-4, 1e-3, 3e-3], "sg_hidden": [0, 64, 256]}


def live_pair(data: Dataset, p: SimpleNamespace, lr: float, sg_hidden: int) -> dict[str, History]:
    """What the live widget reruns when a slider moves: backprop and one cDNI SG in the middle,
    one seed, ``live_steps`` steps, on ``data`` (a few thousand images: seconds)."""
    kw = dict(hidden=[p.width] * p.depth, batch_norm=True, steps=p.live_steps, lr=lr, eval_every=10)
    return {
        "backprop": train.fit(data, [p.seed], "backprop", **kw),
        "SG middle, cDNI": train.fit(
            data, [p.seed], "sg_middle", conditioned=True, sg_hidden=sg_hidden, **kw
        ),
    }


def figure_curves(runs: Mapping[str, History], p: SimpleNamespace) -> plt.Figure:
    """Figure 1: held-out accuracy and cross-entropy during training, every method."""
    df = analysis.frames(runs)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    plots.curves(df, "test_acc", axes[0], "held-out accuracy")
    plots.curves(df, "test_loss", axes[1], "held-out cross-entropy (nats)", logy=True)
    axes[0].set_ylim(max(0.0, axes[0].get_ylim()[0]), 1.0)
    axes[1].get_legend().remove()
    fig.suptitle(
        f"MNIST ({p.scale} scale), mean over {p.n_seeds} seeds; band: lowest to highest seed"
    )
    fig.tight_layout()
    return fig


def figure_sg_losses(runs: Mapping[str, History], p: SimpleNamespace) -> plt.Figure:
    """Figure 2: each SG's regression loss in the every-layer cDNI network."""
    layers = {k: f"SG after layer {k + 1}" for k in range(p.depth)}
    sg_df = analysis.per_layer(
        runs["SG every layer, cDNI"], "sg_loss_{}", layers, "sg_loss", smooth=25
    )
    fig, ax = plt.subplots(figsize=(6, 3.5))
    plots.curves(sg_df, "sg_loss", ax, "SG regression loss", hue="layer", logy=True)
    ax.get_legend().set_title("")
    ax.set_title("SG every layer, cDNI: each SG's error against its target")
    fig.tight_layout()
    return fig


def stored_accuracy(stored: store.Stored) -> dict[tuple[int, str], np.ndarray]:
    """The store's DNI-paper table: per (hidden layers, method), each seed's final held-out
    accuracy."""
    return {(int(d), m): analysis.end_value(h) for (d, m), h in stored.by_part().items()}


def _errors(dni_acc: Mapping[tuple[int, str], np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"hidden layers": d, "method": m, "seed": s, "held-out error (%)": 100 * (1 - a)}
            for (d, m), acc in dni_acc.items()
            for s, a in enumerate(acc)
        ]
    )


def dni_table(dni_acc: Mapping[tuple[int, str], np.ndarray]) -> Styler | None:
    """The DNI paper's table from the store: held-out error (%) per depth and method, mean,
    lowest and highest seed (None when the store holds none of it)."""
    if not dni_acc:
        return None
    # skipna=False: a seed that diverged (NaN) makes its cell's mean, lowest and highest
    # "diverged", and is counted, never silently left out of the mean
    stats = ["mean", "min", "max"]
    errors = (
        _errors(dni_acc)
        .groupby(["hidden layers", "method"])["held-out error (%)"]
        .agg(
            **{f: lambda v, f=f: getattr(v, f)(skipna=False) for f in stats},
            diverged=lambda v: int(v.isna().sum()),
        )  # fmt: skip
    )
    shown = errors[stats].map(lambda x: "diverged" if np.isnan(x) else f"{x:.2f}")
    shown["diverged"] = errors["diverged"].map(str)
    shown = shown.unstack("method").swaplevel(axis=1).fillna("not in the store")
    methods = sorted({m for _, m in dni_acc})
    shown = shown[[(m, c) for m in methods for c in [*stats, "diverged"]]]
    seeds = sorted({len(acc) for acc in dni_acc.values()})
    return shown.style.set_caption(
        "Held-out error (%) after the store's budget: mean, lowest and highest of "
        f"{' or '.join(map(str, seeds))} seeds, and the seeds that diverged (any makes its "
        "cell's numbers 'diverged')"
    )


def dni_evidence(
    stored: store.Stored | None,
    registered: Mapping[tuple[int, str], np.ndarray] | None = None,
    registered_scale: str = "",
) -> tuple[dict[tuple[int, str], np.ndarray], str]:
    """What C1.4p is decided on, and its scale: the registered table on full MNIST
    (``registered``, :func:`.dni_table.accuracy`) once every depth of 3 to 6 is made in full,
    else the earlier store's table (``stored``)."""
    if registered and all(
        (d, m) in registered for d in (3, 4, 5, 6) for m in STORED
    ):  # the registered grid, complete
        return dict(registered), registered_scale
    if stored is None:
        return {}, ""
    return stored_accuracy(stored), stored.scale()


def finish(
    p: SimpleNamespace,
    runs: Mapping[str, History],
    stored: store.Stored | None = None,
    registered: Mapping[tuple[int, str], np.ndarray] | None = None,
    registered_scale: str = "",
    middle: Mapping[tuple[int, str], np.ndarray] | None = None,
    middle_loss: Mapping[tuple[int, str], np.ndarray] | None = None,
) -> pd.DataFrame:
    """The chapter's last cell: its claims and numbers from the runs (and the store: C1.4p
    on :func:`dni_evidence`; C1.1p, C1.2p, C1.3p on it and on ``middle``,
    :func:`.dni_table.middle_accuracy` with :func:`.middle_dni.accuracy`, whose training loss ``middle_loss`` the prose quotes),
    the ledger written and every number glued; returns the claims table."""
    acc = {name: analysis.end_value(h) for name, h in runs.items()}
    dni_acc, scale = dni_evidence(stored, registered, registered_scale)
    found = claims(acc, dni_acc, scale, middle, MIDDLE_SCALE)
    return chapters.finish(p, found, numbers(acc, dni_acc, middle, middle_loss))
