"""Several training runs of a chapter at once, in worker processes of one torch thread each.

On a CPU two one-thread runs side by side do nearly twice the work of one run on two threads
(the book's layers are too small for a second thread to help much). :func:`fit_all` trains a
chapter's configurations that way, through its :class:`~synthgrad.train.Runs` cache, so that
none is trained twice. A run's numbers depend on its thread count only by float rounding.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

import torch

from .data import Dataset
from .models import Net
from .train import History, Runs, fit_net

_WORKER_DATA: dict[str, Dataset] = {}


def _hold(data: Dataset) -> None:
    """A worker's initialiser: keep the dataset (sent once per worker, not once per run) and
    train on one torch thread."""
    torch.set_num_threads(1)
    _WORKER_DATA["data"] = data


def _fit_held(seeds: Sequence[int], rule: str, kwargs: dict) -> History:
    return _fit_net_held(seeds, rule, kwargs)[1]


def _fit_net_held(seeds: Sequence[int], rule: str, kwargs: dict) -> tuple[Net, History]:
    return timed_fit_net(_WORKER_DATA["data"], seeds, rule, **kwargs)


def timed_fit_net(data: Dataset, seeds: Sequence[int], rule: str, **kwargs) -> tuple[Net, History]:
    """:func:`~synthgrad.train.fit_net`, with its wall-clock seconds (evaluations included) in
    ``history.settings["seconds"]``."""
    start = time.perf_counter()
    net, history = fit_net(data, seeds, rule, **kwargs)
    history.settings["seconds"] = time.perf_counter() - start
    return net, history


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
    histories = _in_workers(
        data,
        {name: (_fit_held, list(seeds), rule, config) for name, (rule, config, _) in todo.items()},
        workers,
    )
    for name, history in histories.items():
        _keep(runs, todo[name][2], history)
        out[name] = history
    return {name: out[name] for name in configs}


def _keep(runs: Runs, key: str | None, history: History) -> None:
    """Count a run trained in a worker and keep it in ``runs`` (as :meth:`Runs.fit_net` does)."""
    runs.trained += 1
    old = runs.done.get(key) if key is not None else None
    if key is not None and (old is None or history.eval_steps[-1] > old.eval_steps[-1]):
        runs.done[key] = history


def fit_nets_all(
    runs: Runs,
    data: Dataset,
    seeds: Sequence[int],
    configs: Mapping[str, dict],
    workers: int | None = None,
) -> dict[str, tuple[Net, History]]:
    """:func:`fit_all` for the trained networks as well (a chapter that measures the networks
    themselves): name -> (network, history). Every configuration is trained (as
    :meth:`~synthgrad.train.Runs.fit_net`, and kept in ``runs``), ``workers`` at a time in
    processes of one torch thread."""
    workers = workers or torch.get_num_threads()
    jobs = {}
    for name, config in configs.items():
        config = dict(config)
        jobs[name] = (_fit_net_held, list(seeds), config.pop("rule"), config)
    if workers <= 1 or len(jobs) <= 1:
        out = {name: timed_fit_net(data, s, rule, **kw) for name, (_, s, rule, kw) in jobs.items()}
    else:
        out = _in_workers(data, jobs, workers)
    for name, (_, history) in out.items():
        _, s, rule, kw = jobs[name]
        _keep(runs, runs.key(data, s, rule, **kw), history)
    return out


def _in_workers(data: Dataset, jobs: Mapping[str, tuple], workers: int) -> dict:
    """Run ``fn(seeds, rule, kwargs)`` for each job (name -> (fn, seeds, rule, kwargs)) in
    ``workers`` worker processes that hold ``data``; results in the jobs' order."""
    # Workers fork from multiprocessing's fork server, a fresh process that has imported torch
    # and this package once and never ran OpenMP (forking this process, which may have, is
    # unsafe; spawning each worker costs seconds of imports).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["synthgrad.parallel"])
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context, initializer=_hold,
                             initargs=(data,)) as pool:  # fmt: skip
        futures = {
            name: pool.submit(fn, seeds, rule, {**kwargs, "progress": False})
            for name, (fn, seeds, rule, kwargs) in jobs.items()
        }
        return {name: future.result() for name, future in futures.items()}
