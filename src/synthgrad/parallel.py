"""Many training runs at once: the package's one worker pool.

On a CPU two one-thread runs side by side do nearly twice the work of one run on two threads
(the book's layers are too small for a second thread to help much). :func:`pool` is the one
way the package runs trainings in other processes: the chapters (:func:`fit_all`,
:func:`fit_nets_all`, through their :class:`~synthgrad.train.Runs` cache, so that none is
trained twice), :mod:`synthgrad.sweep` and ``make paper``. Its workers fork from
multiprocessing's fork server, a fresh process that has imported torch (``torch._dynamo``
included, which torch's optimisers load at first use) and this package once
and never ran OpenMP (forking a process that has is unsafe with torch's threads; spawning each
worker costs seconds of imports), and train on one torch thread. A run's numbers depend on its
thread count only by float rounding. (Chapter 7's stages, processes that talk to each other,
have their own supervisor: :mod:`synthgrad.decoupled`.)
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import torch

from .data import Dataset
from .models import Net
from .train import History, Runs, fit_net

_WORKER_DATA: dict[str, Dataset] = {}


def _start(data: Dataset | None) -> None:
    """A worker's initialiser: train on one torch thread, and keep the dataset (sent once per
    worker, not once per run)."""
    torch.set_num_threads(1)
    if data is not None:
        _WORKER_DATA["data"] = data


def pool(workers: int, data: Dataset | None = None) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes forked from the fork server, each on one torch thread
    and holding ``data`` (if given) for :func:`_fit_net_held`."""
    context = multiprocessing.get_context("forkserver")
    # torch.optim imports torch._dynamo at a first optimiser (1.5 s): once in the server, not
    # once per worker
    context.set_forkserver_preload(["synthgrad.parallel", "torch._dynamo"])
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(data,))


def _fit_net_held(seeds: Sequence[int], rule: str, kwargs: dict) -> tuple[Net, History]:
    return fit_net(_WORKER_DATA["data"], seeds, rule, **kwargs)


def _fit_held(seeds: Sequence[int], rule: str, kwargs: dict) -> tuple[None, History]:
    """:func:`_fit_net_held` without sending the network back."""
    return None, _fit_net_held(seeds, rule, kwargs)[1]


def _split(configs: Mapping[Any, dict]) -> dict[Any, tuple[str, dict]]:
    """name -> fit arguments (``rule`` included) as name -> (rule, the other arguments)."""
    out = {}
    for name, config in configs.items():
        config = dict(config)
        out[name] = (config.pop("rule"), config)
    return out


def fit_all(
    runs: Runs,
    data: Dataset,
    seeds: Sequence[int],
    configs: Mapping[Any, dict],
    workers: int | None = None,
) -> dict[Any, History]:
    """Several configurations (name -> :func:`~synthgrad.train.fit` keyword arguments, ``rule``
    included) at once: each in a worker process of its own on one torch thread, ``workers`` at
    a time (default: this process's torch threads). Runs already in ``runs`` are cut, as in
    :meth:`~synthgrad.train.Runs.fit`; with one worker or one run to train, it trains here."""
    out, todo = {}, {}
    for name, (rule, config) in _split(configs).items():
        old = runs.cached(data, seeds, rule, **config)
        if old is not None:
            out[name] = old
        else:
            todo[name] = (rule, config)
    out |= {name: h for name, (_, h) in _train(runs, data, seeds, todo, workers, False).items()}
    return {name: out[name] for name in configs}


def fit_nets_all(
    runs: Runs,
    data: Dataset,
    seeds: Sequence[int],
    configs: Mapping[Any, dict],
    workers: int | None = None,
) -> dict[Any, tuple[Net, History]]:
    """:func:`fit_all` for the trained networks as well (a chapter that measures the networks
    themselves): name -> (network, history). Every configuration is trained (as
    :meth:`~synthgrad.train.Runs.fit_net`, and kept in ``runs``)."""
    return _train(runs, data, seeds, _split(configs), workers, True)


def _train(
    runs: Runs,
    data: Dataset,
    seeds: Sequence[int],
    todo: Mapping[Any, tuple[str, dict]],
    workers: int | None,
    nets: bool,
) -> dict[Any, tuple[Net | None, History]]:
    """Train each of ``todo`` (name -> (rule, fit arguments)) here or in the pool, keep each
    run in ``runs``, return name -> (network, or None unless ``nets``, history)."""
    workers = workers or torch.get_num_threads()
    if workers <= 1 or len(todo) <= 1:
        return {
            name: runs.fit_net(data, seeds, rule, **config) for name, (rule, config) in todo.items()
        }
    with pool(min(workers, len(todo)), data) as executor:
        futures = {
            name: executor.submit(
                _fit_net_held if nets else _fit_held,
                list(seeds),
                rule,
                {**config, "progress": False},
            )
            for name, (rule, config) in todo.items()
        }
        out = {name: future.result() for name, future in futures.items()}
    for name, (_, history) in out.items():
        rule, config = todo[name]
        runs.keep(runs.key(data, seeds, rule, **config), history)
    return out
