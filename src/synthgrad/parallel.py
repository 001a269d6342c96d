"""Several training runs of a chapter at once, in worker processes of one torch thread each.

On a CPU two one-thread runs side by side do nearly twice the work of one run on two threads
(the book's layers are too small for a second thread to help much). :func:`fit_all` trains a
chapter's configurations that way, through its :class:`~synthgrad.train.Runs` cache, so that
none is trained twice. A run's numbers depend on its thread count only by float rounding.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

import torch

from .data import Dataset
from .train import History, Runs, fit

_WORKER_DATA: dict[str, Dataset] = {}


def _hold(data: Dataset) -> None:
    """A worker's initialiser: keep the dataset (sent once per worker, not once per run) and
    train on one torch thread."""
    torch.set_num_threads(1)
    _WORKER_DATA["data"] = data


def _fit_held(seeds: Sequence[int], rule: str, kwargs: dict) -> History:
    return fit(_WORKER_DATA["data"], seeds, rule, **kwargs)


def fit_all(
    runs: Runs,
    data: Dataset,
    seeds: Sequence[int],
    configs: Mapping[str, dict],
    workers: int | None = None,
) -> dict[str, History]:
    """Several configurations (name -> :func:`~synthgrad.train.fit` keyword arguments, ``rule``
    included) at once: each in a worker process of its own on one torch thread, ``workers`` at
    a time (default: this process's torch threads). Runs already in ``runs`` are cut, as in
    :meth:`~synthgrad.train.Runs.fit`; with one worker or one run to train, it trains here."""
    workers = workers or torch.get_num_threads()
    out, todo = {}, {}
    for name, config in configs.items():
        config = dict(config)
        rule = config.pop("rule")
        key, steps = runs.key(data, seeds, rule, **config), config.get("steps")
        old = runs.done.get(key) if key is not None else None
        if old is not None and steps in old.eval_steps:
            out[name] = old.upto(steps)
        else:
            todo[name] = (rule, config, key)
    if workers <= 1 or len(todo) <= 1:
        for name, (rule, config, _) in todo.items():
            out[name] = runs.fit(data, seeds, rule, **config)
        return {name: out[name] for name in configs}
    spawn = multiprocessing.get_context("spawn")  # (forking a process that ran OpenMP is unsafe)
    with ProcessPoolExecutor(min(workers, len(todo)), mp_context=spawn, initializer=_hold,
                             initargs=(data,)) as pool:  # fmt: skip
        futures = {
            name: pool.submit(_fit_held, list(seeds), rule, {**config, "progress": False})
            for name, (rule, config, _) in todo.items()
        }
        for name, future in futures.items():
            history = future.result()
            runs.trained += 1
            key = todo[name][2]
            old = runs.done.get(key) if key is not None else None
            if key is not None and (old is None or history.eval_steps[-1] > old.eval_steps[-1]):
                runs.done[key] = history
            out[name] = history
    return {name: out[name] for name in configs}
