"""Chapter 5's C5.3 and C5.4 at the paper's scale, registered before any run (``05_layers``, its
plan :func:`plan_text` in ``store/05_layers/PLAN.md``).

The book decides C5.3 (RDMs) and C5.4 (weight norms) on a narrow sweep and on one wide network
per activation (section c2); the registered depth sweep on full MNIST (:mod:`.depth_sweep`)
recorded the weight norms but named neither claim, and no stored run kept a layer's RDM. This
grid trains backprop and the middle SG on the sweep's data, budget and chosen learning rates,
on seeds the sweep never used, and records every hidden layer's RDM similarity to the output
at every evaluation (the store's ``layers`` runner,
:func:`synthgrad.representations.rdm_metrics`). :func:`measure` reduces the runs to what the
chapter's rules for C5.3 and C5.4 decide on; :func:`claims` gives C5.3p and C5.4p per
activation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import analysis, ledger, plots, representations, stats, store
from . import depth_sweep as sweep
from .depth_sweep_results import layer_values
from .representations_claims import norm_pattern, scattered
from .representations_methods import sg_block

NAME = "05_layers"
PLAN_FILE = f"{NAME}/PLAN.md"  # under the store's root
ACTIVATIONS = sweep.ACTIVATIONS
DEPTHS = (6, 20)
SG = "SG middle, cDNI"
METHODS = {m: sweep.METHODS[m] for m in ("backprop", SG)}
SEEDS = (5, 6, 7, 8, 9)  # the sweep reported 0-4 and chose its rates on 100
PER_CLASS = 10  # held-out images per class in each RDM (100 in all), as the chapter's
# the learning rate the registered sweep's rule chose for each cell (store/05_full_mnist;
# a test checks these against its selection runs)
RATES = {
    ("relu", 6, "backprop"): 1e-3, ("relu", 6, SG): 1e-3,
    ("relu", 20, "backprop"): 3e-3, ("relu", 20, SG): 1e-3,
    ("tanh", 6, "backprop"): 1e-3, ("tanh", 6, SG): 3e-3,
    ("tanh", 20, "backprop"): 3e-4, ("tanh", 20, SG): 3e-4,
}  # fmt: skip
Cell = tuple[str, int, str]
CLAIM_IDS = ("C5.3p", "C5.4p", "C5.3p-tanh", "C5.4p-tanh")


def label(cell: Cell) -> str:
    activation, depth, method = cell
    return f"{activation}/{depth}/{method}"


def _task(cell: Cell) -> store.Task:
    activation, depth, method = cell
    rule, conditioned = METHODS[method]
    fit = dict(seeds=list(SEEDS), rule=rule, conditioned=conditioned,
               hidden=[sweep.WIDTH] * depth, batch_norm=True, activation=activation,
               steps=sweep.STEPS, lr=RATES[cell], batch_size=sweep.BATCH,
               eval_every=sweep.EVAL_EVERY, norms=True, rdm_per_class=PER_CLASS)  # fmt: skip
    return store.Task("mnist", fit, {"scale": "full-test"}, runner="layers")


CELLS: list[Cell] = [(a, d, m) for d in DEPTHS for a in ACTIVATIONS for m in METHODS]


def plan_text() -> str:
    """The registered plan: ``store/05_layers/PLAN.md`` must hold exactly this."""
    rates = "; ".join(
        f"{sweep.NAMES[a]} {d}: backprop {RATES[a, d, 'backprop']:g}, SG {RATES[a, d, SG]:g}"
        for d in DEPTHS
        for a in ACTIVATIONS
    )
    return (
        "# Registered plan: chapter 5's representations and weight norms at the paper's scale\n\n"
        "- **Question**: C5.3 (under backprop every layer's RDM is close to the last layer's; "
        "under SG the representations are more scattered) and C5.4 (backprop weight norms rise "
        "towards the output; SG weight norms start high and decrease towards it) at the "
        "paper's width, on full MNIST. The registered depth sweep "
        f"(`store/{sweep.FINAL}/PLAN.md`) recorded weight norms but named neither claim, and "
        "no stored run kept RDMs. C5.4's pattern on the sweep's seeds is already on the page "
        "(shown, not recorded); these seeds are new.\n"
        f"- **Data and budget**: the sweep's: {sweep.N_TRAIN:,} training images, scored on the "
        f"official test images; {sweep.EPOCHS} epochs ({sweep.STEPS:,} steps of {sweep.BATCH}), "
        f"Adam; evaluated every {sweep.EVAL_EVERY} steps.\n"
        f"- **Networks**: {' and '.join(map(str, DEPTHS))} hidden layers of {sweep.WIDTH} units "
        "with batch norm; ReLU and tanh.\n"
        f"- **Methods**: {'; '.join(METHODS)} (the SG after the middle hidden layer).\n"
        f"- **Learning rates**: the ones the sweep's registered rule chose per cell: {rates}.\n"
        f"- **Seeds**: {', '.join(map(str, SEEDS))} (the sweep used 0-4 and 100).\n"
        "- **Recorded**: as the sweep (training loss, held-out accuracy and loss, each layer's "
        "raw and batch-norm-folded weight norm and how far it moved), and at every evaluation "
        "each hidden layer's RDM similarity to the output layer (Spearman correlation of the "
        "RDMs' upper triangles; an RDM is 1 minus the Pearson correlation between the "
        f"activations of every pair of the first {PER_CLASS} test images of each class), in "
        "evaluation mode.\n"
        f"- **Verdicts**, per activation (C5.3p and C5.4p for ReLU, C5.3p-tanh and C5.4p-tanh), "
        "by the chapter's rules for C5.3 and C5.4, unchanged, each per-seed value the mean of "
        f"the last {analysis.LAST} evaluations: C5.3p on the mean similarity over the hidden "
        "layers up to the one the SG follows (backprop's minus the SG's, seed-paired 95% "
        "t-interval above 0); C5.4p on each seed's slope of the batch-norm-folded weight norm "
        "against the layer index over hidden layers 2 to L (interval above 0 for backprop, "
        "below 0 for the SG). A claim holds if it holds at both depths; the verdict engine "
        "(`ledger.judge`) gives the rest. Decided once every run is made.\n"
        "- **Order**: 6 hidden layers (ReLU, then tanh), then 20.\n"
        "- **Device**: the CPU, one torch thread per run.\n"
    )


EXPERIMENT = store.Experiment(
    NAME,
    "05_representations",
    "C5.3 and C5.4 at the paper's width on full MNIST, registered: backprop and the middle SG "
    f"at {' and '.join(map(str, DEPTHS))} hidden layers of {sweep.WIDTH}, ReLU and tanh, each "
    "at the registered sweep's chosen learning rate, five new seeds; every hidden layer's RDM "
    "similarity to the output and every layer's weight norms at every evaluation.",
    f"the registered sweep's: {sweep.STEPS:,} steps ({sweep.EPOCHS} epochs of "
    f"{sweep.N_TRAIN:,} images), fixed before any run (store/{PLAN_FILE}).",
    {label(c): _task(c) for c in CELLS},
    f"full MNIST, width {sweep.WIDTH}, {' and '.join(map(str, DEPTHS))} hidden layers, "
    f"{sweep.EPOCHS} epochs, {len(SEEDS)} seeds, registered",
    plan=PLAN_FILE,
    plan_text=plan_text(),
)


@dataclass
class Layers:
    """Per cell (activation, depth, method), per seed: the mean RDM similarity to the output
    over the hidden layers up to the one the SG follows (``below_sim``) and the slope of the
    batch-norm-folded weight norm over hidden layers 2 to L (``slopes``); and what the figures
    draw, per seed: each hidden layer's similarity, (S, L) (``sim_layers``), and the folded
    norm of hidden layers 2 to L, (S, L - 1) (``norm_layers``); seeds that diverged; the
    scale in words. A closer look, not a criterion, per cell and seed: the folded norms' slope
    at initialisation (``init_slopes``), the raw norms' slope at the end (``raw_slopes``: their
    scale is one batch norm leaves free) and how far hidden layers 2 to L moved from
    initialisation, their mean ``|W - W0| / |W0|`` (``moved``); and over training, at every
    evaluation (``steps``), the similarity averaged as ``below_sim`` is, (evaluations, S)
    (``course``)."""

    below_sim: dict[Cell, np.ndarray]
    slopes: dict[Cell, np.ndarray]
    sim_layers: dict[Cell, np.ndarray]
    norm_layers: dict[Cell, np.ndarray]
    diverged: dict[Cell, int]
    scale: str
    init_slopes: dict[Cell, np.ndarray] = field(default_factory=dict)
    raw_slopes: dict[Cell, np.ndarray] = field(default_factory=dict)
    moved: dict[Cell, np.ndarray] = field(default_factory=dict)
    course: dict[Cell, np.ndarray] = field(default_factory=dict)
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))


def values(stored: store.Stored) -> Layers:
    """What the claims and the figure read from the grid's runs (every cell made)."""
    out = Layers({}, {}, {}, {}, {}, stored.scale())
    for cell in CELLS:
        h, depth = stored.runs[label(cell)], cell[1]
        sim = layer_values(h, "rdm_sim", depth)  # (S, depth)
        norms = layer_values(h, "norm_bn", depth + 1)  # (S, blocks): the output last
        out.below_sim[cell] = sim[:, : sg_block(depth) + 1].mean(1)
        out.slopes[cell] = representations.slope(norms[:, 1:depth])
        out.sim_layers[cell], out.norm_layers[cell] = sim, norms[:, 1:depth]
        out.diverged[cell] = int(h.diverged.sum())
        start = np.stack([h.evals[f"norm_bn_{k}"][0] for k in range(depth + 1)], 1)
        out.init_slopes[cell] = representations.slope(start[:, 1:depth])
        out.raw_slopes[cell] = representations.slope(layer_values(h, "norm", depth + 1)[:, 1:depth])
        out.moved[cell] = layer_values(h, "moved", depth + 1)[:, 1:depth].mean(1)
        below = range(sg_block(depth) + 1)
        out.course[cell] = np.mean([h.evals[f"rdm_sim_{k}"] for k in below], axis=0)
        out.steps = h.eval_steps
    return out


def measure(root: Path | None = None) -> Layers | None:
    """The grid's runs reduced (None until every run is made by the current code: no verdict
    from part of it)."""
    stored = store.load(EXPERIMENT, root)
    if any(status != "ok" for status in stored.status.values()):
        return None
    return values(stored)


def claims(layers: Layers | None) -> list[ledger.Claim]:
    """C5.3p and C5.4p per activation (none until the grid is complete)."""
    if layers is None:
        return []
    out = []
    depths = ledger.listing(list(DEPTHS))
    for act in ACTIVATIONS:
        tag, name = ("", "ReLU") if act == "relu" else (f"-{act}", act)
        sim = {d: scattered(layers.below_sim[act, d, SG], layers.below_sim[act, d, "backprop"])
               for d in DEPTHS}  # fmt: skip
        norms = {d: norm_pattern(layers.slopes[act, d, "backprop"], layers.slopes[act, d, SG])
                 for d in DEPTHS}  # fmt: skip
        diverged = {
            f"{d}/{m}": layers.diverged.get((act, d, m), 0) for d in DEPTHS for m in METHODS
        }
        out += [
            ledger.Claim(
                f"C5.3p{tag}",
                f"Under backprop every layer's RDM is close to the last layer's; under SG the representations are more scattered ({name}, at the paper's width).",
                f"registered grid, {name}: per seed, the mean over the hidden layers up to the one the middle SG follows of each layer's RDM similarity (Spearman) to the output layer, at {depths} hidden layers",
                "95% interval of backprop's similarity minus the SG's (paired per seed) above 0 at every depth",
                ledger.judge(
                    sim,
                    regime="{name}; more scattered under SG at {held} hidden layers; reversed at {reversed}; undecided at {undecided}",
                    name=name,
                ),
                {"depths": list(DEPTHS),
                 "backprop": [float(layers.below_sim[act, d, "backprop"].mean()) for d in DEPTHS],
                 "sg": [float(layers.below_sim[act, d, SG].mean()) for d in DEPTHS],
                 "diverged": diverged},
                scale=layers.scale,
            ),
            ledger.Claim(
                f"C5.4p{tag}",
                f"Backprop weight norms rise slowly towards the output; SG weight norms start high and decrease towards the output ({name}, at the paper's width).",
                f"registered grid, {name}: per seed, the slope of the batch-norm-folded weight norm against the layer index over hidden layers 2 to L, at {depths} hidden layers",
                "95% interval of the slope above 0 for backprop and below 0 for the middle SG, at every depth",
                ledger.judge(
                    norms,
                    regime="{name}; the pattern holds at {held} hidden layers; not shown at {short}; undecided at {undecided}; backprop's norms fall towards the output at {bp_falls}; the SG's rise at {sg_rises}",
                    name=name,
                    bp_falls=_reversed_half(norms, "backprop"),
                    sg_rises=_reversed_half(norms, "SG"),
                ),
                {"depths": list(DEPTHS),
                 "slope_backprop": [float(layers.slopes[act, d, "backprop"].mean()) for d in DEPTHS],
                 "slope_sg": [float(layers.slopes[act, d, SG].mean()) for d in DEPTHS],
                 "diverged": diverged},
                scale=layers.scale,
            ),
        ]  # fmt: skip
    return out


def figure(layers: Layers, kind: str) -> plt.Figure:
    """Per activation and depth, per hidden layer, backprop against the middle SG (mean over
    seeds, band from the lowest to the highest): ``kind`` "similarity", each hidden layer's
    RDM similarity to the output (what C5.3p reads), or "norms", the batch-norm-folded weight
    norm of hidden layers 2 to L (what C5.4p reads). Dashed: where the SG sits."""
    if kind not in ("similarity", "norms"):
        raise ValueError(f"kind must be 'similarity' or 'norms', got {kind!r}")
    values, first = (layers.sim_layers, 1) if kind == "similarity" else (layers.norm_layers, 2)
    panels, marks = {}, {}
    for d in DEPTHS:
        for act in ACTIVATIONS:
            key = f"{sweep.NAMES[act]}, {d} hidden layers"
            panels[key] = {m: values[act, d, m] for m in METHODS}
            marks[key] = sg_block(d) + 1.5
    ylabel = "RDM similarity to the output" if kind == "similarity" else "effective weight norm"
    title = (
        "Registered grid: how alike each hidden layer's RDM is to the output's; dashed: the SG"
        if kind == "similarity"
        else "Registered grid: effective weight norm of hidden layers 2 to L; dashed: the SG"
    )
    return plots.layer_panels(panels, ylabel, title, first=first, marks=marks)[0]


def _reversed_half(norms: dict[int, stats.Joint], half: str) -> str:
    """The depths at which one half of C5.4's pattern (``"backprop"`` or ``"SG"``) is reversed:
    its interval entirely on the wrong side of zero."""
    return ledger.listing(
        [d for d, j in norms.items() if dict(j.parts)[half].outcome == "reversed"]
    )


def figure_course(layers: Layers) -> plt.Figure:
    """Per activation and depth, over training: the RDM similarity to the output averaged over
    the hidden layers up to the SG's (what C5.3p compares at the end), backprop against the
    middle SG, mean over seeds with the band from the lowest to the highest seed."""
    fig, axes = plt.subplots(1, len(DEPTHS) * len(ACTIVATIONS), figsize=(13, 3.2), sharex=True)
    colours = plots.method_colours(list(METHODS))
    cells = [(a, d) for d in DEPTHS for a in ACTIVATIONS]
    for ax, (act, d) in zip(axes, cells, strict=True):
        for m in METHODS:
            v = layers.course[act, d, m]
            ax.plot(layers.steps, v.mean(1), marker=".", color=colours[m], label=m)
            ax.fill_between(layers.steps, v.min(1), v.max(1), color=colours[m], alpha=0.2)
        ax.set(title=f"{sweep.NAMES[act]}, {d} hidden layers", xlabel="training step")
    axes[0].set_ylabel("similarity up to the SG")
    axes[0].legend(fontsize="small")
    fig.suptitle(
        "Registered grid, over training: RDM similarity to the output of the layers up to the SG"
    )
    fig.tight_layout()
    return fig


def ahead(layers: Layers, cell: tuple[str, int]) -> tuple[int, int]:
    """At (activation, depth): at how many evaluations after the start the middle SG's layers up
    to the SG are, mean over seeds, more like the output than backprop's; and of how many."""
    act, d = cell
    sg, bp = layers.course[act, d, SG].mean(1)[1:], layers.course[act, d, "backprop"].mean(1)[1:]
    return int((sg > bp).sum()), len(sg)


def table(layers: Layers) -> pd.DataFrame:
    """Per activation and depth, mean over seeds: the RDM similarity to the output over the
    layers up to the SG's, and the slope of the folded weight norm over hidden layers 2 to L,
    under backprop and under the middle SG (what C5.3p and C5.4p compare, seed by seed)."""
    rows = {}
    for d in DEPTHS:
        for act in ACTIVATIONS:
            rows[sweep.NAMES[act], d] = {
                **{f"similarity, {m}": float(layers.below_sim[act, d, m].mean()) for m in METHODS},
                **{f"norm slope, {m}": float(layers.slopes[act, d, m].mean()) for m in METHODS},
                "diverged seeds": sum(layers.diverged[act, d, m] for m in METHODS),
            }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.names = ["activation", "hidden layers"]
    return out.round(3)


def numbers(layers: Layers | None) -> dict[str, str]:
    """What the page quotes (each "not measured yet" until the grid is complete): the verdicts
    of record; per method, the range of the per-cell mean norm slopes and what their signs say
    (``layers_norms_reading``); the closer look at the norms (the largest per-cell mean slope
    at initialisation and the largest single seed's, the raw norms' slopes under backprop, how
    far hidden layers 2 to L moved); and where C5.3p is reversed, for how much of the run."""
    found = claims(layers)
    if not found:
        none = "not decided yet (the grid is not complete and current: section c3 says which runs)"
        return {"layers_verdicts": none} | dict.fromkeys(
            ("layers_slopes_bp", "layers_slopes_sg", "layers_norms_reading", "layers_init_slope",
             "layers_init_slope_seed", "layers_raw_slopes_bp", "layers_moved",
             "layers_reversed_course", "layers_not_init"), "not measured yet")  # fmt: skip

    def span(values: dict[Cell, np.ndarray], method: str | None = None, fmt: str = "+.2f") -> str:
        means = np.array([float(v.mean()) for c, v in values.items() if method in (None, c[2])])
        # a cell that lost a seed (NaN) is left out of the range, whatever its place (Python's
        # min and max kept or dropped it by order); the claims table names the lost seed
        return f"{np.nanmin(means):{fmt}} to {np.nanmax(means):{fmt}}"

    return {
        "layers_verdicts": "; ".join(f"{c.id} {c.status}" for c in found),
        "layers_slopes_bp": span(layers.slopes, "backprop"),
        "layers_slopes_sg": span(layers.slopes, SG),
        "layers_norms_reading": _norms_reading(layers),
        "layers_init_slope": f"{max(abs(float(v.mean())) for v in layers.init_slopes.values()):.2g}",
        "layers_init_slope_seed": f"{max(float(np.abs(v).max()) for v in layers.init_slopes.values()):.2g}",
        "layers_raw_slopes_bp": span(layers.raw_slopes, "backprop"),
        "layers_moved": span(layers.moved, fmt=".0%"),
        "layers_reversed_course": _reversed_course(layers),
        "layers_not_init": _not_init(layers),
    }


def _not_init(layers: Layers) -> str:
    """Whether the trained norm slopes are the training's, not the initialisation's: the
    smallest per-cell mean slope after training, in size, against the largest at
    initialisation (per-cell means over seeds)."""
    trained = np.array([abs(float(v.mean())) for v in layers.slopes.values()])
    init = np.array([abs(float(v.mean())) for v in layers.init_slopes.values()])
    lost = "" if np.isfinite(trained).all() else " (a cell with a diverged seed is not read)"
    trained = trained[np.isfinite(trained)]
    if not trained.size:
        return (
            "Whether the pattern is the initialisation's is not measured (every cell lost a seed)"
        )
    if trained.min() > np.nanmax(init):
        return "The pattern is not the initialisation's" + lost
    return (f"Part of the pattern may be the initialisation's{lost} (a trained per-cell mean slope "
            f"as small as {trained.min():.2g} in size)")  # fmt: skip


def _norms_reading(layers: Layers) -> str:
    """What the signs of the per-cell mean norm slopes say about C5.4's two halves."""
    falls = {
        m: all(float(layers.slopes[c].mean()) < 0 for c in CELLS if c[2] == m) for m in METHODS
    }
    if falls["backprop"] and falls[SG]:
        return (
            "negative in every cell under both methods: the norms fall towards the output under "
            "both, and the half of C5.4 that fails is backprop's"
        )
    if falls["backprop"]:
        return "negative in every cell under backprop, against the claim; the SG's signs differ by cell"
    return "of differing signs by cell (the table in section c3 has each)"


def _reversed_course(layers: Layers) -> str:
    """Where C5.3p is reversed (the SG's layers more like the output), whether it was so all
    through training: per such cell, at how many evaluations the SG was ahead."""
    out = []
    for act in ACTIVATIONS:
        for d in DEPTHS:
            if (
                scattered(
                    layers.below_sim[act, d, SG], layers.below_sim[act, d, "backprop"]
                ).outcome
                == "reversed"
            ):
                k, n = ahead(layers, (act, d))
                out.append(
                    f"{sweep.NAMES[act]} at {d} hidden layers, at {k} of the {n} evaluations after the start"
                )
    return "; ".join(out) or "nowhere (no depth is reversed)"


def page_text(root: Path | None = None) -> str:
    """The plan, and how much of the grid is made."""
    return store.plan_page(EXPERIMENT, root)
