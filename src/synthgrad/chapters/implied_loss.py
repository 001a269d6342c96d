"""Chapter 4 (RQ2): what loss does an SG see?

One network, an SG after every hidden layer, trained on MNIST; every ``eval_every`` steps the
loss each SG implies is compared with the true loss of the layers above it, on straight paths
from held-out activations (:mod:`synthgrad.implied`). This module trains the run, draws its
figures and widgets, and decides the chapter's claims from the descent-path correlations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .. import analysis, chapters, implied, ledger, models, plots, rules, stats, train
from .. import params as P
from ..data import Dataset
from ..train import History
from . import Interface

INTERFACE = Interface(
    defaults={"seed": 0, "n_seeds": 8, "steps": 1500, "lr": 0.0003, "width": 128, "depth": 5,
        "sg_hidden": 0, "scale": "small", "probe": 256, "radius": 0.5, "n_dirs": 2,
        "eval_every": 100, "quick": False},
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 20), "steps": P.integer(1),
        "lr": P.positive(), "width": P.integer(1), "depth": P.integer(2, 20),
        "sg_hidden": P.integer(0), "scale": P.choice("small", "full"),
        "probe": P.integer(1, 2000), "radius": P.number(0, 5, low_open=True),
        "n_dirs": P.integer(1, 16), "eval_every": P.integer(1), "quick": P.flag(),
    },
    record=("seed", "n_seeds", "steps", "lr", "width", "depth", "sg_hidden", "scale",
            "probe", "radius", "n_dirs", "eval_every"),
    settings=dict(limit=None, live_steps=300),
    quick=dict(steps=40, n_seeds=2, eval_every=10, limit=1000, probe=64, live_steps=20),
)  # fmt: skip

# the chapter's one configuration: an SG after every hidden layer (bootstrapped,
# label-conditioned, zero-initialised), batch normalisation as in the primer
RULE = "sg_every"
BATCH_NORM = True
# the live widget's smaller run: width, training images, learning rate; and its grid
LIVE = dict(width=64, limit=2000, lr=1e-3)
LIVE_CAPACITIES = [0, 32, 128]
CLAIM_IDS = ("C4.1", "C4.2")
IN_PART = ("C4.1",)  # claims that can hold in part
PAIRED = CLAIM_IDS  # claims decided on seed-paired intervals (BOOK.md section 6)
SLICE_XLABEL = "distance along descent (x |h0|)"


@dataclass
class Probe:
    """The held-out images whose activations start the paths (with their labels and SG
    context), and the radii of the 1-D slices."""

    x: torch.Tensor
    y: torch.Tensor
    context: torch.Tensor
    radii: np.ndarray


@dataclass
class Run:
    """The chapter's trained run: its history (agreement of every SG at every evaluation, as
    ``<layer>_<random|descent>_<corr|rel_error>``) and the slices of the first probe image at
    the kept moments (``slices[step][layer] = (implied, true)``)."""

    history: History
    slices: dict[int, Any]
    probe: Probe


def probe(mnist: Dataset, p: SimpleNamespace) -> Probe:
    """The first ``probe`` held-out images and the slices' radii (0 to ``radius``)."""
    x, y = mnist.x_test[: p.probe], mnist.y_test[: p.probe]
    return Probe(x, y, mnist.context(y), np.linspace(0.0, p.radius, 11))


def moments(p: SimpleNamespace) -> list[int]:
    """The evaluations (numbered, 0 before training) whose slices are kept: the first after
    step 0, one a quarter of the way, and the last."""
    n_evals = p.steps // p.eval_every
    return sorted({1, max(1, n_evals // 4), n_evals})


def train_run(mnist: Dataset, pr: Probe, p: SimpleNamespace) -> Run:
    """Train the network on the chapter's seeds, measuring at every evaluation the agreement
    of each SG's implied loss with the true one on every probe image, and keeping the slices
    of the first probe image at :func:`moments`."""
    net = models.mlp(mnist.d_in, [p.width] * p.depth, mnist.d_out, p.seeds, batch_norm=BATCH_NORM)
    rule = rules.make_rule(RULE, net, p.seeds, d_context=mnist.d_context, sg_hidden=p.sg_hidden)
    tracker = train.Tracker(  # every evaluation: agreement on all probes; at the moments: slices
        lambda n: implied.layer_agreement(
            n, rule, pr.x, pr.y, pr.context, mnist.task, p.radius, p.n_dirs, p.seed
        ),
        lambda n: implied.layer_slices(
            n, rule, pr.x[:1], pr.y[:1], pr.context[:1], mnist.task, pr.radii
        ),
        set(moments(p)),
        p.eval_every,
    )
    history = train.train(
        net, rule, mnist, p.seeds, steps=p.steps, lr=p.lr, eval_every=p.eval_every, metrics=tracker
    )
    return Run(history, tracker.snapshots, pr)


def figure_agreement(history: History, p: SimpleNamespace) -> plt.Figure:
    """Figure 1: correlation and relative error of implied against true loss changes, per
    layer over training, along descent paths and random directions."""
    layers = {k: f"layer {k + 1}" for k in range(p.depth)}
    fig, axes = plt.subplots(2, 2, figsize=(12, 7), sharex=True)
    for col, kind in enumerate(("descent", "random")):
        for row, (metric, label, logy) in enumerate(
            [("corr", "correlation, implied vs true", False), ("rel_error", "relative error", True)]
        ):
            df = analysis.per_layer(history, f"{{}}_{kind}_{metric}", layers, metric)
            plots.curves(
                df[df.step > 0], metric, axes[row, col], label, hue="layer", logy=logy
            )  # step 0: SGs still zero
            if col == 1:
                axes[row, col].get_legend().remove()
        if kind == "descent":  # C4.1's control on the same paths, dotted: mean over seeds
            _draw_control(axes[0, col], history, layers)
        axes[0, col].set_title(
            f"paths along the {'true descent direction' if kind == 'descent' else 'random directions'}"
        )
    fig.suptitle(
        f"SG after every hidden layer (layer 1 is the lowest); mean over {p.n_seeds} seeds, band lowest to highest"
    )
    fig.tight_layout()
    return fig


def _draw_control(ax: plt.Axes, history: History, layers: Mapping[int, str]) -> None:
    """Each layer's first-order control (dotted, in the layer's colour, mean over seeds)."""
    df = analysis.per_layer(history, "{}_descent_corr_first_order", layers, "corr")
    mean = df[df.step > 0].groupby(["layer", "step"])["corr"].mean()
    colours = {line.get_label(): line.get_color() for line in ax.get_lines()}
    for name in layers.values():
        ax.plot(mean[name].index, mean[name].to_numpy(), ls=":", color=colours[name])
    ax.plot([], [], ls=":", color="grey", label="first-order control")
    ax.legend(title="layer", fontsize="small")


def figure_slices(run: Run, p: SimpleNamespace) -> plt.Figure:
    """Figure 2: the slices of the first probe image, every layer (columns) at every kept
    moment (rows)."""
    moments_steps = sorted(run.slices)
    fig, axes = plt.subplots(
        len(moments_steps),
        p.depth,
        figsize=(2.6 * p.depth, 2.3 * len(moments_steps)),
        squeeze=False,
    )
    for i, step in enumerate(moments_steps):
        for k in range(p.depth):
            plots.implied_slice(
                axes[i, k],
                run.probe.radii,
                *run.slices[step][k],
                title=f"layer {k + 1}, step {step}",
            )
        axes[i, 0].set_ylabel("loss change (nats)")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=2, frameon=False)
    fig.supxlabel("distance along the true descent direction (x |h0|)")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def _slice_figure(radii: np.ndarray, one: Any, title: str) -> plt.Figure:
    """One slice ``(implied, true)`` alone, as the widgets show it."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    plots.implied_slice(ax, radii, *one, title=title)
    ax.set(xlabel=SLICE_XLABEL, ylabel="loss change (nats)")
    ax.legend()
    fig.tight_layout()
    return fig


def slice_panel(run: Run, layer: int, step: int) -> tuple[plt.Figure, str]:
    """The precomputed widget's panel: one layer's slice at one kept moment, and the
    correlation over all probe paths then (mean over seeds)."""
    fig = _slice_figure(run.probe.radii, run.slices[step][layer - 1], f"layer {layer}, step {step}")
    h = run.history
    corr = h.evals[f"{layer - 1}_descent_corr"][list(h.eval_steps).index(step)]
    return (
        fig,
        f"correlation over all probe paths at this moment: <b>{np.mean(corr):.3f}</b> (mean over seeds)",
    )


def live_slice(
    small: Dataset, pr: Probe, capacity: int, layer: int, p: SimpleNamespace
) -> tuple[plt.Figure, str]:
    """The live widget's panel: a smaller network (:data:`LIVE`, one seed, trained on
    ``small``, the first ``LIVE["limit"]`` images) retrained with SG capacity ``capacity``, and
    one layer's slice of the first probe image."""
    n = models.mlp(
        small.d_in, [LIVE["width"]] * p.depth, small.d_out, [p.seed], batch_norm=BATCH_NORM
    )
    r = rules.make_rule(RULE, n, [p.seed], d_context=small.d_context, sg_hidden=capacity)
    train.train(
        n, r, small, [p.seed], steps=p.live_steps, lr=LIVE["lr"], eval_every=100, progress=False
    )
    one = implied.layer_slices(n, r, pr.x[:1], pr.y[:1], pr.context[:1], small.task, pr.radii)[
        layer - 1
    ]
    fig = _slice_figure(pr.radii, one, f"live: SG hidden {capacity}, layer {layer}")
    return fig, (
        f"retrained in the kernel: {LIVE['width']} units per layer, {LIVE['limit']:,} images, one seed"
    )


def descent_corr(
    history: History, depth: int, metric: str = "descent_corr"
) -> tuple[np.ndarray, np.ndarray, int]:
    """What the numbers and claims decide on: the correlation along descent paths, (layer,
    evaluation, seed), at every evaluation after step 0 (the SGs are still zero there), the
    steps of those evaluations, and how many seeds diverged (their NaNs stay in). ``metric=
    "descent_corr_first_order"``: the same for C4.1's control (:func:`synthgrad.implied.
    layer_agreement`)."""
    corr = np.stack([history.evals[f"{k}_{metric}"][1:] for k in range(depth)])
    return corr, history.eval_steps[1:], int(history.diverged.sum())


def _summary(corr: np.ndarray, steps_measured: np.ndarray) -> dict[str, Any]:
    """The per-layer means over training, the agreement of each seed over training (mean over
    layers), each seed's peak and the slope of its line from the peak on (per 1,000 steps;
    NaN when fewer than 3 measurements are left). No NaN is skipped."""
    mean_over_training = corr.mean(axis=1)  # (layer, seed)
    layer_means = mean_over_training.mean(1)
    over_layers = corr.mean(axis=0)  # (eval, seed): the agreement of each seed over training
    peak_index = np.argmax(over_layers, axis=0)  # per seed (a NaN seed peaks at its first NaN)
    peak_step = steps_measured[peak_index]
    peak_value = over_layers[peak_index, np.arange(over_layers.shape[1])]
    # after its peak, does each seed's agreement fall? slope of a line through the measurements
    # from the peak on (np.polyfit), per 1,000 steps; NaN when the peak is the last measurement
    after_peak = np.array(
        [
            1000 * np.polyfit(steps_measured[i:], over_layers[i:, s], 1)[0]
            if len(steps_measured) - i >= 3
            else np.nan
            for s, i in enumerate(peak_index)
        ]
    )
    return dict(
        layer_means=layer_means,
        over_layers=over_layers,
        first=float(over_layers[0].mean()),
        last=float(over_layers[-1].mean()),
        peak_step=peak_step,
        peak_value=peak_value,
        after_peak=after_peak,
        best_step=int(steps_measured[int(np.argmax(over_layers.mean(1)))]),
    )


def numbers(
    corr: np.ndarray, first_order: np.ndarray, steps_measured: np.ndarray, diverged: int = 0
) -> dict[str, Any]:
    """The numbers the chapter's prose quotes, from :func:`descent_corr`'s values and C4.1's
    control (``first_order``, the same shape)."""
    s = _summary(corr, steps_measured)
    drop = s["peak_value"] - s["over_layers"][-1]
    control = first_order.mean(axis=(1, 2))  # per layer, over training and seeds
    return {
        "corr_low": float(s["layer_means"][0]),
        "corr_high": float(s["layer_means"][-1]),
        "control_low": float(control[0]),
        "control_high": float(control[-1]),
        "corr_first": s["first"],
        "corr_last": s["last"],
        "best_step": s["best_step"],
        "peak_steps": ledger.listing([int(v) for v in s["peak_step"]]),
        "drop_min": float(drop.min()),
        "drop_max": float(drop.max()),
        "diverged": diverged,
    }


def windows(over_layers: np.ndarray, steps_measured: np.ndarray, steps: int) -> dict[str, Any]:
    """C4.2's measurements from each seed's agreement over training (``over_layers``: (eval,
    seed)), in windows of a tenth of the budget (BOOK.md section 6): the best window that ends
    in the first half, the last window, and the one before it (a NaN stays in: np.max and the
    means propagate it)."""
    n = len(steps_measured)
    w = max(1, round(n / 10))
    starts = [i for i in range(n - w + 1) if steps_measured[i + w - 1] <= steps / 2]
    early = (
        np.max(np.stack([over_layers[i : i + w].mean(0) for i in starts]), axis=0)
        if starts
        else np.full(over_layers.shape[1], np.nan)
    )
    end = over_layers[-w:].mean(0)
    before = over_layers[-2 * w : -w].mean(0) if n >= 2 * w else np.full_like(end, np.nan)
    return dict(width=w, early=early, end=end, before=before)


def _above_zero(differences: np.ndarray) -> stats.Paired:
    """A within-run difference per seed above zero (a NaN on either side fails it)."""
    return stats.paired(differences, np.zeros_like(differences))


def claims(
    corr: np.ndarray,
    first_order: np.ndarray,
    steps_measured: np.ndarray,
    steps: int,
    diverged: int = 0,
    n: Mapping[str, Any] | None = None,
) -> list[ledger.Claim]:
    """The chapter's claims from :func:`descent_corr`'s values, C4.1's control on the same
    paths (``first_order``, the same shape as ``corr``) and the run's length ``steps`` (``n``:
    the chapter's :func:`numbers`, where the caller has them already). Both are decided on
    seed-paired 95% intervals; a NaN or infinite value (a diverged seed) fails the comparison
    it enters. C4.1 counts only the part of each layer's gain over the layer below that the
    control, which learns nothing, does not also show: the gain the loss surface alone gives."""
    s = _summary(corr, steps_measured)
    n = numbers(corr, first_order, steps_measured, diverged) if n is None else n
    per_seed = corr.mean(axis=1)  # (layer, seed): each layer's agreement averaged over training
    control = first_order.mean(axis=1)  # the same for the first-order control
    depth = per_seed.shape[0]
    w = windows(s["over_layers"], steps_measured, steps)
    # both sides of each comparison come from the same runs: a NaN on either is a lost seed
    rising = _above_zero(w["end"] - w["before"])  # still rising at the end of the budget?
    return [
        ledger.Claim(
            "C4.1",
            "The loss implied by an SG approximates the true loss better in layers closer to the output.",
            "correlation of implied vs true loss changes along descent paths, averaged over training, per layer and seed: each layer's gain over the one below it, against the same gain of the control (the first-order prediction from the true gradient at the path's start, which no SG learns), paired per seed",
            "95% interval of each layer's gain in correlation over the layer below, minus the control's gain there, above 0, at every layer",
            ledger.judge(
                {f"{k + 1}>{k}": _above_zero((per_seed[k] - per_seed[k - 1]) - (control[k] - control[k - 1]))
                 for k in range(1, depth)},
                regime="layer 1 is the lowest; gains more than the control over the layer below at {held}; less at {reversed}",
            ),
            {"per_layer": s["layer_means"], "per_layer_and_seed": per_seed,
             "control_per_layer": control.mean(1), "control_per_layer_and_seed": control},
        ),
        ledger.Claim(
            "C4.2",
            "The approximation is best at the very beginning of training and degrades slowly towards the end.",
            "per seed, the correlation along descent paths averaged over layers, in windows of a tenth of the budget: the best window in the first half of training (zero-initialised SGs first have to learn) against the last window, paired per seed",
            "95% interval of the first half's best minus the end above 0 (degraded); an end still rising beyond the noise (the last window against the one before) leaves it undecided",
            ledger.judge(
                _above_zero(w["early"] - w["end"]),
                moving="the agreement still rises" if rising.outcome == "holds" else "",
                decide="the end lies within the noise of the first half's best: a longer run, "
                "to see whether the agreement keeps falling",
                regime="first half's best window {early:.2f}, last window {end:.2f} (mean over seeds); per-seed peaks at steps {peaks} of {steps}",
                early=float(np.mean(w["early"])),
                end=float(np.mean(w["end"])),
                peaks=n["peak_steps"],
                steps=steps,
            ),
            {
                "first": s["first"],
                "last": s["last"],
                "best_step": s["best_step"],
                "peak_step": s["peak_step"],
                "peak_value": s["peak_value"],
                "window_measurements": w["width"],
                "first_half_best_window": w["early"],
                "last_window": w["end"],
                "window_before_last": w["before"],
                "slope_after_peak_per_1000": s["after_peak"],
                "diverged": diverged,
            },
        ),
    ]  # fmt: skip


def finish(p: SimpleNamespace, history: History) -> pd.DataFrame:
    """The chapter's last cell: its claims and numbers from the run, the ledger written and
    every number glued; returns the claims table."""
    corr, steps_measured, diverged = descent_corr(history, p.depth)
    first_order, _, _ = descent_corr(history, p.depth, "descent_corr_first_order")
    n = numbers(corr, first_order, steps_measured, diverged)
    return chapters.finish(p, claims(corr, first_order, steps_measured, p.steps, diverged, n), n)
