"""The book's one figure style, and the plots chapters share."""

from __future__ import annotations

import matplotlib.axis
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .analysis import frames

PALETTE = "colorblind"


def method_colours(names) -> dict:
    """A fixed, distinct colour per method name (up to ten), for figures that show subsets."""
    names = list(names)
    if len(names) > 10:
        raise ValueError(f"at most 10 methods get distinct colours, got {len(names)}")
    return dict(zip(names, sns.color_palette("tab10", len(names)), strict=True))


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
    palette: dict | None = None,
) -> plt.Axes:
    """Mean curve per ``hue`` with a band from the lowest to the highest seed (``palette``:
    a fixed colour per method, so that a method keeps its colour across figures; otherwise
    the theme's colours in the order the methods appear). Rows where ``y`` was not recorded
    (NaN in a tidy run table) are left out. Where some seeds of a curve have no finite value
    (they diverged) while others do, the mean of the seeds left is drawn dashed and the legend
    says so: it is not the mean over every seed. (What ``seaborn.lineplot`` with
    ``errorbar=("pi", 100)`` draws, computed with one groupby: several times faster.)"""
    finite = np.isfinite(pd.to_numeric(df[y], errors="coerce").to_numpy(dtype=float))
    data = df[finite]
    if hue is None:  # one curve, no legend
        groups = [(None, data, df)]
    else:
        levels = (data[hue].cat.categories if isinstance(data[hue].dtype, pd.CategoricalDtype)
                  else pd.unique(data[hue]))  # fmt: skip
        groups = [(level, data[data[hue] == level], df[df[hue] == level]) for level in levels]
    colours = palette or dict(
        zip([g for g, _, _ in groups], sns.color_palette(n_colors=len(groups)), strict=True)
    )
    partial = False
    for level, group, whole in groups:
        if len(group):
            s = group.groupby(x)[y].agg(["mean", "min", "max", "count"])
            # seeds of this curve: those with a value anywhere (a diverged seed has earlier ones)
            n = whole.dropna(subset=[y])["seed"].nunique() if "seed" in whole else s["count"].max()
            every = s["count"] >= n
            ax.plot(s.index, s["mean"].where(every), color=colours[level], label=level)
            if not every.all():
                partial = True
                joins = every & ~every.shift(-1, fill_value=True)  # the last point before a gap
                left = s["mean"].where(~every | joins)
                ax.plot(s.index, left, color=colours[level], ls="--")
            ax.fill_between(s.index, s["min"], s["max"], color=colours[level], alpha=0.2, lw=0)
    if partial:
        ax.plot([], [], color="grey", ls="--", label="mean of the seeds left (others diverged)")
    if hue is not None and groups:
        ax.legend(title=hue)
    # (as seaborn does: no axis label where a shared axis shows no tick labels)
    ax.set_xlabel(xlabel, visible=tick_labels_shown(ax.xaxis))
    ax.set_ylabel(ylabel, visible=tick_labels_shown(ax.yaxis))
    if logy:
        ax.set_yscale("log")
    return ax


def tick_labels_shown(axis: matplotlib.axis.Axis) -> bool:
    """Whether ``axis`` shows tick labels on either side, read from its tick settings (where
    ``plt.subplots(sharex=True)`` hides an inner axis's labels): asking for the labels
    themselves computes every tick, a third of the time a small figure takes to draw."""
    shown = axis.get_tick_params(which="major")
    sides = ("labelbottom", "labeltop", "labelleft", "labelright")
    return any(shown.get(side, False) for side in sides)


def mark_diverged(ax: plt.Axes, runs, palette: dict | None = None) -> plt.Axes:
    """Draw every diverged seed of ``runs`` (name -> History) as a cross at the top of the
    axes, at the step where it diverged: a diverged run is a result, not a gap in a curve."""
    colours = palette or method_colours(runs)
    top = ax.get_xaxis_transform()  # x in data, y in axes units
    shown = False
    for name, h in runs.items():
        for step in h.diverged_at[h.diverged]:
            ax.plot(step, 0.97, "x", color=colours[name], ms=9, mew=2, transform=top, clip_on=False)
            shown = True
    if shown:
        ax.text(0.01, 0.90, "x: diverged", transform=ax.transAxes, fontsize="small", color="0.3")
    return ax


def accuracy_figure(
    runs,
    title: str = "",
    figsize: tuple[float, float] = (6.0, 3.6),
    palette: dict | None = None,
) -> plt.Figure:
    """Held-out accuracy over training for a few runs (mean, band over seeds): the figure the
    chapter widgets switch between."""
    fig, ax = plt.subplots(figsize=figsize)
    curves(frames(runs), "test_acc", ax, "held-out accuracy", palette=palette)
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


def by_layer(df: pd.DataFrame, y: str, ax: plt.Axes, ylabel: str, title: str = "") -> plt.Axes:
    """A per-layer quantity (long form from :func:`synthgrad.analysis.per_layer_frame`): mean
    over seeds per method, band from the lowest to the highest seed, layer 1 the lowest."""
    sns.lineplot(data=df, x="layer", y=y, hue="method", errorbar=("pi", 100), marker="o", ax=ax)
    ax.set(xlabel="layer (1 = lowest)", ylabel=ylabel, title=title)
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    return ax


def rdm_grid(
    rdms: dict[str, np.ndarray], layer_names: list[str], columns: int = 11, size: float = 1.3
) -> plt.Figure:
    """Heatmaps of every layer's RDM (``rdms[method]`` is (layers, N, N)), one block of rows
    per method, all on one colour scale (0: identical, 2: anti-correlated)."""
    n_layers = len(layer_names)
    rows_each = -(-n_layers // columns)
    cols = min(columns, n_layers)
    fig, axes = plt.subplots(
        rows_each * len(rdms),
        cols,
        figsize=(size * cols, size * rows_each * len(rdms) + 0.6),
        squeeze=False,
    )
    image = None
    for m, (method, mats) in enumerate(rdms.items()):
        for k in range(rows_each * cols):
            ax = axes[m * rows_each + k // cols, k % cols]
            ax.set_xticks([])
            ax.set_yticks([])
            if k >= n_layers:
                ax.axis("off")
                continue
            image = ax.imshow(mats[k], cmap="viridis", vmin=0.0, vmax=2.0)
            ax.set_title(layer_names[k], fontsize="x-small", pad=2)
            if k == 0:
                ax.set_ylabel(method.replace(", ", ",\n"), fontsize="small")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="1 - correlation")
    return fig


def steps_figure(df: pd.DataFrame, ax: plt.Axes, threshold: float, budget: int) -> plt.Axes:
    """Steps to reach a training-loss threshold by depth and method (``df``: columns method,
    depth, seed, steps; ``inf`` for a run that never got there, drawn at the top as a cross)."""
    depths = sorted(df["depth"].unique())
    methods = list(df["method"].unique())
    reached = df[np.isfinite(df["steps"])]
    missed = df[~np.isfinite(df["steps"])]
    sns.pointplot(
        data=reached,
        x="depth",
        y="steps",
        hue="method",
        order=depths,
        hue_order=methods,
        errorbar=("pi", 100),
        dodge=0.3,
        ax=ax,
    )
    if len(missed):
        x = [
            depths.index(d) + (-0.15 if methods.index(m) == 0 else 0.15)
            for d, m in zip(missed["depth"], missed["method"], strict=True)
        ]
        ax.scatter(x, [budget] * len(x), marker="x", color="k", zorder=5)
        ax.axhline(budget, color="k", lw=0.5, ls=":")
        ax.text(0, budget, " not reached (x)", va="bottom", fontsize="small")
    ax.set(
        xlabel="hidden layers",
        ylabel="training steps",
        title=f"steps until the training loss is <= {threshold:g}",
    )
    return ax


def layer_panels(
    panels: dict,
    ylabel: str,
    title: str = "",
    first: int = 1,
    marks: dict | None = None,
) -> tuple[plt.Figure, np.ndarray]:
    """A per-layer quantity side by side: one panel per key of ``panels`` (e.g. a depth), each
    ``{method: (S, L) array}`` drawn by :func:`by_layer` with layers numbered from ``first``;
    ``marks[key]`` draws a dashed vertical line there (e.g. where the SG sits). One legend."""
    from .analysis import per_layer_frame

    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.4), squeeze=False)
    for j, (key, values) in enumerate(panels.items()):
        n_layers = next(iter(values.values())).shape[1]
        df = per_layer_frame(values, ylabel, list(range(first, first + n_layers)))
        by_layer(df, ylabel, axes[0, j], ylabel if j == 0 else "", str(key))
        if marks is not None:
            axes[0, j].axvline(marks[key], color="grey", lw=0.8, ls="--")
        if j:
            axes[0, j].get_legend().remove()
    fig.suptitle(title)
    fig.tight_layout()
    return fig, axes


def implied_slice(ax: plt.Axes, radii, implied, true, title: str = "") -> plt.Axes:
    """One 1-D slice of chapter 4: the true change of the loss above a layer and the change
    its SG implies, along the true descent direction (first seed and example)."""
    ax.plot(radii, true[:, 0, 0].numpy(), label="true loss above")
    ax.plot(radii, implied[:, 0, 0].numpy(), "--", label="SG-implied loss")
    ax.set_title(title, fontsize="small")
    return ax
