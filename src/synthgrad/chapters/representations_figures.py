"""Chapter 5's figures and tables: the sweep's curves and steps to the threshold, RDMs, RDM
similarity, weight norms and probes per layer, section (c2)'s wide networks, the store's runs
(Figure 2b, 2c) and the table of the numbers behind the claims. The widgets' runs are in
:mod:`.representations_widgets`, imported here so that the notebook finds them as
``figures.train_widget``, ``figures.live_pair``, ``figures.WIDGET_LABELS`` and
``figures.LIVE_GRID``."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from .. import analysis, plots, representations
from ..models import Net
from ..train import History
from . import representations as ch
from . import representations_store as paper_store
from .representations import Key
from .representations_widgets import LIVE_GRID as LIVE_GRID  # the notebook's widgets
from .representations_widgets import WIDGET_LABELS as WIDGET_LABELS
from .representations_widgets import live_pair as live_pair
from .representations_widgets import train_widget as train_widget

# ---- curves and steps to the threshold ---------------------------------------------------------


def curve_panels(
    panels: Mapping[str, Mapping[str, History]], threshold: float, title: str, every: int = 1
) -> plt.Figure:
    """Training loss (running mean over 25 steps, drawn every ``every`` steps; dotted: the
    threshold) above held-out accuracy, one column per panel (title -> runs by method)."""
    fig, axes = plt.subplots(
        2, len(panels), figsize=(3.2 * len(panels), 6), sharey="row", squeeze=False
    )
    for j, (name, runs) in enumerate(panels.items()):
        df = analysis.frames(runs, smooth=25, metrics=["loss", "test_acc"])
        if every > 1:
            df = df[df.step % every == 0]
        plots.curves(df, "loss", axes[0, j], "training loss (nats)", logy=True)
        plots.curves(df, "test_acc", axes[1, j], "held-out accuracy")
        axes[0, j].axhline(threshold, color="k", lw=0.6, ls=":")
        axes[0, j].set_title(name)
        axes[1, j].set_ylim(0, 1)
        for ax in axes[:, j]:
            if j or ax is axes[1, 0]:
                ax.get_legend().remove()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def figure_curves(runs: Mapping[Key, History], p: SimpleNamespace) -> plt.Figure:
    """Figure 1: training loss and held-out accuracy of every method, for each depth."""
    return curve_panels(
        {f"{d} hidden layers": {m: runs[d, m] for m in ch.methods(p)} for d in p.depths},
        p.loss_threshold,
        f"MNIST ({p.scale}), width {p.width}, {p.activation} + batch norm; mean over {p.n_seeds} seeds, band: lowest to highest seed",
    )


def reach(steps: Mapping[Key, np.ndarray], p: SimpleNamespace) -> pd.DataFrame:
    """Steps to the loss threshold in long form: a row per (method, depth, seed)."""
    return pd.DataFrame(
        [
            {"method": m, "depth": d, "seed": s, "steps": v}
            for d in p.depths
            for m in ch.compared(p)
            for s, v in zip(p.seeds, steps[d, m], strict=True)
        ]
    )


def median_steps(steps: Mapping[Key, np.ndarray], p: SimpleNamespace) -> pd.DataFrame:
    """The median seed's steps to the threshold, per depth (rows) and compared method."""
    return reach(steps, p).groupby(["depth", "method"])["steps"].median().unstack()[ch.compared(p)]


def figure_steps(steps: Mapping[Key, np.ndarray], p: SimpleNamespace) -> plt.Figure:
    """Figure 2: steps until the running training loss reaches the threshold, by depth."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    plots.steps_figure(reach(steps, p), ax, p.loss_threshold, p.steps)
    fig.tight_layout()
    return fig


def steps_table(
    steps: Mapping[Key, np.ndarray], runs: Mapping[Key, History], p: SimpleNamespace
) -> Styler:
    """Figure 2's table: the median steps to the threshold and the final held-out accuracy."""
    final_acc = pd.DataFrame(
        {m: [runs[d, m].final("test_acc").mean() for d in p.depths] for m in ch.methods(p)},
        index=pd.Index(p.depths, name="depth"),
    )
    return (
        pd.concat(
            {"median steps to threshold": median_steps(steps, p),
             "final held-out accuracy (mean)": final_acc}, axis=1,
        )
        .style.format(
            lambda v: f"{v:.0f}" if np.isfinite(v) else f"not in {p.steps}",
            subset=pd.IndexSlice[:, "median steps to threshold"],
        )
        .format("{:.2%}", subset=pd.IndexSlice[:, "final held-out accuracy (mean)"])
    )  # fmt: skip


# ---- the store (Figure 2b, 2c) ------------------------------------------------------------------


def figure_store_curves(
    runs: Mapping[paper_store.Label, History], p: SimpleNamespace
) -> list[plt.Figure]:
    """Figure 2b: per activation, training loss and held-out accuracy at every stored depth."""
    figs = []
    for act in paper_store.activations(runs):  # one figure per activation: a column per depth
        act_depths = sorted({d for a, d, _ in runs if a == act})
        panels = {
            f"{act}, {depth} hidden layers, width 256": {
                m: h for (a, d, m), h in runs.items() if (a, d) == (act, depth)
            }
            for depth in act_depths
        }
        title = (
            f"Paper scale (results store), {act}: mean over 3 seeds, band from lowest to highest"
        )
        # every 25th step of the running mean is enough to draw
        figs.append(curve_panels(panels, paper_store.THRESHOLD, title, every=25))
    return figs


def store_table(runs: Mapping[paper_store.Label, History], p: SimpleNamespace) -> Styler | None:
    """Per activation, depth and method, the spread over seeds of the final accuracy, the
    final training loss and the steps to the loss threshold (None: no stored run)."""
    if not runs:
        return None
    paper_table = pd.DataFrame(
        [
            {"activation": a, "depth": d, "method": m, "seed": s, "final held-out accuracy": acc,
             "final training loss": loss, "steps to threshold": steps}
            for (a, d, m), h in runs.items()
            for s, acc, loss, steps in zip(
                h.seeds, h.final("test_acc"), h.train["loss"][-25:].mean(0),
                analysis.steps_to(h, "loss", paper_store.THRESHOLD), strict=True,
            )
        ]
    )  # fmt: skip
    return (
        paper_table.groupby(["activation", "depth", "method"])[
            ["final held-out accuracy", "final training loss", "steps to threshold"]
        ]
        .agg(
            [
                ("min", lambda v: v.min(skipna=False)),
                ("median", lambda v: v.median(skipna=False)),
                ("max", lambda v: v.max(skipna=False)),
            ]
        )  # a diverged seed (NaN) shows, never skipped
        .style.format(precision=3)
        .set_caption("Paper scale, per activation, depth and method: over the 3 seeds")
    )


def figure_store_sg_losses(paper: paper_store.Paper) -> plt.Figure | None:
    """Figure 2c: each SG's regression loss at the end of training in the networks with an SG
    after every hidden layer, bottom to top (None: the store holds none)."""
    if not paper.sg_loss:
        return None
    acts = paper_store.activations(paper.acc)
    fig, axes = plt.subplots(1, len(acts), figsize=(5 * len(acts), 3.4),
                             squeeze=False, sharey=True)  # fmt: skip
    for ax, act in zip(axes[0], acts, strict=True):
        for (a, depth), last in sorted(paper.sg_loss.items()):
            if a == act:
                ax.plot(np.arange(1, depth + 1), last, marker=".", label=f"{depth} hidden layers")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.set_xlabel("the SG after hidden layer")
        ax.set_title(f"{act}: an SG after every hidden layer")
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("SG regression loss (last 100 steps)")
    fig.tight_layout()
    return fig


# ---- layers: RDMs, similarity, norms, probes ------------------------------------------------


def _sg_at(p: SimpleNamespace) -> dict[str, float]:
    """Where the dashed line (the SG) goes in each depth's panel."""
    return {f"{d} hidden layers": ch.sg_block(d) + 1.5 for d in p.depths}


def figure_rdms(
    measures: Mapping[Key, representations.LayerMeasures], p: SimpleNamespace
) -> plt.Figure:
    """Figure 3: the RDM of every layer of the ``rdm_depth`` networks, one seed."""
    names = [str(k) for k in range(1, p.rdm_depth + 1)] + ["output"]
    fig = plots.rdm_grid({m: measures[p.rdm_depth, m].rdms[0] for m in ch.compared(p)}, names)
    fig.suptitle(
        f"RDMs of every layer, {p.rdm_depth} hidden layers, seed {p.seeds[0]}: "
        f"{p.rdm_per_class} held-out images per class, sorted by class (0 to 9)",
        y=1.0,
    )
    return fig


def figure_similarity(
    measures: Mapping[Key, representations.LayerMeasures], p: SimpleNamespace
) -> plt.Figure:
    """Figure 4: each hidden layer's RDM similarity to the output layer, for every depth."""
    similarity = {
        f"{d} hidden layers": {m: measures[d, m].similarity for m in ch.compared(p)}
        for d in p.depths
    }
    fig, _ = plots.layer_panels(
        similarity,
        "RDM similarity to the output",
        marks=_sg_at(p),
        title="How alike each hidden layer's RDM is to the output layer's (Spearman); dashed: the SG",
    )
    return fig


def figure_norms(
    measures: Mapping[Key, representations.LayerMeasures], p: SimpleNamespace
) -> plt.Figure:
    """Figure 5: the effective weight norm of each hidden-to-hidden layer, for every depth."""
    norms = {
        f"{d} hidden layers": {m: measures[d, m].norms[:, 1:d] for m in ch.compared(p)}
        for d in p.depths
    }
    fig, _ = plots.layer_panels(
        norms,
        "effective weight norm",
        first=2,
        marks=_sg_at(p),
        title="Effective weight norm of the hidden-to-hidden layers (2 to L); dashed: the SG",
    )
    return fig


def moved_table(moved: pd.DataFrame) -> Styler:
    """Figure 5's table: how far the raw weights moved from their initialisation."""
    return moved.style.format("{:.0%}").set_caption(
        "How far the raw weights moved from their initialisation: "
        "|W - W0| / |W0|, mean over layers and seeds"
    )


def figure_probes(
    measures: Mapping[Key, representations.LayerMeasures], pixels: float, p: SimpleNamespace
) -> plt.Figure:
    """Figure 6: held-out accuracy of a linear probe on each hidden layer; dotted: pixels."""
    probes = {
        f"{d} hidden layers": {m: measures[d, m].probes for m in ch.compared(p)} for d in p.depths
    }
    fig, axes = plots.layer_panels(
        probes,
        "linear probe held-out accuracy",
        marks=_sg_at(p),
        title="Held-out accuracy of a linear classifier on each hidden layer; dotted: on the pixels",
    )
    for ax in axes[0]:
        ax.axhline(pixels, color="k", lw=0.8, ls=":")
    return fig


# ---- section (c2): the wide networks ---------------------------------------------------------


def figures_wide(
    wide_measures: Mapping[Key, representations.LayerMeasures], p: SimpleNamespace
) -> list[plt.Figure]:
    """Figures 5b to 5e: per activation every layer's RDM (one seed, each rule), then each
    hidden layer's RDM similarity to the output and the effective weight norms."""
    rules_ = ch.wide_methods(p)
    figs = []
    wide_names = [str(k) for k in range(1, p.wide_depth + 1)] + ["output"]
    for act in ch.ACTIVATIONS:  # every layer's RDM, one seed, each rule (Figure 3, wide)
        fig = plots.rdm_grid({m: wide_measures[act, m].rdms[0] for m in rules_}, wide_names)
        fig.suptitle(
            f"{act}, {p.wide_depth} x {p.wide_width}: RDMs of every layer, seed {p.seeds[0]} "
            f"(rows: {', '.join(rules_)})",
            y=1.0,
        )
        figs.append(fig)
    panel = {act: f"{act}, {p.wide_depth} x {p.wide_width}" for act in ch.ACTIVATIONS}
    wide_at = {panel[act]: ch.sg_block(p.wide_depth) + 1.5 for act in ch.ACTIVATIONS}
    fig, _ = plots.layer_panels(
        {panel[act]: {m: wide_measures[act, m].similarity for m in rules_} for act in ch.ACTIVATIONS},
        "RDM similarity to the output",
        marks=wide_at,
        title="At the paper's width: each hidden layer's RDM similarity to the output; dashed: the middle SG",
    )  # fmt: skip
    figs.append(fig)
    fig, _ = plots.layer_panels(
        {panel[act]: {m: wide_measures[act, m].norms[:, 1:p.wide_depth] for m in rules_}
         for act in ch.ACTIVATIONS},
        "effective weight norm",
        first=2,
        marks=wide_at,
        title="At the paper's width: effective weight norm of the hidden-to-hidden layers",
    )  # fmt: skip
    figs.append(fig)
    return figs


def wide_table(wide: Mapping[Key, tuple[Net, History]], w: ch.Wide) -> Styler:
    """Section (c2)'s table: per activation and rule, final accuracy and training loss,
    diverged seeds, RDM similarity below the middle SG and the norm slope."""
    slope = w.slope
    table = pd.DataFrame(
        [
            {
                "activation": act,
                "method": m,
                "held-out accuracy, mean": h.final("test_acc").mean(),
                "lowest seed": h.final("test_acc").min(),
                "training loss (last 25 steps)": np.mean(h.train["loss"][-25:]),
                "diverged seeds": int(h.diverged.sum()),
                "RDM similarity below the SG": w.below_sim[act, m].mean(),
                "norm slope": slope[act, m],
            }
            for (act, m), (_, h) in wide.items()
        ]
    ).set_index(["activation", "method"])
    return (
        table.style.format("{:.3f}")
        .format("{:.2%}", subset=["held-out accuracy, mean", "lowest seed"])
        .format("{:d}", subset=["diverged seeds"])
    )


# ---- the numbers behind the claims -------------------------------------------------------------


def verdicts_table(s: ch.Sweep, p: SimpleNamespace) -> Styler:
    """Per depth: the numbers behind C5.1 to C5.4, and the probes."""
    v, sg, gap = ch.sweep_results(p, s), ch.sg_name(p.conditioned), ch.matched_gap(p, s)
    median = median_steps(s.steps, p)
    verdicts = pd.DataFrame(
        {
            "steps to threshold, backprop": median["backprop"],
            "steps to threshold, SG": median[sg],
            "accuracy over control, min (points)": 100 * v["over_control"].min(1),
            "at the loss threshold: accuracy, SG minus backprop (points, median seed)": [
                100 * np.median(gap[d]) for d in p.depths
            ],
            "RDM similarity below the SG, backprop": [
                s.below_sim[d, "backprop"].mean() for d in p.depths
            ],
            "RDM similarity below the SG, SG": [s.below_sim[d, sg].mean() for d in p.depths],
            "RDM similarity, all layers, backprop": [
                s.mean_sim[d, "backprop"].mean() for d in p.depths
            ],
            "RDM similarity, all layers, SG": [s.mean_sim[d, sg].mean() for d in p.depths],
            "norm slope, backprop": [v["slope_mean"][d, "backprop"] for d in p.depths],
            "norm slope, SG": [v["slope_mean"][d, sg] for d in p.depths],
            "norm slope below the SG, backprop": [s.below_slope[d, "backprop"] for d in p.depths],
            "norm slope below the SG, SG": [s.below_slope[d, sg] for d in p.depths],
            "probe (mean over layers), backprop": [
                s.probes[d, "backprop"].mean() for d in p.depths
            ],
            "probe (mean over layers), SG": [s.probes[d, sg].mean() for d in p.depths],
        },
        index=pd.Index(p.depths, name="depth"),
    )
    return (
        verdicts.style.format("{:.3f}")
        .format("{:.0f}", subset=["steps to threshold, backprop", "steps to threshold, SG"])
        .set_caption("Per depth: the numbers behind C5.1 to C5.4, and the probes")
    )
