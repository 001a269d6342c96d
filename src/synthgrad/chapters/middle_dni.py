"""Chapter 1's C1.3 with one SG in the middle, on full MNIST, registered before any run: an
SG after the middle hidden layer that does not see the label (DNI), at 3 and 6 hidden layers,
to pair with the cDNI SG that chapter 5's registered sweep made there (:mod:`.depth_sweep`:
the same networks, data, budget, learning-rate rule and seeds).

The sweep and the DNI table (:mod:`.dni_table`) hold every other run C1.3 needs; this grid
makes the one that was missing, so that C1.3's verdict of record covers both of the claim's
placements. Each cell is a ``(activation, depth, method)`` with the sweep's labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import analysis
from . import depth_sweep, dni_table, registered

SELECT, FINAL = "01_middle_dni_select", "01_middle_dni"
DNI, CDNI = "SG middle, DNI", "SG middle, cDNI"  # CDNI: the sweep's name for its middle SG
DEPTHS = dni_table.MIDDLE_DEPTHS  # the sweep's depths within the DNI paper's MNIST range
METHODS = {DNI: ("sg_middle", False)}  # name on the page -> (rule, conditioned)
CELLS = [("relu", d, DNI) for d in DEPTHS]
S = depth_sweep  # the budget, split, rates and seeds are the sweep's


def _plan() -> str:
    """The plan's points, as a Markdown list."""
    rates = ", ".join(f"{r:g}" for r in S.RATES)
    depths = " and ".join(map(str, DEPTHS))
    return (
        "- **Question**: chapter 1's C1.3 with one SG after the middle hidden layer: does "
        "conditioning the SG on the label (cDNI) give a better network than an SG that does "
        "not see it (DNI)? The book's run has 3 seeds on 8,000 images, and the store held no "
        "unconditioned SG in the middle.\n"
        f"- **Data, budget, learning rates, seeds, device**: exactly those of chapter 5's "
        f"registered sweep (`store/{S.GRID.plan_file}`): {S.N_TRAIN:,} training images, 10,000 "
        f"held-out training images to choose rates, the official test images to report; "
        f"{S.EPOCHS} epochs ({S.STEPS:,} steps of {S.BATCH}), Adam; {rates} on seed "
        f"{S.SELECT_SEED} with the same rule and extension; seeds "
        f"{', '.join(map(str, S.SEEDS))} reported, the mean of the last {analysis.LAST} "
        "evaluations; CPU, one thread per run.\n"
        f"- **Networks**: {depths} hidden layers of {S.WIDTH} ReLU units with batch norm "
        "(the sweep's depths within the DNI paper's MNIST range, as for C1.1p).\n"
        f"- **Method**: {DNI}: the sweep's middle SG without the label. Its partner, "
        f"{CDNI}, is the sweep's own cell at each depth (the same runs, not made again).\n"
        "- **Verdict**: C1.3p by chapter 1's rule for C1.3: per seed (paired), cDNI minus DNI "
        "with a 95% t-interval over the five seeds above 0, in both placements: the middle "
        f"(this grid and the sweep, at {depths} hidden layers) and after every layer (the "
        f"registered DNI table, `store/{dni_table.GRID.plan_file}`, at its depths).\n"
        f"- **Order**: {depths} hidden layers.\n"
    )


GRID = registered.Grid(
    select=SELECT, final=FINAL, chapter="01_primer",
    title="chapter 1's C1.3 with one SG in the middle, on full MNIST", cells=CELLS,
    columns=("activation", "depth", "method"), task=registered.mlp_task(
        METHODS, width=S.WIDTH, steps=S.STEPS, batch=S.BATCH, eval_every=S.EVAL_EVERY,
        align=S.ALIGN),
    plan=_plan, rates=S.RATES,
    extension=S.EXTENSION, select_seed=S.SELECT_SEED, seeds=S.SEEDS, tie=S.TIE,
    describe_select=(
        f"Learning-rate selection for the registered middle DNI SG: {len(CELLS)} cells, each at "
        f"{', '.join(f'{r:g}' for r in S.RATES)} on seed {S.SELECT_SEED}, scored on 10,000 "
        "held-out training images."),
    describe_final=(
        f"One SG after the middle hidden layer without the label (DNI), ReLU MLPs of "
        f"{' and '.join(map(str, DEPTHS))} hidden layers of {S.WIDTH} units with batch norm, at "
        "the rate chosen on the validation split; its cDNI partner is the depth sweep's."),
    budget=(f"{S.STEPS:,} steps ({S.EPOCHS} epochs of {S.N_TRAIN:,} images), fixed before any "
            f"run (store/{FINAL}/PLAN.md)."),
    scale_select="full MNIST, learning-rate selection (validation split)",
    scale_final=(f"full MNIST, width {S.WIDTH}, ReLU, {' and '.join(map(str, DEPTHS))} hidden "
                 f"layers, {S.EPOCHS} epochs, {len(S.SEEDS)} seeds, registered"),
)  # fmt: skip


def accuracy(root: Path | None = None) -> dict[tuple[int, str], np.ndarray]:
    """Per (hidden layers, :data:`DNI`) made so far, each seed's test accuracy of the middle
    DNI SG, the mean of its last evaluations (NaN: diverged; only runs made by the current
    code): keyed as :func:`.dni_table.middle_accuracy`, whose cDNI partners it joins."""
    ends = registered.cell_ends(GRID.final_experiment(root), CELLS, root=root)
    return {(d, m): end for (_, d, m), end in ends.items()}
