"""Sweeps as independent tasks for any ``concurrent.futures.Executor``.

A paper-scale sweep (depths x methods x seeds x learning rates) is many runs that share
nothing. Each :class:`Task` names its dataset (loaded once per worker) and the keyword
arguments of :func:`synthgrad.train.fit`; :func:`run` submits them to an executor and returns
the histories in task order. The default executor is a pool of local processes; a
``dask.distributed`` client's ``get_executor()`` (a cluster, or a GPU machine with
``device="cuda"`` in the tasks) works the same way, and gives the same numbers (tested).

Each task runs with one torch thread, so a run's numbers do not depend on where it ran.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch

from . import data as D
from .train import History, fit

DATASETS = ("mnist", "two_moons", "linear_regression", "tanh_teacher", "noisy_linear_labels")


@dataclass(frozen=True)
class Task:
    """One training run: ``dataset`` is a loader of :mod:`synthgrad.data` by name with its
    keyword arguments; ``fit`` holds the keyword arguments of :func:`synthgrad.train.fit`."""

    dataset: str
    fit: dict[str, Any]
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; known: {', '.join(DATASETS)}")
        missing = {"seeds", "rule", "hidden", "steps", "lr"} - set(self.fit)
        if missing:
            raise ValueError(f"task lacks fit argument(s) {sorted(missing)}")


@functools.lru_cache(maxsize=8)
def _load(name: str, frozen_kwargs: tuple) -> D.Dataset:
    return getattr(D, name)(**dict(frozen_kwargs))


def run_task(task: Task) -> History:
    """Run one task here (in a worker): load its data (cached), train, return the history."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dataset = _load(task.dataset, tuple(sorted(task.dataset_kwargs.items())))
        return fit(dataset, progress=False, **task.fit)
    finally:
        torch.set_num_threads(threads)


def grid(**axes: Sequence) -> list[dict[str, Any]]:
    """Every combination of the values of ``axes``, as keyword dictionaries."""
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def run(tasks: Iterable[Task], executor: Executor | None = None) -> list[History]:
    """Run every task on ``executor`` (default: local processes, one per core) and return the
    histories in the order of ``tasks``."""
    tasks = list(tasks)
    if executor is None:
        workers = min(len(tasks), os.cpu_count() or 1) or 1
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(run_task, tasks))
    futures = [executor.submit(run_task, t) for t in tasks]
    return [f.result() for f in futures]
