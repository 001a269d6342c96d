"""Chapter 1: synthetic gradients from scratch (the primer), on MNIST."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from .. import analysis, chapters, ledger, parallel, plots, stats, store, sweep, train
from .. import params as P
from ..data import Dataset
from ..train import History
from ..verdict import Verdict
from . import MNIST_QUICK, Interface
from .dni_table import MIDDLE, MIDDLE_SCALE

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
CONTROL = {
    "middle": analysis.CONTROL,
    "every layer": analysis.CONTROL_EVERY,
}
# the store's DNI-paper table (experiment 01_dni_table): the methods of a complete depth
STORED_METHODS = {"backprop": ("backprop", False), "DNI": ("sg_every", False),
                  "cDNI": ("sg_every", True), analysis.CONTROL_EVERY: ("frozen_every", False)}  # fmt: skip
STORED = tuple(STORED_METHODS)
CLAIM_IDS = ("C1.1", "C1.2", "C1.3", "C1.4p", "C1.1p", "C1.2p", "C1.3p-every")
IN_PART = ("C1.3", "C1.4p", "C1.1p", "C1.2p", "C1.3p-every")  # claims that can hold in part
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
    table = (
        _errors(dni_acc)
        .groupby(["hidden layers", "method"])["held-out error (%)"]
        .agg(["mean", "min", "max"])
        .unstack("method")
        .swaplevel(axis=1)
        .sort_index(axis=1)
    )
    seeds = sorted({len(acc) for acc in dni_acc.values()})
    return table.style.format("{:.2f}", na_rep="not in the store").set_caption(
        "Held-out error (%) after the store's budget: mean, lowest and highest of "
        f"{' or '.join(map(str, seeds))} seeds"
    )


def _dni(dni_acc: Mapping[tuple[int, str], np.ndarray]) -> dict[str, Any]:
    """What C1.4p decides on: the depths the store holds in full, the mean error of each run (a
    diverged seed makes its mean NaN), and cDNI minus its control per seed (points)."""
    depths = _complete(dni_acc, STORED)
    mean_error = {
        (d, m): float(np.mean(100 * (1 - np.asarray(acc))))
        for (d, m), acc in sorted(dni_acc.items())
    }
    over = {d: 100 * (dni_acc[d, "cDNI"] - dni_acc[d, analysis.CONTROL_EVERY]) for d in depths}
    return dict(depths=depths, mean_error=mean_error, over=over)


def _paired(acc: Mapping[str, np.ndarray]) -> tuple[dict, dict]:
    """Per placement (``"middle"``, ``"every layer"``), paired by seed: the cDNI SG minus its
    control, and the cDNI SG minus the DNI SG (what the label adds)."""
    over = {place: acc[f"SG {place}, cDNI"] - acc[CONTROL[place]] for place in CONTROL}
    gain = {place: acc[f"SG {place}, cDNI"] - acc[f"SG {place}, DNI"] for place in CONTROL}
    return over, gain


def numbers(
    acc: Mapping[str, np.ndarray],
    dni_acc: Mapping[tuple[int, str], np.ndarray] | None = None,
    middle: Mapping[tuple[int, str], np.ndarray] | None = None,
    middle_loss: Mapping[tuple[int, str], np.ndarray] | None = None,
) -> dict[str, Any]:
    """The numbers the chapter's prose quotes, from each method's final held-out accuracy per
    seed (``acc``), the store's table (``dni_acc``, :func:`stored_accuracy`) and the depth
    sweep's runs with one SG in the middle (``middle``; ``middle_loss``: their training loss,
    :func:`.dni_table.middle_train_loss`)."""
    mean = {name: float(np.mean(v)) for name, v in acc.items()}
    over, gain = _paired(acc)
    out = {
        "acc_backprop": mean["backprop"],
        "acc_sg_middle": mean["SG middle, cDNI"],
        "acc_sg_every": mean["SG every layer, cDNI"],
        "gap_middle_points": 100 * (mean["backprop"] - mean["SG middle, cDNI"]),
        "gain_middle_points": 100 * float(gain["middle"].mean()),
        "gain_every_points": 100 * float(gain["every layer"].mean()),
        "acc_frozen_middle": mean[CONTROL["middle"]],
        "acc_frozen_every": mean[CONTROL["every layer"]],
        "margin_middle_min": 100 * float(over["middle"].min()),
        "margin_middle_max": 100 * float(over["middle"].max()),
        "margin_every_min": 100 * float(over["every layer"].min()),
        "margin_every_max": 100 * float(over["every layer"].max()),
    }
    if dni_acc:
        over_dni = _dni(dni_acc)["over"].values()
        out["dni_margin_min"] = min((float(v.min()) for v in over_dni), default=float("nan"))
        out["dni_margin_max"] = max((float(v.max()) for v in over_dni), default=float("nan"))
    if depths := _complete(middle or {}, MIDDLE):
        over_bp = [
            100 * float(np.mean(middle[d, MIDDLE[1]] - middle[d, MIDDLE[0]])) for d in depths
        ]
        out["middle_over_bp_min"], out["middle_over_bp_max"] = min(over_bp), max(over_bp)
        loss = {k: float(np.mean(v)) for k, v in (middle_loss or {}).items()}
        out["middle_train_loss"] = (
            "; ".join(
                f"{d} hidden layers: {loss[d, MIDDLE[1]]:.3f} against {loss[d, MIDDLE[0]]:.3f}"
                for d in depths
                if (d, MIDDLE[0]) in loss and (d, MIDDLE[1]) in loss
            )
            or "(not in the store)"
        )
    return out


def claims(
    acc: Mapping[str, np.ndarray],
    dni_acc: Mapping[tuple[int, str], np.ndarray] | None = None,
    dni_scale: str = "",
    middle: Mapping[tuple[int, str], np.ndarray] | None = None,
    middle_scale: str = "",
) -> list[ledger.Claim]:
    """The chapter's claims from each method's final held-out accuracy per seed (``acc``, keyed
    as :data:`METHODS`) and, where the store holds them, the DNI paper's table (``dni_acc``) and
    the depth sweep's runs with one SG in the middle (``middle``): C1.4p and the verdicts of
    record of C1.1-C1.3 (:func:`stored_claims`)."""
    gap_middle = float(np.mean(acc["backprop"]) - np.mean(acc["SG middle, cDNI"]))
    over, gain = _paired(acc)
    sg, every = acc["SG middle, cDNI"], acc["SG every layer, cDNI"]
    out = [
        ledger.Claim(
            "C1.1",
            "One SG in the middle of an MNIST MLP reaches held-out accuracy close to backprop's.",
            "final held-out accuracy, paired per seed: SG middle (cDNI) minus backprop; SG middle minus its control (layers below the SG frozen)",
            "95% interval of SG minus backprop above -2 percentage points, and of SG minus its control above +1 point",
            ledger.judge(
                stats.all_of(
                    backprop=stats.paired(sg, acc["backprop"], margin=-0.02),
                    control=stats.paired(sg, acc[CONTROL["middle"]], margin=0.01),
                )
            ),
            {
                "backprop": acc["backprop"],
                "sg_middle_cdni": sg,
                "gap": gap_middle,
                "control": acc[CONTROL["middle"]],
                "over_control": over["middle"],
            },
            source="DNI paper",
        ),
        ledger.Claim(
            "C1.2",
            "SGs after every hidden layer, with bootstrapped targets, still train the network.",
            "final held-out accuracy of SG every layer (cDNI) minus its control (no hidden layer learns: random features, trained output), paired per seed",
            "95% interval above +1 percentage point",
            ledger.judge(stats.paired(every, acc[CONTROL["every layer"]], margin=0.01)),
            {
                "sg_every_cdni": every,
                "control": acc[CONTROL["every layer"]],
                "over_control": over["every layer"],
            },
            source="DNI paper",
        ),
        ledger.Claim(
            "C1.3",
            "Conditioning the SG on the label (cDNI) helps compared with an unconditioned SG.",
            "paired (same seed) final held-out accuracy, cDNI minus DNI, for both placements",
            "95% interval above 0 in both placements",
            ledger.judge(
                {
                    place: stats.paired(acc[f"SG {place}, cDNI"], acc[f"SG {place}, DNI"])
                    for place in CONTROL
                },
                regime="cDNI better with the SG {held}; not shown with the SG {failed}",
            ),
            {f"gain_{k.replace(' ', '_')}": v for k, v in gain.items()},
            source="DNI paper",
        ),
    ]
    if dni_acc:
        out.append(claim_dni_table(dni_acc, dni_scale))
    return out + stored_claims(dni_acc or {}, dni_scale, middle or {}, middle_scale)


def _complete(acc: Mapping[tuple[int, str], np.ndarray], methods: tuple[str, ...]) -> list[int]:
    """The depths of a stored table (per (depth, method)) where every one of ``methods`` is made."""
    return sorted({d for d, _ in acc if all((d, m) in acc for m in methods)})


def stored_claims(
    dni_acc: Mapping[tuple[int, str], np.ndarray],
    dni_scale: str,
    middle: Mapping[tuple[int, str], np.ndarray],
    middle_scale: str,
) -> list[ledger.Claim]:
    """C1.1p, C1.2p, C1.3p-every: the verdicts of record of C1.1, C1.2 and of C1.3 with the SG
    after every layer (BOOK.md section 6, "which run decides"; the store has no unconditioned SG
    in the middle, so C1.3 itself stays the book run's), by the book run's own criteria, on the store's paper-scale runs at 5 seeds: one
    SG in the middle (``middle``: the depth sweep's, :func:`.dni_table.middle_accuracy`) and an
    SG after every layer (``dni_acc``: the DNI table, :func:`dni_evidence`); each at every depth
    the store holds in full, and only where it does."""
    out = []
    mid = dict(zip(("backprop", "SG", "control"), MIDDLE, strict=True))
    if depths := _complete(middle, MIDDLE):
        ends = {(d, k): middle[d, m] for d in depths for k, m in mid.items()}
        out.append(
            ledger.Claim(
                "C1.1p",
                "One SG in the middle of an MNIST MLP reaches held-out accuracy close to backprop's (at the paper's scale).",
                "paper-scale store, final held-out accuracy paired per seed at each depth it holds: SG middle (cDNI) minus backprop; SG middle minus its control (layers below the SG frozen)",
                "as C1.1: 95% interval of SG minus backprop above -2 percentage points, and of SG minus its control above +1 point, at every such depth",
                _by_depth(
                    {
                        d: stats.all_of(
                            backprop=stats.paired(ends[d, "SG"], ends[d, "backprop"], margin=-0.02),
                            control=stats.paired(ends[d, "SG"], ends[d, "control"], margin=0.01),
                        )
                        for d in depths
                    }
                ),
                {f"{d} {k}": ends[d, k] for d in depths for k in mid},
                source="DNI paper",
                scale=middle_scale,
            )
        )
    if depths := _complete(dni_acc, STORED):
        every = {d: dni_acc[d, "cDNI"] for d in depths}
        out += [
            ledger.Claim(
                "C1.2p",
                "SGs after every hidden layer, with bootstrapped targets, still train the network (at the paper's scale).",
                "paper-scale store, at each depth it holds in full: final held-out accuracy of SG every layer (cDNI) minus its control (no hidden layer learns), paired per seed",
                "as C1.2: 95% interval above +1 percentage point, at every such depth",
                _by_depth(
                    {
                        d: stats.paired(every[d], dni_acc[d, analysis.CONTROL_EVERY], margin=0.01)
                        for d in depths
                    }
                ),
                {f"{d} cDNI": every[d] for d in depths}
                | {f"{d} control": dni_acc[d, analysis.CONTROL_EVERY] for d in depths},
                source="DNI paper",
                scale=dni_scale,
            ),
            ledger.Claim(
                "C1.3p-every",
                "Conditioning the SG on the label (cDNI) helps compared with an unconditioned SG (SG after every layer, at the paper's scale; the store has no unconditioned SG in the middle, so that placement is the book run's alone).",
                "paper-scale store, at each depth it holds in full: final held-out accuracy, SG every layer, cDNI minus DNI, paired per seed",
                "as C1.3: 95% interval above 0, at every such depth",
                _by_depth({d: stats.paired(every[d], dni_acc[d, "DNI"]) for d in depths}),
                {f"{d} cDNI": every[d] for d in depths}
                | {f"{d} DNI": dni_acc[d, "DNI"] for d in depths},
                source="DNI paper",
                scale=dni_scale,
            ),
        ]
    return out


def _by_depth(parts: Mapping[int, Any]) -> Verdict:
    """A stored claim judged at each depth the store holds in full (C1.1p-C1.4p): it holds in
    part where some depths hold, and the page names them."""
    return ledger.judge(
        parts,
        regime="the store's complete depths: {depths} hidden layers; holds at {held}; not shown at {failed}",
        depths=ledger.listing(list(parts)),
    )


def claim_dni_table(dni_acc: Mapping[tuple[int, str], np.ndarray], scale: str) -> ledger.Claim:
    """C1.4p: the DNI paper's MNIST table, judged at every depth the store holds in full."""
    d = _dni(dni_acc)
    err = d["mean_error"]
    parts = {  # the table's three comparisons at each depth the store holds in full, per seed
        depth: stats.all_of(
            backprop=stats.paired(dni_acc[depth, "cDNI"], dni_acc[depth, "backprop"], margin=-0.01),
            DNI=stats.paired(dni_acc[depth, "cDNI"], dni_acc[depth, "DNI"]),
            control=stats.paired(
                dni_acc[depth, "cDNI"], dni_acc[depth, analysis.CONTROL_EVERY], margin=0.01
            ),
        )
        for depth in d["depths"]
    }
    verdict = _by_depth(parts)
    return ledger.Claim(
        "C1.4p",
        "With an SG after every layer, cDNI trains MLPs of 3 to 6 hidden layers to about backprop's error; DNI, without the label, does worse.",
        "paper-scale store, at every depth it holds all four runs, final held-out accuracy paired per seed: cDNI minus backprop, cDNI minus DNI, cDNI minus its control (no hidden layer learns)",
        "95% intervals: cDNI minus backprop above -1 percentage point, cDNI minus DNI above 0, cDNI minus its control above +1 point, at every such depth",
        verdict,
        {
            "mean_error": {f"{depth} {m}": v for (depth, m), v in err.items()},
            "depths": d["depths"],
            "cdni_over_control_points": d["over"],
        },
        source="DNI paper",
        scale=scale,
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
    on :func:`dni_evidence`; C1.1p, C1.2p, C1.3p-every on it and on ``middle``,
    :func:`.dni_table.middle_accuracy`, whose training loss ``middle_loss`` the prose quotes),
    the ledger written and every number glued; returns the claims table."""
    acc = {name: analysis.end_value(h) for name, h in runs.items()}
    dni_acc, scale = dni_evidence(stored, registered, registered_scale)
    found = claims(acc, dni_acc, scale, middle, MIDDLE_SCALE)
    return chapters.finish(p, found, numbers(acc, dni_acc, middle, middle_loss))
