"""Sweeps as independent tasks for any ``concurrent.futures.Executor``.

A paper-scale sweep (depths x methods x seeds x learning rates) is many runs that share
nothing. Each :class:`Task` names its dataset (loaded once per worker) and the keyword
arguments of :func:`synthgrad.train.fit` (or, with ``runner="convergence"``, of chapter 3's
:func:`synthgrad.convergence.train_on` on a :func:`~synthgrad.convergence.make_problem`);
:func:`run` submits them to an executor and returns the histories in task order, and
:func:`run_each` yields each one as it finishes (the results store saves it at once). The
default executor is a pool of local processes; a ``dask.distributed`` client's
``get_executor()`` (a cluster, or a GPU machine with ``device="cuda"`` in the tasks) works the
same way, and gives the same numbers (tested).

Each task runs with one torch thread, so a run's numbers do not depend on where it ran.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from typing import Any

import torch

from . import (
    convergence,
    curricula,
    decoupled,
    graphs,
    language,
    parallel,
    representations,
    shallow,
)
from . import data as D
from .data.text import CORPORA
from .train import History, fit

DATASETS = D.LOADERS
NEEDS = {  # the keyword arguments each runner must be given
    "fit": {"seeds", "rule", "hidden", "steps", "lr"},
    "layers": {"seeds", "rule", "hidden", "steps", "lr", "rdm_per_class"},
    "convergence": {"seeds", "method", "depth", "width", "steps", "lr"},
    "shallow": {"section", "seeds", "steps"},
    "copy": {"seeds", "method", "length", "steps", "lr"},
    "schedules": {"seeds", "schedule", "K", "hidden", "steps", "lr"},
    "costs": {"seeds", "K", "hidden", "steps"},
    "lm": {"seeds", "method", "length", "steps", "lr"},
}
CURRICULA = ("copy", "repeat_copy")  # the copy runner's tasks (chapter 8)
TIMED = ("mnist",)  # the schedules runner's data (chapter 7's timed runs)
TEXTS = tuple(CORPORA)  # the lm runner's corpora (chapter 8's language models)


@dataclass(frozen=True)
class Task:
    """One training run. With ``runner="fit"``: ``dataset`` is a loader of
    :mod:`synthgrad.data` by name with its keyword arguments, and ``fit`` holds the keyword
    arguments of :func:`synthgrad.train.fit`; ``runner="layers"`` (chapter 5) is the same with
    ``rdm_per_class`` more, and also records each hidden layer's RDM similarity to the output
    at every evaluation (:func:`synthgrad.representations.rdm_metrics`). With
    ``runner="convergence"`` (chapter 3): ``dataset`` is ``"problem"``, ``dataset_kwargs`` go
    to :func:`synthgrad.convergence.make_problem` and ``fit`` to
    :func:`synthgrad.convergence.train_on`; with ``runner="shallow"`` (chapter 3's shallow
    models), ``fit`` goes to :func:`synthgrad.shallow.run`. With ``runner="copy"`` (chapter 8):
    ``dataset`` is ``"copy"`` or ``"repeat_copy"`` and ``fit`` goes to
    :func:`synthgrad.curricula.fit_copy`. With ``runner="schedules"`` (chapter 7's timed
    runs): ``dataset`` is ``"mnist"`` and ``fit`` goes to
    :func:`synthgrad.decoupled.fit_schedule`; with ``runner="costs"`` (the cost model's inputs,
    timed on the machine that makes the run) to :func:`synthgrad.decoupled.fit_costs`; with
    ``runner="lm"`` (chapter 8's language models): ``dataset`` is a corpus and ``fit`` goes to
    :func:`synthgrad.language.fit_lm`."""

    dataset: str
    fit: dict[str, Any]
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)
    runner: str = "fit"

    def __post_init__(self) -> None:
        if self.runner not in NEEDS:
            raise ValueError(f"unknown runner {self.runner!r}; known: {', '.join(NEEDS)}")
        known = {"fit": DATASETS, "layers": DATASETS, "convergence": ("problem",),
                 "shallow": ("problem",), "copy": CURRICULA,
                 "schedules": TIMED, "costs": TIMED, "lm": TEXTS}[self.runner]  # fmt: skip
        if self.dataset not in known:
            raise ValueError(f"unknown dataset {self.dataset!r}; known: {', '.join(known)}")
        missing = NEEDS[self.runner] - set(self.fit)
        if missing:
            raise ValueError(f"task lacks fit argument(s) {sorted(missing)}")

    def describe(self) -> dict[str, Any]:
        """What the task runs, as plain data (the results store's manifest records it)."""
        out = {"dataset": self.dataset, "dataset_kwargs": self.dataset_kwargs, "fit": self.fit}
        return out if self.runner == "fit" else {**out, "runner": self.runner}


@functools.lru_cache(maxsize=8)
def _load(name: str, frozen_kwargs: tuple) -> D.Dataset:
    return getattr(D, name)(**dict(frozen_kwargs))


def run_task(
    task: Task,
    device: str | None = None,
    steps: int | None = None,
    graph: bool = False,
    progress: bool | None = False,
) -> History:
    """Run one task here (in a worker, on one torch thread): load its data (cached), train,
    return the history. A seed whose loss diverges is marked in it (``on_divergence="mark"``,
    unless the task says otherwise), not raised: one bad run does not stop a sweep.
    ``device`` (e.g. ``"cuda"``) is where to train; ``steps`` cuts the run
    short (the store's spot check); ``graph`` replays each step from a CUDA graph on a GPU
    (:mod:`synthgrad.graphs`); ``progress`` shows a progress bar (None: unless
    ``SYNTHGRAD_QUIET`` is set)."""
    kwargs = dict(task.fit)
    if steps is not None:
        kwargs.update(steps=steps, eval_every=min(kwargs.get("eval_every", steps), steps))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if task.runner == "convergence":
            return convergence.train_on(convergence.make_problem(**task.dataset_kwargs), **kwargs)
        if task.runner == "shallow":
            return shallow.run(convergence.make_problem(**task.dataset_kwargs), **kwargs)
        if task.runner == "copy":
            return curricula.fit_copy(repeat=task.dataset == "repeat_copy", **kwargs)
        if task.runner == "lm":
            return language.fit_lm(task.dataset, **kwargs)
        dataset = _load(task.dataset, tuple(sorted(task.dataset_kwargs.items())))
        if task.runner == "schedules":
            return decoupled.fit_schedule(dataset, **kwargs)
        if task.runner == "costs":
            return decoupled.fit_costs(dataset, **kwargs)
        if task.runner == "layers":
            kwargs["metrics"] = representations.rdm_metrics(dataset, kwargs.pop("rdm_per_class"))
        hidden = kwargs["hidden"]
        desc = f"{len(hidden)} x {hidden[0] if hidden else 0}, {kwargs['rule']}"
        kwargs = {"progress": progress, "desc": desc, "on_divergence": "mark", **kwargs}
        if device is not None:
            kwargs["device"] = device
        if graph:
            kwargs["wrap_rule"] = graphs.Graphed
        return fit(dataset, **kwargs)
    finally:
        torch.set_num_threads(threads)


def grid(**axes: Sequence) -> list[dict[str, Any]]:
    """Every combination of the values of ``axes``, as keyword dictionaries."""
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def run_each(
    tasks: Iterable[Task], executor: Executor | None = None, workers: int | None = None
) -> Iterator[tuple[int, History]]:
    """Run every task on ``executor`` (default: the package's pool, :func:`synthgrad.parallel.pool`,
    of ``workers`` processes, one per core) and yield ``(index in tasks, history)`` as each one
    finishes (its wall seconds in ``history.settings["seconds"]``)."""
    tasks = list(tasks)
    if not tasks:
        return
    pool = executor or parallel.pool(min(len(tasks), workers or os.cpu_count() or 1))
    try:
        futures = {pool.submit(run_task, t): i for i, t in enumerate(tasks)}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        if executor is None:
            pool.shutdown(cancel_futures=True)


def run(tasks: Iterable[Task], executor: Executor | None = None) -> list[History]:
    """Run every task on ``executor`` (default: local processes, one per core) and return the
    histories in the order of ``tasks``."""
    tasks = list(tasks)
    out: list[History | None] = [None] * len(tasks)
    for i, history in run_each(tasks, executor):
        out[i] = history
    return out
