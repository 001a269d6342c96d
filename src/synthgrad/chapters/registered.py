"""A grid of runs registered before any of them is made (issue 25): the rule that chooses each
cell's learning rate on a validation split, and the two store experiments that carry it out.

A :class:`Grid` names its cells (each a tuple its ``task`` turns into a run), its learning rates
and their one registered extension beyond each edge, its selection seed and its reported seeds,
and its plan (``plan``: a Markdown list written to ``store/<final>/PLAN.md``, which must be
committed before ``make paper`` makes a run of either experiment:
:func:`synthgrad.store.registration`). First the selection runs (one seed per learning rate,
scored on held-out training images), then the reported runs (the other seeds at each cell's
chosen rate, scored on the test images). Both are functions of what the store holds: the
selection adds a cell's extension when its best rate is at an edge, and a reported cell is
pending until its rate is chosen. Chapter 5's depth sweep (:mod:`.depth_sweep`) and chapter
1's DNI table on full MNIST (:mod:`.dni_table`) are such grids.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import analysis, store
from ..sweep import Task

Cell = tuple[Any, ...]


@dataclass(frozen=True)
class Grid:
    """One registered grid: see the module's docstring. ``task(cell, rate, seeds, scale)``
    builds a run; ``columns`` name a cell's fields in the selection table."""

    select: str  # the selection experiment's name
    final: str  # the reported experiment's name (its folder holds PLAN.md)
    chapter: str
    title: str  # the plan's heading
    cells: Sequence[Cell]
    columns: tuple[str, ...]
    task: Callable[[Cell, float, tuple[int, ...], str], Task]
    plan: Callable[[], str]
    rates: tuple[float, ...] = (3e-4, 1e-3, 3e-3)
    extension: Mapping[float, float] = field(default_factory=dict)  # edge -> beyond it
    select_seed: int = 100
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    tie: float = 0.5 / 10_000  # half an image of the 10,000 held out
    describe_select: str = ""  # the experiments' descriptions, budget and scale (the store's
    describe_final: str = ""  # manifests and the build page show them)
    budget: str = ""
    scale_select: str = ""
    scale_final: str = ""

    @property
    def plan_file(self) -> str:
        return f"{self.final}/PLAN.md"  # under the store's root

    # the grid's experiments and page, as this module's functions give them
    def selection_experiment(self, root: Path | None = None) -> store.Experiment:
        return selection_experiment(self, root)

    def final_experiment(self, root: Path | None = None) -> store.Experiment:
        return final_experiment(self, root)

    def selection_table(self, root: Path | None = None) -> pd.DataFrame | None:
        return selection_table(self, root)

    def page_text(self, root: Path | None = None) -> str:
        return page_text(self, root)


def mlp_task(
    methods: Mapping[str, tuple[str, bool]],
    *,
    width: int,
    steps: int,
    batch: int,
    eval_every: int,
    align: int,
) -> Callable[[Cell, float, tuple[int, ...], str], Task]:
    """The ``task`` of a grid of batch-norm MLPs on full MNIST whose cells are ``(activation,
    hidden layers, method)``; ``methods`` maps a method's name on the page to its ``(rule,
    conditioned)``. Every run records its weight norms and, but for a control (a ``frozen_``
    rule: the layers it freezes get no signal), each layer's signal against the true gradient
    on ``align`` training examples."""

    def task(cell: Cell, rate: float, seeds: tuple[int, ...], scale: str) -> Task:
        activation, depth, method = cell
        rule, conditioned = methods[method]
        fit = dict(seeds=list(seeds), rule=rule, conditioned=conditioned, hidden=[width] * depth,
                   batch_norm=True, activation=activation, steps=steps, lr=rate,
                   batch_size=batch, eval_every=eval_every, norms=True,
                   align_examples=0 if rule.startswith("frozen_") else align)  # fmt: skip
        return Task("mnist", fit, {"scale": scale})

    return task


def plan_text(grid: Grid) -> str:
    """The registered plan: ``store/<final>/PLAN.md`` must hold exactly this."""
    return f"# Registered plan: {grid.title}\n\n" + grid.plan()


def select_label(cell: Cell, rate: float) -> str:
    return "/".join(map(str, cell)) + f"/lr {rate:g}"


def final_label(cell: Cell) -> str:
    return "/".join(map(str, cell))


def choose_rate(grid: Grid, scores: Mapping[float, float]) -> tuple[float | None, float | None]:
    """The registered rule, from each tried rate's validation score (NaN: diverged):
    ``(chosen rate, None)``, or ``(None, rate to try first)`` when the grid must be extended,
    or ``(None, None)`` while a rate of the grid is not tried yet. The best rate is chosen,
    ties (within ``grid.tie``) to the smaller; a diverged run ranks below every other."""
    if not set(grid.rates) <= set(scores):
        return None, None
    finite = {r: s for r, s in scores.items() if math.isfinite(s)}
    if finite:
        best = max(finite.values())
        chosen = min(r for r, s in finite.items() if s > best - grid.tie)
    else:
        chosen = None
    edge = min(grid.rates) if chosen is None else chosen
    extension = grid.extension.get(edge)
    if extension is not None and extension not in scores:
        return None, extension
    return (min(scores) if chosen is None else chosen), None


def _scores(grid: Grid, root: Path | None = None) -> dict[Cell, dict[float, float]]:
    """Each cell's validation score per rate, from the selection runs that are current (made
    by this code, under the plan's registration)."""
    every = {select_label(c, r): (c, r) for c in grid.cells
             for r in (*grid.rates, *grid.extension.values())}  # fmt: skip
    probe = store.Experiment(grid.select, grid.chapter, "", "",
                             {label: grid.task(c, r, (grid.select_seed,), "full-validation")
                              for label, (c, r) in every.items()},
                             plan=grid.plan_file, plan_text=plan_text(grid))  # fmt: skip
    out: dict[Cell, dict[float, float]] = {c: {} for c in grid.cells}
    for label, end in store.end_values(probe, "test_acc", analysis.LAST, root).items():
        cell, rate = every[label]
        out[cell][rate] = float(end[0])
    return out


def chosen_rates(grid: Grid, root: Path | None = None) -> dict[Cell, float]:
    """The learning rate the rule chose for each cell whose selection is complete."""
    choices = {c: choose_rate(grid, s) for c, s in _scores(grid, root).items()}
    return {c: rate for c, (rate, _) in choices.items() if rate is not None}


def selection_table(grid: Grid, root: Path | None = None) -> pd.DataFrame | None:
    """Per cell whose selection has begun: each rate's validation accuracy (mean of the last
    evaluations; NaN: diverged; blank: not tried) and the rate the rule chose (blank while it
    waits). None before any selection run."""
    rates = sorted({*grid.rates, *grid.extension.values()})
    rows = []
    for cell, scores in _scores(grid, root).items():
        if scores:
            chosen, _ = choose_rate(grid, scores)
            rows.append({**dict(zip(grid.columns, cell, strict=True)),
                         **{f"lr {r:g}": scores.get(r, "") for r in rates},
                         "chosen": "" if chosen is None else f"{chosen:g}"})  # fmt: skip
    if not rows:
        return None
    table = pd.DataFrame(rows).set_index(list(grid.columns))
    tried = [c for c in table.columns if c == "chosen" or (table[c] != "").any()]
    return table[tried]


def selection_experiment(grid: Grid, root: Path | None = None) -> store.Experiment:
    """The selection runs: every cell at every rate of the grid, plus each extension the rule
    has asked for so far."""
    runs = {}
    scores = _scores(grid, root)
    for cell in grid.cells:
        rates = list(grid.rates)
        _, extension = choose_rate(grid, scores[cell])
        rates += [r for r in grid.extension.values() if r in scores[cell] or r == extension]
        for rate in rates:
            runs[select_label(cell, rate)] = grid.task(
                cell, rate, (grid.select_seed,), "full-validation"
            )
    return store.Experiment(
        grid.select, grid.chapter, grid.describe_select, grid.budget, runs,
        grid.scale_select,
        plan=grid.plan_file, plan_text=plan_text(grid),
    )  # fmt: skip


def final_experiment(grid: Grid, root: Path | None = None) -> store.Experiment:
    """The reported runs: each cell whose rate is chosen, on the grid's seeds; the others
    pending."""
    rates = chosen_rates(grid, root)
    return store.Experiment(
        grid.final, grid.chapter, grid.describe_final, grid.budget,
        {final_label(c): grid.task(c, rates[c], grid.seeds, "full-test")
         for c in grid.cells if c in rates},
        grid.scale_final,
        pending=tuple(final_label(c) for c in grid.cells if c not in rates),
        plan=grid.plan_file, plan_text=plan_text(grid),
    )  # fmt: skip


def cell_ends(
    experiment: store.Experiment,
    cells: Sequence[Cell],
    metric: str = "test_acc",
    last: int = analysis.LAST,
    root: Path | None = None,
) -> dict[Cell, Any]:
    """Each of ``cells`` that ``experiment`` (a grid's reported runs) has made with the current
    code: its seeds' mean of ``metric`` over the last ``last`` records (NaN: diverged)."""
    ends = store.end_values(experiment, metric, last, root)
    return {c: ends[final_label(c)] for c in cells if final_label(c) in ends}


def page_text(grid: Grid, root: Path | None = None) -> str:
    """The plan and how far the store has carried it out, for the chapter's page."""
    select, final = selection_experiment(grid, root), final_experiment(grid, root)
    made = {e.name: store.made(e, root) for e in (select, final)}
    return (
        "**Registered plan**, fixed before any run:\n\n"
        + grid.plan()
        + f"\n**Made so far**: {made[grid.select]} of {len(select.runs)} selection runs, "
        f"{made[grid.final]} of {len(grid.cells)} reported cells ({len(final.pending)} waiting "
        f"for their learning rate). `make paper EXPERIMENT={grid.select}` then "
        f"`make paper EXPERIMENT={grid.final}` makes the rest, resumably.\n"
    )
