"""Chapter 5's depth sweep on full MNIST, registered before any run (issue 25): the plan, the
rule that chooses each learning rate, and the two store experiments that carry it out.

The plan (:func:`plan_text`) is written to ``store/05_full_mnist/PLAN.md`` and committed before
``make paper`` makes a run of either experiment (:func:`synthgrad.store.registration` refuses
otherwise, and each run records the commit that registered it). First the selection runs
(:data:`SELECT`, one seed per learning rate, scored on 10,000 held-out training images), then
the reported runs (:data:`FINAL`, five other seeds at each cell's chosen rate, scored on the
official test images). Each is a function of what the store holds: the selection adds a
cell's one registered extension of the grid when its best rate is at an edge, and a reported
cell is pending until its rate is chosen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .. import analysis, store
from ..sweep import Task

SELECT, FINAL = "05_full_mnist_select", "05_full_mnist"
PLAN_FILE = f"{FINAL}/PLAN.md"  # under the store's root
ACTIVATIONS = ("relu", "tanh")
NAMES = {"relu": "ReLU", "tanh": "tanh"}
DEPTHS = (6, 20, 50, 3, 12)  # the order of making: the most informative first
METHODS = {  # name on the page -> (rule, conditioned)
    "backprop": ("backprop", False),
    "SG middle, cDNI": ("sg_middle", True),
    analysis.CONTROL: ("frozen_middle", False),
    "SG every layer, cDNI": ("sg_every", True),
}
WIDTH, BATCH, EPOCHS, N_TRAIN = 256, 128, 10, 50_000
STEPS = EPOCHS * N_TRAIN // BATCH  # 3,906
EVAL_EVERY = 186  # 21 evaluations, the last at the last step
RATES = (3e-4, 1e-3, 3e-3)
EXTENSION = {3e-4: 1e-4, 3e-3: 1e-2}  # the one registered extension beyond each edge
SELECT_SEED = 100
SEEDS = (0, 1, 2, 3, 4)
ALIGN = 256  # training examples on which each layer's signal is compared with the true gradient
TIE = 0.5 / 10_000  # half an image of the 10,000 held out: closer than that is a tie
Cell = tuple[str, int, str]  # (activation, hidden layers, method)
CELLS: list[Cell] = [(a, d, m) for a in ACTIVATIONS for d in DEPTHS for m in METHODS]


def _plan() -> str:
    """The plan's points, as a Markdown list."""
    rates = ", ".join(f"{r:g}" for r in RATES)
    return (
        f"- **Data**: the 60,000 official training images, {N_TRAIN:,} to train and the other "
        "10,000 held out to choose learning rates (a fixed split: `mnist('full-validation')`); "
        f"the reported runs train on the same {N_TRAIN:,} and are scored on the 10,000 official "
        "test images (`mnist('full-test')`).\n"
        f"- **Networks**: {', '.join(map(str, sorted(DEPTHS)))} hidden layers of {WIDTH} units "
        f"with batch norm; {' and '.join(NAMES[a] for a in ACTIVATIONS)}.\n"
        f"- **Methods**: {'; '.join(METHODS)} (the control: the layers below the middle SG "
        "never learn).\n"
        f"- **Budget**: {EPOCHS} epochs, {STEPS:,} steps of {BATCH} examples, Adam; held-out "
        f"accuracy every {EVAL_EVERY} steps ({STEPS // EVAL_EVERY} evaluations).\n"
        "- **Recorded**: the training loss and each SG's regression loss at every step; at "
        "every evaluation, held-out accuracy and loss, each layer's raw and batch-norm-folded "
        "weight norm and how far its weights moved from initialisation, and each hidden layer's "
        "cosine between the signal it receives and the true gradient (on the first "
        f"{ALIGN} training images; not for the control, whose lower layers receive none).\n"
        f"- **Learning rate**, per activation, depth and method: {rates} on one seed "
        f"({SELECT_SEED}), scored on the validation images by the mean accuracy of the last "
        f"{analysis.LAST} evaluations. The best rate is chosen; ties (closer than half an image) "
        "go to the smaller rate; a diverged run ranks below every other. If the best is at an "
        "edge of the grid (or every run diverged), the grid is extended once, by about a factor "
        f"of 3 beyond that edge ({', '.join(f'{v:g}' for v in EXTENSION.values())}), and the "
        "choice is made again over the four rates.\n"
        f"- **Reported**: seeds {', '.join(map(str, SEEDS))} (not the selection seed) at the "
        f"chosen rate, on the test images; a run's accuracy is the mean of its last "
        f"{analysis.LAST} evaluations.\n"
        "- **Verdicts**: C5.1p and C5.2p (ReLU; C5.1p-tanh and C5.2p-tanh) by the book's "
        'rules: a seed-paired 95% t-interval over the five seeds; "many hidden layers" is '
        f"decided at the deepest, {max(DEPTHS)}.\n"
        "- **Order**: ReLU at 6, 20 and 50 layers (all four methods) first, then 3 and 12, "
        "then tanh.\n"
        "- **Device**: every run on the CPU, one torch thread each; every run of a comparison "
        "from the same source hash, and from a commit that descends from this plan's.\n"
    )


def plan_text() -> str:
    """The registered plan, from the constants that run it: ``store/05_full_mnist/PLAN.md``
    must hold exactly this before a run is made (and the page shows it)."""
    return "# Registered plan: chapter 5's depth sweep on full MNIST\n\n" + _plan()


def select_label(cell: Cell, rate: float) -> str:
    return f"{cell[0]}/{cell[1]}/{cell[2]}/lr {rate:g}"


def final_label(cell: Cell) -> str:
    return f"{cell[0]}/{cell[1]}/{cell[2]}"


def _task(cell: Cell, rate: float, seeds: tuple[int, ...], scale: str) -> Task:
    activation, depth, method = cell
    rule, conditioned = METHODS[method]
    fit = dict(seeds=list(seeds), rule=rule, conditioned=conditioned, hidden=[WIDTH] * depth,
               batch_norm=True, activation=activation, steps=STEPS, lr=rate, batch_size=BATCH,
               eval_every=EVAL_EVERY, norms=True,
               align_examples=0 if rule == "frozen_middle" else ALIGN)  # fmt: skip
    return Task("mnist", fit, {"scale": scale})


def choose_rate(scores: Mapping[float, float]) -> tuple[float | None, float | None]:
    """The registered rule, from each tried rate's validation score (NaN: diverged):
    ``(chosen rate, None)``, or ``(None, rate to try first)`` when the grid must be extended,
    or ``(None, None)`` while a rate of the grid is not tried yet."""
    if not set(RATES) <= set(scores):
        return None, None
    finite = {r: s for r, s in scores.items() if math.isfinite(s)}
    if finite:
        best = max(finite.values())
        chosen = min(r for r, s in finite.items() if s > best - TIE)
    else:
        chosen = None
    edge = min(RATES) if chosen is None else chosen
    extension = EXTENSION.get(edge)
    if extension is not None and extension not in scores:
        return None, extension
    return (min(scores) if chosen is None else chosen), None


def _scores(root: Path | None = None) -> dict[Cell, dict[float, float]]:
    """Each cell's validation score per rate, from the selection runs that are current (made
    by this code, under the plan's registration)."""
    every = {select_label(c, r): (c, r) for c in CELLS for r in (*RATES, *EXTENSION.values())}
    probe = store.Experiment(SELECT, "05_representations", "", "",
                             {label: _task(c, r, (SELECT_SEED,), "full-validation")
                              for label, (c, r) in every.items()},
                             plan=PLAN_FILE, plan_text=plan_text())  # fmt: skip
    out: dict[Cell, dict[float, float]] = {c: {} for c in CELLS}
    for label, end in store.end_values(probe, "test_acc", analysis.LAST, root).items():
        cell, rate = every[label]
        out[cell][rate] = float(end[0])
    return out


def chosen_rates(root: Path | None = None) -> dict[Cell, float]:
    """The learning rate the rule chose for each cell whose selection is complete."""
    choices = {c: choose_rate(s) for c, s in _scores(root).items()}
    return {c: rate for c, (rate, _) in choices.items() if rate is not None}


def selection_table(root: Path | None = None) -> pd.DataFrame | None:
    """Per cell whose selection has begun: each rate's validation accuracy (mean of the last
    evaluations; NaN: diverged; blank: not tried) and the rate the rule chose (blank while it
    waits). None before any selection run."""
    rates = sorted({*RATES, *EXTENSION.values()})
    rows = []
    for (activation, depth, method), scores in _scores(root).items():
        if scores:
            chosen, _ = choose_rate(scores)
            rows.append({"activation": activation, "depth": depth, "method": method,
                         **{f"lr {r:g}": scores.get(r, "") for r in rates},
                         "chosen": "" if chosen is None else f"{chosen:g}"})  # fmt: skip
    if not rows:
        return None
    table = pd.DataFrame(rows).set_index(["activation", "depth", "method"])
    tried = [c for c in table.columns if c == "chosen" or (table[c] != "").any()]
    return table[tried]


def selection_experiment(root: Path | None = None) -> store.Experiment:
    """The selection runs: every cell at every rate of the grid, plus each extension the rule
    has asked for so far."""
    runs = {}
    scores = _scores(root)
    for cell in CELLS:
        rates = list(RATES)
        _, extension = choose_rate(scores[cell])
        rates += [r for r in EXTENSION.values() if r in scores[cell] or r == extension]
        for rate in rates:
            runs[select_label(cell, rate)] = _task(cell, rate, (SELECT_SEED,), "full-validation")
    return store.Experiment(
        SELECT, "05_representations",
        f"Learning-rate selection for the registered depth sweep: {len(CELLS)} cells, each "
        f"at {', '.join(f'{r:g}' for r in RATES)} on seed {SELECT_SEED}, scored on 10,000 "
        "held-out training images.",
        f"{STEPS:,} steps ({EPOCHS} epochs of {N_TRAIN:,} images), fixed before any run "
        f"(store/{PLAN_FILE}).",
        runs, "full MNIST, learning-rate selection (validation split)",
        plan=PLAN_FILE, plan_text=plan_text(),
    )  # fmt: skip


def final_experiment(root: Path | None = None) -> store.Experiment:
    """The reported runs: each cell whose rate is chosen, on seeds :data:`SEEDS`; the others
    pending."""
    rates = chosen_rates(root)
    return store.Experiment(
        FINAL, "05_representations",
        f"The registered depth sweep on full MNIST: {', '.join(ACTIVATIONS)} MLPs of "
        f"{', '.join(map(str, sorted(DEPTHS)))} hidden layers of {WIDTH} units with batch "
        f"norm, {len(METHODS)} methods, each at the learning rate chosen on the validation "
        f"split; seeds {SEEDS[0]}-{SEEDS[-1]}, scored on the official test images.",
        f"{STEPS:,} steps ({EPOCHS} epochs of {N_TRAIN:,} images), fixed before any run "
        f"(store/{PLAN_FILE}).",
        {final_label(c): _task(c, rates[c], SEEDS, "full-test") for c in CELLS if c in rates},
        f"full MNIST, width {WIDTH}, {min(DEPTHS)} to {max(DEPTHS)} hidden layers, "
        f"{EPOCHS} epochs, {len(SEEDS)} seeds, registered",
        pending=tuple(final_label(c) for c in CELLS if c not in rates),
        plan=PLAN_FILE, plan_text=plan_text(),
    )  # fmt: skip


def page_text(root: Path | None = None) -> str:
    """The plan and how far the store has carried it out, for the chapter's page."""
    select, final = selection_experiment(root), final_experiment(root)
    made = {e.name: sum(s == "ok" for s in store.load(e, root).status.values())
            for e in (select, final)}  # fmt: skip
    return (
        "**Registered plan**, fixed before any run:\n\n"
        + _plan()
        + f"\n**Made so far**: {made[SELECT]} of {len(select.runs)} selection runs, "
        f"{made[FINAL]} of {len(CELLS)} reported cells ({len(final.pending)} waiting for their "
        "learning rate). `make paper EXPERIMENT=05_full_mnist_select` then "
        "`make paper EXPERIMENT=05_full_mnist` makes the rest, resumably.\n"
    )
