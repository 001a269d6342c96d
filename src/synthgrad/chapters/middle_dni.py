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

from . import depth_sweep, dni_table, registered

SELECT, FINAL = "01_middle_dni_select", "01_middle_dni"
DNI, CDNI = "SG middle, DNI", "SG middle, cDNI"  # CDNI: the sweep's name for its middle SG
DEPTHS = dni_table.MIDDLE_DEPTHS  # the sweep's depths within the DNI paper's MNIST range
METHODS = {DNI: ("sg_middle", False)}  # name on the page -> (rule, conditioned)
CELLS = [("relu", d, DNI) for d in DEPTHS]
S = depth_sweep  # the budget, split, rates and seeds are the sweep's


def _plan() -> str:
    """The plan's points, as a Markdown list."""
    depths = " and ".join(map(str, DEPTHS))
    return (
        "- **Question**: chapter 1's C1.3 with one SG after the middle hidden layer: does "
        "conditioning the SG on the label (cDNI) give a better network than an SG that does "
        "not see it (DNI)? The book's run has 3 seeds on 8,000 images, and the store held no "
        "unconditioned SG in the middle.\n"
        + S.same_settings()
        + f"- **Networks**: {depths} hidden layers of {S.WIDTH} ReLU units with batch norm "
        "(the sweep's depths within the DNI paper's MNIST range, as for C1.1p).\n"
        f"- **Method**: {DNI}: the sweep's middle SG without the label. Its partner, "
        f"{CDNI}, is the sweep's own cell at each depth (the same runs, not made again).\n"
        "- **Verdict**: C1.3p by chapter 1's rule for C1.3: per seed (paired), cDNI minus DNI "
        "with a 95% t-interval over the five seeds above 0, in both placements: the middle "
        f"(this grid and the sweep, at {depths} hidden layers) and after every layer (the "
        f"registered DNI table, `store/{dni_table.GRID.plan_file}`, at its depths).\n"
        f"- **Order**: {depths} hidden layers.\n"
    )


GRID = S.derived(
    select=SELECT, final=FINAL, chapter="01_primer",
    title="chapter 1's C1.3 with one SG in the middle, on full MNIST", cells=CELLS,
    methods=METHODS, plan=_plan, what="middle DNI SG",
    describe_final=(
        f"One SG after the middle hidden layer without the label (DNI), ReLU MLPs of "
        f"{' and '.join(map(str, DEPTHS))} hidden layers of {S.WIDTH} units with batch norm, at "
        "the rate chosen on the validation split; its cDNI partner is the depth sweep's."),
    scale_final=(f"full MNIST, width {S.WIDTH}, ReLU, {' and '.join(map(str, DEPTHS))} hidden "
                 f"layers, {S.EPOCHS} epochs, {len(S.SEEDS)} seeds, registered"),
)  # fmt: skip


def accuracy(root: Path | None = None) -> dict[tuple[int, str], np.ndarray]:
    """Per (hidden layers, :data:`DNI`) made so far, each seed's test accuracy of the middle
    DNI SG, the mean of its last evaluations (NaN: diverged; only runs made by the current
    code): keyed as :func:`.dni_table.middle_accuracy`, whose cDNI partners it joins."""
    ends = registered.cell_ends(GRID.final_experiment(root), CELLS, root=root)
    return {(d, m): end for (_, d, m), end in ends.items()}
