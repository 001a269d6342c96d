"""Chapter 6's figures, tables and widget panels (:mod:`synthgrad.chapters.unified_view` holds
the runs, numbers and claims)."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from pandas.io.formats.style import Styler

from .. import analysis, plots, train
from ..data import Dataset
from ..train import History
from .unified_view import COLOURS, RULES, late_alignment


def figure_accuracy(runs: Mapping[str, History], p: SimpleNamespace) -> plt.Figure:
    """Figure 1: held-out accuracy during training, every rule."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    plots.curves(analysis.frames(runs), "test_acc", ax, "held-out accuracy", palette=COLOURS)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    ax.set_title(
        f"MNIST ({p.scale}), {p.depth} x {p.width} ReLU; mean over {p.n_seeds} seeds, band: lowest to highest seed"
    )
    fig.tight_layout()
    return fig


def accuracy_table(runs: Mapping[str, History]) -> Styler:
    """Final held-out accuracy of every rule: mean, spread, lowest and highest seed."""
    summary = analysis.final_summary(runs, "test_acc")
    return summary.style.format(
        {"mean": "{:.2%}", "std": "{:.2%}", "min": "{:.2%}", "max": "{:.2%}"}
    ).set_caption("Final held-out accuracy over seeds")


def figure_alignment(runs: Mapping[str, History], p: SimpleNamespace) -> plt.Figure:
    """Figure 2: each rule's cosine with the true gradient during training, one panel per
    hidden layer."""
    layers = {
        k: f"hidden layer {k + 1}"
        + (" (top)" if k == p.depth - 1 else " (lowest)" if k == 0 else "")
        for k in range(p.depth)
    }
    df = analysis.frames(runs)
    fig, axes = plt.subplots(1, p.depth, figsize=(3.4 * p.depth, 3.6), sharey=True)
    for k, ax in enumerate(axes):
        plots.curves(
            df, f"align_{k}", ax, "cosine with the true gradient" if k == 0 else "", palette=COLOURS
        )
        ax.set_title(layers[k])
        ax.axhline(0, color="k", lw=0.5)
        if k < p.depth - 1:
            ax.get_legend().remove()
        else:
            ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle("Alignment of each rule's signal with the true gradient, per hidden layer")
    fig.tight_layout()
    return fig


def alignment_table(runs: Mapping[str, History], p: SimpleNamespace) -> Styler:
    """Each rule's cosine with the true gradient per layer, mean over seeds and over the second
    half of training (:func:`~synthgrad.chapters.unified_view.late_alignment`)."""
    late = late_alignment(runs, p)
    table = pd.DataFrame(
        {name: v.mean(0) for name, v in late.items()},
        index=[f"layer {k + 1}" for k in range(p.depth)],
    ).T
    return table.style.format("{:+.2f}").set_caption(
        "Cosine with the true gradient, mean over seeds and over the second half of training"
    )


def identities_table(identities: pd.DataFrame) -> Styler:
    """The identities (:func:`~synthgrad.chapters.unified_view.check_identities`) as the page
    shows them."""
    return identities.style.format(
        {"relative difference": "{:.1e}", "rule vs backprop": "{:.3f}"}
    ).set_caption(
        "Largest difference between the updates of the two implementations, relative to the largest "
        "update; last column: the same for the rule (FA: with its random feedback) against backprop"
    )


def figure_parity(odd_runs: Mapping[str, History], p: SimpleNamespace) -> plt.Figure:
    """Figure 3: the one-output task, held-out accuracy during training and each rule's
    alignment per layer over the second half of training."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    plots.curves(
        analysis.frames(odd_runs),
        "test_acc",
        axes[0],
        "held-out accuracy (odd or even)",
        palette=COLOURS,
    )
    axes[0].set_ylim(0.4, 1)
    axes[0].get_legend().remove()
    bars = analysis.per_layer_frame(late_alignment(odd_runs, p), "alignment")
    sns.barplot(
        data=bars,
        x="layer",
        y="alignment",
        hue="method",
        errorbar=("pi", 100),
        ax=axes[1],
        palette=COLOURS,
    )
    axes[1].set(
        xlabel="hidden layer (1 = lowest)",
        ylabel="cosine with the true gradient",
        title="alignment, second half of training",
    )
    axes[1].legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle("MNIST parity: one output")
    fig.tight_layout()
    return fig


def widget_panel(
    at: Mapping[tuple[str, float], History], rule: str, lr: float, p: SimpleNamespace
) -> tuple[plt.Figure, str]:
    """The precomputed widget at one point: ``rule`` against backprop (held-out accuracy) and
    the rule's alignment per layer, from the runs ``at`` (``train_widget``)."""
    pair = (
        {"backprop": at["backprop", lr], rule: at[rule, lr]}
        if rule != "backprop"
        else {"backprop": at["backprop", lr]}
    )
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    plots.curves(analysis.frames(pair), "test_acc", axes[0], "held-out accuracy", palette=COLOURS)
    axes[0].set_ylim(0, 1)
    signal = analysis.per_layer(
        at[rule, lr], "align_{}", {k: f"layer {k + 1}" for k in range(p.depth)}, "alignment"
    )
    plots.curves(signal, "alignment", axes[1], "cosine with the true gradient", hue="layer")
    axes[1].set_ylim(-1.05, 1.05)
    axes[1].get_legend().set_title("")
    fig.suptitle(f"{rule}, learning rate {lr:g}")
    fig.tight_layout()
    return fig, analysis.final_text(pair)


def live_panel(
    live_data: Dataset, rule: str, lr: float, p: SimpleNamespace
) -> tuple[plt.Figure, str]:
    """The live widget: ``rule`` and backprop retrained on one seed of ``live_data`` for
    ``live_steps`` steps."""
    kw = dict(
        hidden=[p.width] * p.depth,
        steps=p.live_steps,
        lr=lr,
        batch_size=p.batch_size,
        eval_every=20,
    )
    pair = {"backprop": train.fit(live_data, [p.seed], "backprop", **kw)}
    if rule != "backprop":
        pair[rule] = train.fit(live_data, [p.seed], **RULES[rule], **kw)
    return plots.accuracy_figure(
        pair, f"live: {rule}, learning rate {lr:g}", palette=COLOURS
    ), analysis.final_text(pair)
