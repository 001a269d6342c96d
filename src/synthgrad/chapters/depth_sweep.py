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

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from .. import analysis, store
from . import registered

SELECT, FINAL = "05_full_mnist_select", "05_full_mnist"
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
    return registered.plan_text(GRID)


def select_label(cell: Cell, rate: float) -> str:
    return registered.select_label(cell, rate)


def final_label(cell: Cell) -> str:
    return registered.final_label(cell)


GRID = registered.Grid(
    select=SELECT, final=FINAL, chapter="05_representations",
    title="chapter 5's depth sweep on full MNIST", cells=CELLS,
    columns=("activation", "depth", "method"), task=registered.mlp_task(
        METHODS, width=WIDTH, steps=STEPS, batch=BATCH, eval_every=EVAL_EVERY, align=ALIGN),
    plan=_plan, rates=RATES,
    extension=EXTENSION, select_seed=SELECT_SEED, seeds=SEEDS, tie=TIE,
    describe_select=(
        f"Learning-rate selection for the registered depth sweep: {len(CELLS)} cells, each "
        f"at {', '.join(f'{r:g}' for r in RATES)} on seed {SELECT_SEED}, scored on 10,000 "
        "held-out training images."),
    describe_final=(
        f"The registered depth sweep on full MNIST: {', '.join(ACTIVATIONS)} MLPs of "
        f"{', '.join(map(str, sorted(DEPTHS)))} hidden layers of {WIDTH} units with batch "
        f"norm, {len(METHODS)} methods, each at the learning rate chosen on the validation "
        f"split; seeds {SEEDS[0]}-{SEEDS[-1]}, scored on the official test images."),
    budget=(f"{STEPS:,} steps ({EPOCHS} epochs of {N_TRAIN:,} images), fixed before any run "
            f"(store/{FINAL}/PLAN.md)."),
    scale_select="full MNIST, learning-rate selection (validation split)",
    scale_final=(f"full MNIST, width {WIDTH}, {min(DEPTHS)} to {max(DEPTHS)} hidden layers, "
                 f"{EPOCHS} epochs, {len(SEEDS)} seeds, registered"),
)  # fmt: skip


def same_settings() -> str:
    """The plan point of a grid on this sweep's settings (:func:`derived`), as registered."""
    rates = ", ".join(f"{r:g}" for r in RATES)
    return (
        f"- **Data, budget, learning rates, seeds, device**: exactly those of chapter 5's "
        f"registered sweep (`store/{GRID.plan_file}`): {N_TRAIN:,} training images, 10,000 "
        f"held-out training images to choose rates, the official test images to report; "
        f"{EPOCHS} epochs ({STEPS:,} steps of {BATCH}), Adam; {rates} on seed "
        f"{SELECT_SEED} with the same rule and extension; seeds "
        f"{', '.join(map(str, SEEDS))} reported, the mean of the last {analysis.LAST} "
        "evaluations; CPU, one thread per run.\n"
    )


def derived(
    *, methods: Mapping[str, tuple[str, bool]], what: str, **fields: Any
) -> registered.Grid:
    """A grid on this sweep's data, budget, rates, rule and seeds (chapter 1's DNI table and
    middle DNI SG): its own cells of ``methods``, plan, names and descriptions (``fields``);
    ``what`` names it in the selection's description."""
    cells = fields["cells"]
    return replace(
        GRID,
        columns=("activation", "depth", "method"),
        task=registered.mlp_task(methods, width=WIDTH, steps=STEPS, batch=BATCH,
                                 eval_every=EVAL_EVERY, align=ALIGN),
        describe_select=(
            f"Learning-rate selection for the registered {what}: {len(cells)} cells, each at "
            f"{', '.join(f'{r:g}' for r in RATES)} on seed {SELECT_SEED}, scored on 10,000 "
            "held-out training images."),
        budget=(f"{STEPS:,} steps ({EPOCHS} epochs of {N_TRAIN:,} images), fixed before any "
                f"run (store/{fields['final']}/PLAN.md)."),
        **fields,
    )  # fmt: skip


def choose_rate(scores: Mapping[float, float]) -> tuple[float | None, float | None]:
    """The registered rule (:func:`.registered.choose_rate`) on this grid."""
    return registered.choose_rate(GRID, scores)


def chosen_rates(root: Path | None = None) -> dict[Cell, float]:
    """The learning rate the rule chose for each cell whose selection is complete."""
    return registered.chosen_rates(GRID, root)  # type: ignore[return-value]


def selection_table(root: Path | None = None) -> pd.DataFrame | None:
    """Each cell's validation accuracy per rate and the rate chosen (:mod:`.registered`)."""
    return registered.selection_table(GRID, root)


def selection_experiment(root: Path | None = None) -> store.Experiment:
    """The selection runs: every cell at every rate, plus the extensions asked for so far."""
    return registered.selection_experiment(GRID, root)


def final_experiment(root: Path | None = None) -> store.Experiment:
    """The reported runs: each cell whose rate is chosen, on seeds :data:`SEEDS`; the others
    pending."""
    return registered.final_experiment(GRID, root)


def page_text(root: Path | None = None) -> str:
    """The plan and how far the store has carried it out, for the chapter's page."""
    return registered.page_text(GRID, root)
