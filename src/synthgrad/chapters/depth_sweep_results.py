"""Chapter 5's registered sweep (:mod:`.depth_sweep`), read: the claims it decides and the
figure of what its networks' layers look like. Written, like the plan, before any of its runs
was seen.

C5.1p and C5.2p (per activation) are decided by :func:`.representations_store.claims`, the
rules the earlier store's runs were judged by, on this sweep's runs: each method at its own
chosen learning rate, five seeds, the official test images, "many hidden layers" decided at
the deepest depth made. C5.4s (shown, never recorded: C5.4p is decided on
:mod:`.representations_registered`) carries C5.4's pattern to the paper's scale: the
batch-norm-folded weight norms rise towards the output under backprop and fall under the middle
SG (each seed's slope over hidden layers 2 to L), decided at the deepest depth; the raw norms
and how far each layer's weights moved are drawn beside them, as is each hidden layer's
alignment with the true gradient under the every-layer SG (where it collapses, and from which
layer down).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import analysis, ledger, representations, store
from ..train import History
from . import representations_store as paper_store
from .depth_sweep import CELLS, final_experiment
from .representations_claims import norm_pattern

SG, EVERY = paper_store.SG, paper_store.EVERY
KINDS = {"norm_bn": "weight norm, batch norm folded in", "norm": "raw weight norm",
         "moved": "moved from initialisation, |W - W0| / |W0|"}  # fmt: skip
Label = paper_store.Label


def layer_values(history: History, metric: str, n: int) -> np.ndarray:
    """Per seed, ``<metric>_<k>`` for k = 0..n-1 (blocks or hidden layers), each the mean of its
    last evaluations (:func:`synthgrad.analysis.end_value`): (S, n)."""
    return np.stack([analysis.end_value(history, f"{metric}_{k}") for k in range(n)], 1)


@dataclass
class Sweep:
    """What the sweep's claims and figure decide on: the store's per-seed accuracies and steps
    (:class:`.representations_store.Paper`); per (activation, depth, method) each block's norms
    and movement at the end, (S, depth + 1) per kind; per (activation, depth, rule) with an SG,
    each hidden layer's alignment with the true gradient at the end, (S, depth); each seed's
    slope of the folded norms over hidden layers 2 to L."""

    paper: paper_store.Paper
    layers: dict[tuple[str, Label], np.ndarray] = field(default_factory=dict)
    align: dict[Label, np.ndarray] = field(default_factory=dict)
    slopes: dict[Label, np.ndarray] = field(default_factory=dict)
    first_align: dict[Label, np.ndarray] = field(default_factory=dict)  # at the first evaluation
    first_step: int = 0  # the step of the first evaluation after the start


def values(stored: store.Stored, threshold: float) -> Sweep:
    """The plain inputs of the claims and the figure, from the sweep's stored runs."""
    runs = paper_store.stored_runs(stored)
    out = Sweep(paper_store.values(stored, threshold))
    for (a, d, m), h in runs.items():
        for kind in KINDS:
            out.layers[kind, (a, d, m)] = layer_values(h, kind, d + 1)
        if m in (SG, EVERY):
            out.align[a, d, m] = layer_values(h, "align", d)
            first = 1 if len(h.eval_steps) > 1 else 0  # evaluation 0 is at the start: 0
            out.first_align[a, d, m] = np.stack(
                [np.asarray(h.evals[f"align_{k}"][first], dtype=float) for k in range(d)], 1
            )
            out.first_step = int(h.eval_steps[first])
        if m in ("backprop", SG) and d >= 3:
            out.slopes[a, d, m] = representations.slope(out.layers["norm_bn", (a, d, m)][:, 1:d])
    return out


def claims(sweep: Sweep | None, threshold: float) -> list[ledger.Claim]:
    """C5.1p and C5.2p (:func:`.representations_store.claims`) and C5.4s, per activation the
    sweep holds, each decided at the deepest depth where backprop and the middle SG are both
    made."""
    if sweep is None:
        return []
    out = paper_store.claims(sweep.paper, threshold)
    for act in paper_store.activations(sweep.paper.acc):
        depths = sorted(d for (a, d, m) in sweep.slopes if a == act and m == SG
                        and (act, d, "backprop") in sweep.slopes)  # fmt: skip
        if not depths:
            continue
        tag, name = ("", "ReLU") if act == "relu" else (f"-{act}", act)
        out.append(ledger.Claim(
            f"C5.4s{tag}",
            f"Backprop weight norms rise slowly towards the output; SG weight norms start high and decrease towards the output ({name}, at the paper's width and depth).",
            f"registered sweep, {name}: per seed, the slope of the batch-norm-folded weight norm against the layer index over hidden layers 2 to L (the plan registered these measurements, not this claim: it was written before any of the sweep's runs had finished, in the commit after the plan's)",
            f"95% interval of the slope above 0 for backprop and below 0 for the middle SG, at the deepest depth made ({max(depths)})",
            ledger.judge(
                {d: norm_pattern(sweep.slopes[act, d, "backprop"], sweep.slopes[act, d, SG])
                 for d in depths},
                decides=[max(depths)],
                regime="{name}, depths {depths}, decided at {deepest}; the pattern holds at {held}; not shown at {failed}",
                name=name, depths=ledger.listing(depths), deepest=max(depths),
            ),
            {"depths": depths,
             "slope_backprop": [float(sweep.slopes[act, d, "backprop"].mean()) for d in depths],
             "slope_sg": [float(sweep.slopes[act, d, SG].mean()) for d in depths]},
            scale=sweep.paper.scale,
        ))  # fmt: skip
    return out


def made_so_far(threshold: float, root: Path | None = None) -> Sweep | None:
    """The sweep's reported runs made so far and current, read (None before the first): a run
    made by other code (stale) is left out, since a comparison's runs share one source hash."""
    stored = store.load(final_experiment(root), root)
    stored.runs = {k: h for k, h in stored.runs.items() if stored.status[k] == "ok"}
    return values(stored, threshold) if stored.runs else None


def complete(sweep: Sweep | None) -> bool:
    """Whether every reported cell of the registered plan is made (and current)."""
    return sweep is not None and all(cell in sweep.paper.acc for cell in CELLS)


def ledger_evidence(
    earlier: paper_store.Paper | None, sweep: Sweep | None
) -> tuple[paper_store.Paper | None, str]:
    """What the ledger's C5.1p and C5.2p (and tanh's) are decided on, and the page's words for
    it: the registered sweep once every cell of its plan is made (the plan names these claims;
    C5.4s, which it does not, is shown beside them and never recorded: C5.4p is decided on
    :mod:`.representations_registered`), else the earlier
    store."""
    if complete(sweep):
        return sweep.paper, "the registered sweep (section a3), every cell of its plan made"
    return earlier, (
        "the earlier store (Figure 2b) until every cell of the registered sweep (section a3) is "
        "made; then on the sweep"
    )


def deepest(sweep: Sweep, activation: str) -> int | None:
    """The deepest depth made with ``activation`` (None: none)."""
    return max((d for a, d, _ in sweep.paper.acc if a == activation), default=None)


def figure_layers(sweep: Sweep, activation: str, depth: int) -> plt.Figure | None:
    """At one activation and depth: per layer (input side first), the folded and the raw weight
    norms and how far the weights moved, for every method (mean over seeds, band from the
    lowest to the highest seed), and each hidden layer's alignment with the true gradient under
    the SGs. None where the sweep holds no run there."""
    methods = [
        m for (kind, (a, d, m)) in sweep.layers if kind == "norm" and (a, d) == (activation, depth)
    ]
    if not methods:
        return None
    fig, axes = plt.subplots(1, len(KINDS) + 1, figsize=(19, 3.8))
    for ax, (kind, label) in zip(axes, KINDS.items(), strict=False):
        for m in methods:
            _band(ax, sweep.layers[kind, (activation, depth, m)], m)
        ax.set(xlabel="layer (the last is the output)", ylabel=label)
    for m in (SG, EVERY):
        if (activation, depth, m) in sweep.align:
            _band(axes[-1], sweep.align[activation, depth, m], m)
    axes[-1].set(xlabel="hidden layer", ylabel="cosine with the true gradient", ylim=(-1.05, 1.05))
    axes[0].legend(fontsize="small")
    fig.suptitle(
        f"Registered sweep, {activation}, {depth} hidden layers: each layer at the end of training"
    )
    fig.tight_layout()
    return fig


def collapse_table(sweep: Sweep, activation: str) -> pd.DataFrame | None:
    """Where the SG after every layer loses against backprop, and how: per depth made, the
    test accuracy of backprop and of the every-layer SG (mean of the last evaluations, mean over
    seeds), and under the every-layer SG the lowest and the top hidden layer's cosine with the
    true gradient at the first evaluation after the start and at the end, and how far the
    first and the output layer moved from initialisation (mean over seeds). None where no
    every-layer run is made."""
    rows = {}
    for a, d, m in sorted(sweep.align):
        if (a, m) != (activation, EVERY):
            continue
        first, end = sweep.first_align[a, d, m].mean(0), sweep.align[a, d, m].mean(0)
        moved = sweep.layers["moved", (a, d, m)].mean(0)
        bp = sweep.paper.acc.get((a, d, "backprop"))
        rows[d] = {
            "backprop: accuracy": np.nan if bp is None else float(bp.mean()),
            "every-layer SG: accuracy": float(sweep.paper.acc[a, d, m].mean()),
            f"cosine, layer 1, step {sweep.first_step}": first[0],
            f"cosine, top layer, step {sweep.first_step}": first[-1],
            "cosine, layer 1, end": end[0],
            "cosine, top layer, end": end[-1],
            "moved, layer 1": moved[0],
            "moved, output layer": moved[-1],
        }
    return pd.DataFrame(rows).T.rename_axis("hidden layers") if rows else None


def _band(ax: plt.Axes, per_seed: np.ndarray, label: str) -> None:
    """Mean over seeds against layer 1..n, with a band from the lowest to the highest seed."""
    layers = np.arange(1, per_seed.shape[1] + 1)
    colour = ax.plot(layers, per_seed.mean(0), label=label)[0].get_color()
    ax.fill_between(layers, per_seed.min(0), per_seed.max(0), color=colour, alpha=0.2, lw=0)
