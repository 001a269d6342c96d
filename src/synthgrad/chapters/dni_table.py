"""Chapter 1's DNI table on full MNIST, registered before any run (issue 25): the DNI paper's
MNIST comparison (an SG after every hidden layer, with and without the label, against
backprop) at 3 to 6 hidden layers, on the training split and the budget of chapter 5's
registered sweep, with its rule for choosing each learning rate (:mod:`.registered`).

The sweep already makes backprop and the every-layer cDNI SG at 3 and 6 hidden layers with the
same network, data, budget, rates and seeds, so those four cells are read from it
(:data:`FROM_SWEEP`) and this grid makes the rest: DNI (no label) and the control at 3 and 6,
all four methods at 4 and 5. Each cell is a ``(activation, depth, method)`` with the sweep's
labels (``relu/4/backprop``), so that the table reads one kind of label from both.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .. import analysis, store
from . import depth_sweep, registered

SELECT, FINAL = "01_dni_full_select", "01_dni_full"
DEPTHS = (3, 4, 5, 6)
CDNI, DNI = "SG every layer, cDNI", "SG every layer, DNI"
METHODS = {  # name on the page -> (rule, conditioned)
    "backprop": ("backprop", False),
    CDNI: ("sg_every", True),
    DNI: ("sg_every", False),
    analysis.CONTROL_EVERY: ("frozen_every", False),
}
FROM_SWEEP = [("relu", d, m) for d in (3, 6) for m in ("backprop", CDNI)]  # made by the sweep
ORDER = (4, 5, 3, 6)  # the order of making: the depths with nothing made yet first
CELLS = [("relu", d, m) for d in ORDER for m in METHODS if ("relu", d, m) not in FROM_SWEEP]
S = depth_sweep  # the budget, split, rates and seeds are the sweep's


def _plan() -> str:
    """The plan's points, as a Markdown list."""
    return (
        "- **Question**: the DNI paper's MNIST table: with a synthetic "
        "gradient after every hidden layer, does cDNI (the SG also sees the label) train an "
        "MLP to about backprop's error, and does DNI (no label) do worse? Chapter 1's C1.4p, "
        "until now judged on 8,000 images cut from the test set.\n"
        + S.same_settings()
        + f"- **Networks**: {', '.join(map(str, DEPTHS))} hidden layers of {S.WIDTH} ReLU units "
        "with batch norm.\n"
        f"- **Methods**: {'; '.join(METHODS)} (the control: no hidden layer learns, only the "
        "output layer; it receives no SG signal, so its alignment is not recorded).\n"
        "- **Cells from the sweep**: backprop and the every-layer cDNI SG at 3 and 6 hidden "
        "layers are the sweep's own cells (the same runs); this grid makes the other "
        f"{len(CELLS)}.\n"
        "- **Verdict**: C1.4p by chapter 1's rule, at every depth where all four are made: "
        "per seed (paired) cDNI minus backprop above -1 percentage point, cDNI minus DNI above "
        "0, cDNI minus the control above +1 point (95% t-intervals over the five seeds).\n"
        "- **Order**: 4 and 5 hidden layers (all four methods), then DNI and the control at 3 "
        "and 6.\n"
    )


GRID = S.derived(
    select=SELECT, final=FINAL, chapter="01_primer",
    title="chapter 1's DNI table on full MNIST", cells=CELLS,
    methods=METHODS, plan=_plan, what="DNI table",
    describe_final=(
        "The registered DNI table on full MNIST: ReLU MLPs of 3 to 6 hidden layers of "
        f"{S.WIDTH} units with batch norm; backprop, an SG after every layer with (cDNI) and "
        "without (DNI) the label, and the control; each at the rate chosen on the validation "
        "split; backprop and cDNI at 3 and 6 layers are the depth sweep's."),
    scale_final=(f"full MNIST, width {S.WIDTH}, 3 to 6 hidden layers, {S.EPOCHS} epochs, "
                 f"{len(S.SEEDS)} seeds, registered"),
)  # fmt: skip


# the names chapter 1's table and C1.4p use
SHORT = {"backprop": "backprop", CDNI: "cDNI", DNI: "DNI",
         analysis.CONTROL_EVERY: analysis.CONTROL_EVERY}  # fmt: skip


def accuracy(root: Path | None = None) -> dict[tuple[int, str], np.ndarray]:
    """The registered table made so far, in chapter 1's form: per (hidden layers, method) each
    seed's test accuracy, the mean of its last evaluations (NaN: diverged), from this grid's
    reported runs and the sweep's four (only runs made by the current code)."""
    out = {}
    for experiment, cells in (
        (final_experiment(root), CELLS),
        (S.final_experiment(root), FROM_SWEEP),
    ):
        ends = registered.cell_ends(experiment, cells, root=root)
        out |= {(depth, SHORT[method]): end for (_, depth, method), end in ends.items()}
    return out


# C1.1p: one SG in the middle, read from chapter 5's registered sweep (the same networks, data,
# budget, rate rule and seeds as this table) at its depths within the DNI paper's MNIST range
MIDDLE = ("backprop", "SG middle, cDNI", analysis.CONTROL)  # the sweep's names, chapter 1's too
MIDDLE_DEPTHS = (3, 6)
MIDDLE_SCALE = (
    f"full MNIST, width {S.WIDTH}, ReLU, {' and '.join(map(str, MIDDLE_DEPTHS))} hidden layers, "
    f"{S.EPOCHS} epochs, {len(S.SEEDS)} seeds: chapter 5's registered sweep"
)


def middle_accuracy(root: Path | None = None) -> dict[tuple[int, str], np.ndarray]:
    """The sweep's ReLU runs of :data:`MIDDLE` at :data:`MIDDLE_DEPTHS` made so far: per
    (hidden layers, method) each seed's test accuracy, the mean of its last evaluations (NaN:
    diverged; only runs made by the current code)."""
    return _middle("test_acc", analysis.LAST, root)


def middle_train_loss(root: Path | None = None) -> dict[tuple[int, str], np.ndarray]:
    """As :func:`middle_accuracy`, each seed's training loss over the last tenth of the budget:
    whether a method that ends above another on held-out data also fits the training data
    better."""
    return _middle("loss", S.STEPS // 10, root)


def _middle(metric: str, last: int, root: Path | None) -> dict[tuple[int, str], np.ndarray]:
    cells = [("relu", d, m) for d in MIDDLE_DEPTHS for m in MIDDLE]
    ends = registered.cell_ends(S.final_experiment(root), cells, metric, last, root)
    return {(d, m): end for (_, d, m), end in ends.items()}


def complete_depths(
    acc: Mapping[tuple[int, str], np.ndarray], methods: tuple[str, ...] = tuple(SHORT.values())
) -> list[int]:
    """The depths of a table per (depth, method) where every one of ``methods`` is made (by
    default this table's four: where C1.4p can be judged; :data:`MIDDLE`: where C1.1p can)."""
    return sorted({d for d, _ in acc if all((d, m) in acc for m in methods)})


def selection_experiment(root: Path | None = None) -> store.Experiment:
    return registered.selection_experiment(GRID, root)


def final_experiment(root: Path | None = None) -> store.Experiment:
    return registered.final_experiment(GRID, root)


def selection_table(root: Path | None = None) -> pd.DataFrame | None:
    return registered.selection_table(GRID, root)


def page_text(root: Path | None = None) -> str:
    return registered.page_text(GRID, root)
