"""Chapter 3's figures and tables (:mod:`synthgrad.chapters.convergence` trains the runs they
draw), and its widget: its runs and its view."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from pandas.io.formats.style import Styler

from .. import analysis, implied, losses, plots, store
from .. import convergence as cv
from ..train import History
from .convergence import IN_2D, MODELS, eval_every
from .convergence_store import long_deep

# the widget: logistic regression (2-D) with each SG form against backprop
FORMS = ["linear SG", "loss-matched SG"]
LIVE_RATES = [1e-3, 3e-3, 1e-2, 3e-2]
WIDGET_LABELS = {"rate": "learning rate", "form": "SG form"}


def _outcome_style(table: pd.DataFrame, **number: str) -> Styler:
    """An outcomes table as the page shows it: distances in scientific notation."""
    return (
        table.style.format(precision=2, **number)
        .format("{:.1e}", subset=[c for c in table.columns if c.startswith(("final", "distance"))])
        .hide()
    )


def _clipped(df: pd.DataFrame, metric: str = "distance") -> pd.DataFrame:
    """Values below 1e-12 drawn at 1e-12 (a log scale cannot show 0)."""
    return df.assign(**{metric: df[metric].clip(lower=1e-12)})


def figure_models(runs: Mapping[tuple, History], p: SimpleNamespace) -> plt.Figure:
    """Figure 1: loss gap and distance to the optimum over training, each model (rows) and
    dimension."""
    fig, axes = plt.subplots(4, 4, figsize=(16, 13), sharex=True)
    for row, model in enumerate(MODELS):
        for col, (d, metric) in enumerate(
            [(2, "loss_gap"), (2, "distance"), (100, "loss_gap"), (100, "distance")]
        ):
            label = "loss minus optimal loss" if metric == "loss_gap" else "distance to the optimum"
            setting = {k[-1]: h for k, h in runs.items() if k[:2] == (model, d)}
            df = analysis.frames(setting)
            ax = axes[row, col]
            plots.curves(_clipped(df, metric), metric, ax, label, logy=True)
            plots.mark_diverged(ax, setting, plots.method_colours(setting))
            ax.set_title(f"{model}, {d}-D", fontsize="small")
            if (row, col) != (2, 0):
                ax.get_legend().remove()
    fig.suptitle(
        f"Full-batch Adam, lr {p.lr:g}; mean over {p.n_seeds} seeds (each its own data), band from lowest to highest (values below 1e-12 drawn at 1e-12)"
    )
    fig.tight_layout()
    return fig


def table_models(final_a: pd.DataFrame) -> Styler:
    """Table 1: every run of (a) and seed (:func:`~synthgrad.chapters.convergence.model_outcomes`)."""
    return _outcome_style(final_a, thousands=",")


def table_fixed(fixed: pd.DataFrame) -> Styler:
    """Table 1b: where each logistic-regression run with a linear SG ended
    (:func:`~synthgrad.chapters.convergence.fixed_points`)."""
    names = {"to_optimum": "end to optimum", "to_fixed_point": "end to SG fixed point",
             "fixed_point_from_optimum": "SG fixed point to optimum"}  # fmt: skip
    return (
        fixed.rename(columns=names)
        .style.hide(axis="index")
        .format(dict.fromkeys(names.values(), "{:.2e}"))
    )


def figure_diagnosis(diag: Mapping[str, History]) -> plt.Figure:
    """Figure 2: the deep linear network (squared error, 100-D) under each setting of the
    diagnosis: distance to the optimum and the SG's tracking error (the 2-D rows of Table 2
    are not drawn)."""
    diag = {name: h for name, h in diag.items() if not name.endswith(IN_2D)}
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.2), sharex=True)
    colours = plots.method_colours(diag)
    df = analysis.frames(diag)
    plots.curves(_clipped(df), "distance", axes[0], "distance to the optimum", logy=True,
                 palette=colours)  # fmt: skip
    plots.mark_diverged(axes[0], diag, colours)
    plots.curves(df.dropna(subset=["tracking"]), "tracking", axes[1],
                 "SG tracking error |s - g| / |g|", logy=True, palette=colours)  # fmt: skip
    axes[1].axhline(1.0, color="k", lw=0.8, ls="--")
    axes[1].get_legend().remove()
    sns.move_legend(axes[0], "upper left", bbox_to_anchor=(2.25, 1), fontsize="small", title="")
    fig.suptitle("deep linear network, squared error, 100-D")
    fig.tight_layout()
    return fig


def table_diagnosis(table_diag: pd.DataFrame) -> Styler:
    """Table 2: every setting of the diagnosis and seed."""
    return _outcome_style(table_diag)


def figure_separable(sep_runs: Mapping[tuple, History]) -> plt.Figure:
    """Figure 3: training loss of logistic regression on separable labels, each dimension."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, d in zip(axes, (2, 100), strict=True):
        setting = {m: h for (dd, m), h in sep_runs.items() if dd == d}
        plots.curves(analysis.frames(setting), "train_loss", ax, "training log loss", logy=True)
        plots.mark_diverged(ax, setting, plots.method_colours(setting))
        ax.set_title(f"separable labels, {d}-D")
    fig.tight_layout()
    return fig


def _first_seed(sg: torch.nn.Module) -> Callable[..., torch.Tensor]:
    """A seed-batched SG as the first seed's alone (its parameters cut to seed 0), for a figure
    that shows one seed."""
    first = {k: v[:1] for k, v in (*sg.named_parameters(), *sg.named_buffers())}
    return lambda *args: torch.func.functional_call(sg, first, args)


def _sgs(trained: Mapping[tuple, tuple]) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The linear and the loss-matched SG of logistic regression, 2-D."""
    lin_sg = trained["logistic regression", 2, "linear SG"][1].sgs[0]
    matched_sg = trained["logistic regression", 2, "loss-matched SG"][1].sgs[0]
    return lin_sg, matched_sg


def implied_coefficients(trained: Mapping[tuple, tuple], p: SimpleNamespace) -> pd.DataFrame:
    """The table of Figure 4a: the linear SG's a, b, c on every seed (logistic regression, 2-D)."""
    q = implied.quadratic(_sgs(trained)[0])
    return pd.DataFrame(
        {"seed": p.seeds, "a": q.A.flatten().numpy(), "b": q.B.flatten().numpy(),
         "c": q.C.flatten().numpy()}
    )  # fmt: skip


def figure_implied(trained: Mapping[tuple, tuple], p: SimpleNamespace) -> plt.Figure:
    """Figure 4a: the loss each trained SG implies along the logit, for each label, against
    the true log loss (first seed, 2-D)."""
    lin_sg, matched_sg = _sgs(trained)
    h = torch.linspace(-8, 8, 161).reshape(1, -1, 1).expand(p.n_seeds, -1, 1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for ax, label in zip(axes, (0.0, 1.0), strict=True):
        y_line = torch.full((h.shape[1], 1), label)
        true = losses.log_loss_each(h, y_line) - losses.log_loss_each(0 * h, y_line)
        ax.plot(h[0, :, 0], true[0], "k--", lw=2, label="true log loss")
        for name, module in (("linear SG", lin_sg), ("loss-matched SG", matched_sg)):
            ax.plot(
                h[0, :, 0],
                implied.implied_loss_1d(module, h, y_line)[0],
                label=f"implied by the {name}",
            )
        ax.set(
            xlabel="logit h", ylabel="loss minus its value at h = 0", title=f"label y = {label:g}"
        )
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def _boundary(ax: plt.Axes, xs: torch.Tensor, plane: torch.Tensor, w: torch.Tensor, x, y) -> None:
    """The predicted probability of weights ``w`` over the plane, the points and the boundary."""
    prob = torch.sigmoid(plane @ w).reshape(len(xs), len(xs))
    ax.contourf(xs, xs, prob, levels=20, cmap="RdBu_r", alpha=0.6, vmin=0, vmax=1)
    ax.scatter(x[:, 0], x[:, 1], c=y[:, 0], cmap="RdBu_r", s=6, edgecolors="k", linewidths=0.2)
    ax.contour(xs, xs, (plane @ w).reshape(len(xs), len(xs)), levels=[0], colors="k")


def figure_plane(
    problems: Mapping[tuple[str, int], cv.Problem],
    separable: Mapping[int, cv.Problem],
    trained: Mapping[tuple, tuple],
    sep_trained: Mapping[tuple, tuple],
    p: SimpleNamespace,
) -> plt.Figure:
    """Figure 4b: on the first seed's 2-D problems, each method's decision boundary (top), the
    loss it descends over the two weights (middle), and its boundary on separable labels."""
    lin_sg, matched_sg = _sgs(trained)
    first = problems["log", 2]
    x2, y2, w_star = first.data.x_train[0], first.data.y_train[0], first.w_star[0, :, 0]
    span = 2.0 * float(w_star.norm())
    w1 = torch.linspace(float(w_star[0]) - span, float(w_star[0]) + span, 61, dtype=torch.float64)
    w2 = torch.linspace(float(w_star[1]) - span, float(w_star[1]) + span, 61, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(w1, w2, indexing="xy"), -1).reshape(-1, 2).float()
    logits = (x2 @ grid.T).T.reshape(1, -1, 1)  # every w, every example: the first seed's
    labels = y2.repeat(len(grid), 1)
    descended = {
        "backprop": losses.log_loss_each(logits, labels),
        "linear SG": implied.implied_loss_1d(_first_seed(lin_sg), logits, labels),
        "loss-matched SG": implied.implied_loss_1d(_first_seed(matched_sg), logits, labels),
    }
    xs = torch.linspace(-3.5, 3.5, 101)
    plane = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    sep_x, sep_y = separable[2].data.x_train[0], separable[2].data.y_train[0]
    fig, axes = plt.subplots(3, 3, figsize=(15, 14))
    for col, (name, per_example) in enumerate(descended.items()):
        net = trained["logistic regression", 2, name][0]
        w_end = net.blocks[0][0].weight.detach()[0, :, 0]
        ax = axes[0, col]
        _boundary(ax, xs, plane, w_end, x2, y2)
        ax.contour(xs, xs, (plane @ w_star).reshape(len(xs), len(xs)), levels=[0], colors="k",
                   linestyles="--")  # fmt: skip
        ax.set(title=f"{name}: decision boundary and P(y = 1)", xlabel="$x_1$", ylabel="$x_2$")
        w_sep = sep_trained[2, name][0].blocks[0][0].weight.detach()[0, :, 0]
        ax = axes[2, col]
        _boundary(ax, xs, plane, w_sep, sep_x, sep_y)
        ax.set(title=f"{name}, separable labels: |w| = {float(w_sep.norm()):.1f}", xlabel="$x_1$",
               ylabel="$x_2$")  # fmt: skip
        surface = per_example[0].reshape(len(grid), -1).mean(1).reshape(len(w2), len(w1))
        plots.landscape(
            axes[1, col], w1.numpy(), w2.numpy(), (surface - surface.min() + 1e-3).numpy(),
            critical=w_star[None].numpy(), ends=w_end[None].numpy(),
            title=f"the loss {name} descends (above its minimum)",
        )  # fmt: skip
    axes[1, 0].legend(fontsize="small", loc="lower left")
    fig.tight_layout()
    return fig


def figure_plane_100(problems: Mapping[tuple[str, int], cv.Problem], trained) -> plt.Figure:
    """Figure 4b in 100-D: on the first seed's 100-D logistic regression, each method's decision
    boundary (solid) and the optimum's (dashed) over the training examples and the predicted
    probability, on the plane through w* and the method's final weights
    (:func:`synthgrad.convergence.plane_through`), where both boundaries are exact."""
    first = problems["log", 100]
    x, y, w_star = first.data.x_train[0], first.data.y_train[0], first.w_star[0, :, 0]
    xs = torch.linspace(-3.5, 3.5, 101)
    plane = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for ax, name in zip(axes, ("backprop", "linear SG", "loss-matched SG"), strict=True):
        w = trained["logistic regression", 100, name][0].blocks[0][0].weight.detach()[0, :, 0]
        basis = cv.plane_through(w_star, w)
        _boundary(ax, xs, plane, basis @ w, x @ basis.T, y)
        ax.contour(xs, xs, (plane @ (basis @ w_star)).reshape(len(xs), len(xs)), levels=[0],
                   colors="k", linestyles="--")  # fmt: skip
        cos = float(w @ w_star / (w.norm() * w_star.norm()))
        angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        ratio = float(w.norm() / w_star.norm())
        ax.set(title=f"{name}: {angle:.1f}° from $w^*$, $|w|$ = {ratio:.2f} $|w^*|$",
               xlabel="along $w^*$", ylabel="across $w^*$, towards $w$", xlim=(-3.5, 3.5),
               ylim=(-3.5, 3.5))  # fmt: skip
    fig.tight_layout()
    return fig


def figure_long(stored: store.Stored) -> plt.Figure | None:
    """Figure 4c: the store's 20,000 steps: training loss on separable labels (2-D, 100-D) and
    the deep linear network's distance to the optimum (None when the store holds none)."""
    long = stored.by_part()
    if not long:
        return None
    separable_long = {k: h for k, h in long.items() if k[0] == "separable"}
    deep_long = long_deep(stored)
    fig, axes = plt.subplots(1, 3, figsize=(16, 3.8))
    for ax, d in zip(axes[:2], ("2", "100"), strict=True):
        setting = {k[2]: h for k, h in separable_long.items() if k[1] == d}
        plots.curves(analysis.frames(setting), "train_loss", ax, "training log loss", logy=True)
        plots.mark_diverged(ax, setting, plots.method_colours(setting))
        ax.set_title(f"separable labels, {d}-D, 20,000 steps")
    if deep_long:
        df = analysis.frames(deep_long)
        plots.curves(_clipped(df), "distance", axes[2], "distance to the optimum", logy=True)
        plots.mark_diverged(axes[2], deep_long, plots.method_colours(deep_long))
        axes[2].set_title("deep linear network, 100-D, 20,000 steps")
    fig.tight_layout()
    return fig


def table_long(stored: store.Stored) -> pd.DataFrame | None:
    """The table of Figure 4c: each stored deep run's seeds, judged on their rate (None when
    the store holds none)."""
    deep_long = long_deep(stored)
    return cv.summary(deep_long, ["run"]) if deep_long else None


def figure_tracking(tracking: pd.DataFrame) -> plt.Figure:
    """Figure 5: final distance to the optimum against the relative SG error, per error mode."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    plots.curves(
        tracking.assign(distance=tracking.final.clip(upper=1e3)),
        "distance",
        ax,
        "final distance to the optimum",
        x="error",
        xlabel="relative SG error  ε = |s - g| / |g|",
        hue="mode",
        logy=True,
    )
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    fig.tight_layout()
    return fig


def table_tracking(tracking: pd.DataFrame) -> pd.DataFrame:
    """The table of Figure 5: per error size and mode, the seeds that converge ("k/n")."""
    by_error = tracking.groupby(["error", "mode"]).apply(cv.share, include_groups=False)
    return by_error.unstack("mode").rename_axis(
        columns="seeds that converge (on rate), by error mode"
    )


def figure_phase(phase: pd.DataFrame) -> plt.Figure:
    """Figure 6: the phase diagram, the worst seed's log10 distance per model and SG learning
    rate ("diverged" where a seed diverged)."""
    grid = phase.pivot(index="SG lr", columns="model lr", values="distance")
    fig, ax = plt.subplots(figsize=(6.5, 5))
    notes = grid.map(lambda v: "diverged" if np.isinf(v) else f"{v:.0e}")
    sns.heatmap(
        np.log10(grid.replace(np.inf, np.nan).clip(lower=1e-12)),
        annot=notes,
        fmt="",
        cmap="viridis_r",
        vmin=-12,
        vmax=1,
        annot_kws={"fontsize": 7},
        cbar_kws={"shrink": 0.8},
        ax=ax,
    )
    for text in ax.texts:
        text.set_color("red" if text.get_text() == "diverged" else "white")
    ax.invert_yaxis()
    ax.set(
        xlabel="model learning rate",
        ylabel="SG learning rate",
        title="log10 distance to the optimum (worst seed)",
    )
    fig.tight_layout()
    return fig


def widget_view(
    widget_runs: Mapping[tuple[float, str], History], rate: float, form: str
) -> tuple[plt.Figure, str]:
    """The widget's panel: backprop and ``form`` at ``rate``, distance to the optimum, and each
    one's worst final distance."""
    pair = {"backprop": widget_runs[rate, "backprop"], form: widget_runs[rate, form]}
    df = analysis.frames(pair)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    plots.curves(_clipped(df), "distance", ax, "distance to the optimum", logy=True)
    ax.set_title(f"logistic regression, 2-D: {form}, lr {rate:g}")
    fig.tight_layout()
    worst = {m: cv.outcomes(h).final.max() for m, h in pair.items()}
    return (
        fig,
        f"final distance to the optimum, worst seed (inf: diverged): <b>{form}</b> {worst[form]:.2e}; backprop {worst['backprop']:.2e}",
    )


def widget_rates(p: SimpleNamespace) -> list[float]:
    """The precomputed widget's learning rates: the chapter's, a third of it and three times."""
    return sorted({p.lr / 3, p.lr, min(1.0, p.lr * 3)})


def train_widget(
    problems: Mapping[tuple[str, int], cv.Problem],
    runs: Mapping[tuple, History],
    p: SimpleNamespace,
) -> dict[tuple[float, str], History]:
    """The widget's runs: logistic regression (2-D), backprop and each of :data:`FORMS` at each
    of :func:`widget_rates`, over the first ``widget_steps`` steps (cut from (a)'s runs where
    they are the same); keyed ``(rate, method)``."""
    every = eval_every(p)
    shown = min(p.widget_steps, p.steps)  # the widget shows the first `widget_steps` steps
    return {
        (r, m): runs["logistic regression", 2, m].upto(shown)
        if r == p.lr and shown % every == 0
        else cv.train_on(
            problems["log", 2], 0, p.width, m, p.seeds, shown, r, p.sg_lr, eval_every=every
        )
        for r in widget_rates(p)
        for m in ["backprop", *FORMS]
    }


def rerun_widget(
    widget_runs: dict[tuple[float, str], History],
    problems: Mapping[tuple[str, int], cv.Problem],
    p: SimpleNamespace,
    rate: float,
    form: str,
) -> None:
    """The live widget: train backprop and ``form`` again at ``rate`` (half the chapter's steps,
    at least 10) and put them in ``widget_runs``."""
    for m in ("backprop", form):
        widget_runs[rate, m] = cv.train_on(
            problems["log", 2], 0, p.width, m, p.seeds, max(10, p.steps // 2), rate, p.sg_lr,
            eval_every=eval_every(p),
        )  # fmt: skip
