"""The book's one figure style, and the plots chapters share."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

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
    from .analysis import long_form

    fig, ax = plt.subplots(figsize=figsize)
    curves(long_form(runs, "test_acc"), "test_acc", ax, "held-out accuracy")
    ax.set_ylim(0.0, 1.0)
    ax.set_title(title)
    fig.tight_layout()
    return fig
