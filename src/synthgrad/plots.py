"""The book's one figure style, and the plots chapters share."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .analysis import long_form

PALETTE = "colorblind"


def set_theme() -> None:
    """One seaborn theme for the whole book."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "axes.titlesize": "medium"})


def curves(
    df: pd.DataFrame,
    y: str,
    ax: plt.Axes,
    ylabel: str,
    x: str = "step",
    xlabel: str = "training step",
    hue: str = "method",
    logy: bool = False,
) -> plt.Axes:
    """Mean curve per ``hue`` with a band from the lowest to the highest seed."""
    sns.lineplot(data=df, x=x, y=y, hue=hue, errorbar=("pi", 100), ax=ax)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if logy:
        ax.set_yscale("log")
    return ax


def accuracy_figure(runs, title: str = "", figsize: tuple[float, float] = (6.0, 3.6)) -> plt.Figure:
    """Held-out accuracy over training for a few runs (mean, band over seeds): the figure the
    chapter widgets switch between."""
    fig, ax = plt.subplots(figsize=figsize)
    curves(long_form(runs, "test_acc"), "test_acc", ax, "held-out accuracy")
    ax.set_ylim(0.0, 1.0)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def landscape(
    ax: plt.Axes, w1, w2, surface, critical=None, fixed=None, ends=None, title: str = ""
) -> plt.Axes:
    """A two-weight loss landscape (log-spaced contours) with the backprop critical points
    (stars), the exact fixed points of SG learning (crosses) and end points of joint training
    (dots)."""
    z = np.log10(np.asarray(surface))
    ax.contourf(w1, w2, z, levels=20, cmap="Blues_r", alpha=0.8)
    ax.contour(w1, w2, z, levels=10, colors="white", linewidths=0.5)
    marks = (
        (
            ends,
            dict(
                s=18, c="tab:orange", edgecolors="k", linewidths=0.4, label="end of joint training"
            ),
        ),
        (fixed, dict(s=70, marker="x", c="tab:red", linewidths=2, label="SG fixed point (exact)")),
        (
            critical,
            dict(s=160, marker="*", c="gold", edgecolors="k", label="backprop critical point"),
        ),
    )
    for z_order, (points, style) in enumerate(marks, start=3):
        if points is not None and len(points):
            ax.scatter(points[:, 0], points[:, 1], zorder=z_order, **style)
    ax.set(xlabel="$w_1$", ylabel="$w_2$", title=title, xlim=(w1[0], w1[-1]), ylim=(w2[0], w2[-1]))
    return ax
