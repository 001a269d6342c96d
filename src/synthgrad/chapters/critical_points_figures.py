"""Chapter 2's figures and tables (the runs they draw are made by
:mod:`synthgrad.chapters.critical_points`)."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from pandas.io.formats.style import Styler

from .. import critical, losses, optima, plots
from .critical_points import Logistic, Problems


def figure_landscapes(prob: Problems, a: Logistic, p: SimpleNamespace) -> plt.Figure:
    """Figure 1: the logistic problem's loss over the two weights, w*, the exact fixed points of
    the linear SG classes and the end points of joint training at the chapter's ``lr``, one
    panel per learning rule."""
    names = ["backprop", *prob.classes]
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.5))
    for ax, name in zip(axes.flat, names, strict=False):
        _landscape(ax, prob, a, name, p.lr, title=name)
    axes.flat[-1].axis("off")
    axes.flat[-1].legend(*axes.flat[2].get_legend_handles_labels(), loc="center")
    fig.suptitle(
        f"logistic problem: log loss (contours, log scale) and where learning ends; lr {p.lr:g}, {p.steps} steps"
    )
    fig.tight_layout()
    return fig


def _landscape(
    ax: plt.Axes, prob: Problems, a: Logistic, name: str, lr: float, title: str = ""
) -> plt.Axes:
    return plots.landscape(
        ax,
        a.w1.numpy(),
        a.w2.numpy(),
        a.surface.numpy(),
        critical=prob.w_star[None].numpy(),
        fixed=a.exact.get(name, torch.empty(0, 2)).numpy(),
        ends=a.runs[name, lr].numpy(),
        title=title,
    )


def table_logistic(prob: Problems, a: Logistic, p: SimpleNamespace) -> pd.DataFrame:
    """(a)'s table: per learning rule at the chapter's ``lr``, the end points' distance to w*,
    the exact fixed points in view, the size of the exact update at w* and the diverged runs."""
    x, y = prob.xy["logistic"]
    rows = []
    for name in ["backprop", *prob.classes]:
        kind = prob.classes.get(name, (None, None))[1]
        field = (
            critical.backprop_field(prob.w_star, x, y, losses.log_loss_elementwise)
            if name == "backprop"
            else critical.sg_field(prob.w_star, x, y, losses.log_loss_elementwise, kind)
            if kind
            else None
        )
        rows.append(
            {
                "learning": name,
                "median distance to w* (relative)": np.median(a.to_star[name, p.lr]),
                "max distance to w* (relative)": a.to_star[name, p.lr].max(),
                "exact fixed points in view": len(a.exact[name]) if name in a.exact else "-",
                "|update at w*|": float(field.detach().norm()) if field is not None else "-",
                "diverged runs": a.diverged[name, p.lr],
            }
        )
    return pd.DataFrame(rows).set_index("learning")


def field_table(fields: pd.DataFrame) -> Styler:
    """(b)'s table: the exact SG update at w_true per SG class and problem, absolute and
    relative to its size nearby."""
    return fields.style.format("{:.2e}").set_caption(
        "Exact SG update at w_true, and relative to its median size 10% of |w_true| away (computed in float64 on float32 data: about 1e-8 at a fixed point)"
    )


def figure_final_losses(final: pd.DataFrame) -> plt.Figure:
    """Figure 2: final training loss (:func:`~.critical_points.end_loss`) of joint training from
    every start, per learning rule, on the realisable and the noisy tanh problem (losses below
    1e-16 drawn at 1e-16)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for ax, problem in zip(axes, ("realisable", "noisy"), strict=True):
        sub = final[final.problem == problem].copy()
        sub["final loss"] = sub["final loss"].clip(lower=1e-16)
        sns.stripplot(
            data=sub,
            x="learning",
            y="final loss",
            ax=ax,
            hue="learning",
            legend=False,
            size=5,
            jitter=0.25,
        )
        ax.set(
            yscale="log",
            title=f"tanh, {problem}",
            xlabel="",
            ylabel="final training loss (log scale)",
        )
    fig.tight_layout()
    return fig


def figure_capacity(sweep: pd.DataFrame) -> plt.Figure:
    """Figure 3: the fixed point's distance to w* against the SG's capacity (mean over
    datasets, band from the lowest to the highest; the linear cDNI SG drawn at 1 feature)."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    plot_df = sweep.assign(**{"SG features": sweep["SG features"].replace(0, 1)})
    plots.curves(
        plot_df,
        "distance to w* (relative)",
        ax,
        "distance of the SG fixed point to w* (relative)",
        x="SG features",
        xlabel="SG capacity: random ReLU features (1 = linear cDNI SG)",
        hue=None,
        logy=True,
    )
    ax.set_xscale("log")
    fig.tight_layout()
    return fig


def shift_table(designs: pd.DataFrame) -> Styler:
    """(c)'s table: the linear cDNI SG's fixed-point shift per anisotropy and label flips."""
    table = designs.pivot(index="anisotropy", columns="label flips", values="shift")
    table.columns = [f"{f:.0%} flipped" for f in table.columns]
    table.index = [f"anisotropy {a:g}" for a in table.index]
    return table.style.format("{:.2%}").set_caption(
        "Distance of the linear cDNI SG's fixed point to w*, relative to |w*|"
    )


def figure_shift_by_size(by_n: pd.DataFrame) -> plt.Figure:
    """Figure 4: the linear cDNI SG's fixed point against the data size, one dot per draw and
    input distribution: its distance to w*, the training loss it costs, its effect on the
    held-out loss."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    for ax, (col, label) in zip(
        axes,
        [("shift", "distance of the fixed point to w* (relative)"),
         ("excess_train_loss", "training loss above the optimum's (nats)"),
         ("held_out_change", "held-out loss change (nats)")],
        strict=True,
    ):  # fmt: skip
        sns.stripplot(data=by_n, x="examples", y=col, hue="inputs", ax=ax, size=6, dodge=True)
        ax.set(ylabel=label, xlabel="training examples")
        if col != "held_out_change":
            ax.set_yscale("log")
        else:
            ax.axhline(0.0, color="k", lw=0.8)
    fig.tight_layout()
    return fig


def shift_medians(by_n: pd.DataFrame) -> pd.DataFrame:
    """Figure 4's table: medians over draws per input distribution and data size, with the
    length of the fixed point's weights relative to w* and the angle between them (degrees)."""
    return by_n.groupby(["inputs", "examples"])[
        ["shift", "excess_train_loss", "held_out_change", "norm_ratio", "angle"]
    ].median()


def panel(prob: Problems, a: Logistic, lr_value: float, sg_class: str) -> tuple[plt.Figure, str]:
    """The widgets' view of one SG class at one model learning rate: the landscape with its end
    points, and their median distance to w* and diverged runs."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    _landscape(ax, prob, a, sg_class, lr_value)
    ax.legend(loc="lower left", fontsize="small")
    ax.set_title(f"{sg_class}, lr {lr_value:g}")
    fig.tight_layout()
    distance = optima.relative_distance(a.runs[sg_class, lr_value], prob.w_star).numpy()
    text = (
        f"median distance of the end points to w*: <b>{np.median(distance):.2%}</b> of |w*|; "
        f"diverged runs: {a.diverged[sg_class, lr_value]} of {len(distance)}"
    )
    return fig, text
