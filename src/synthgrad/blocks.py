"""Several runs as one: the seeds of a run in blocks, each block a run of its own.

A grid of learning rates over the same seeds (chapter 2's SG classes at three rates, chapter
3's phase diagram) trains as one run of the seeds repeated, block ``j`` at the grid's ``j``-th
rates (:func:`rates_by_block`), and :func:`block` cuts one block's record out as its own run
would have recorded it. One run of many seeds costs much less than many runs of a few on a
CPU, where a step of these small models is mostly per-step overhead.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Sequence

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from .train import History


@contextlib.contextmanager
def rates_by_block(model: Sequence[float], sg: Sequence[float], block: int) -> Iterator[None]:
    """While open, the seeds of every run train in blocks of ``block`` (seeds ``j * block`` to
    ``(j + 1) * block - 1``), block ``j`` at its own learning rates: ``model[j]`` for the
    network (the optimiser's first parameter group), ``sg[j]`` for the SGs (its second). So a
    grid of learning rates trains as one run, each rate on a copy of the seeds.

    Each step, every block takes a step of an optimiser of its own, of the run's kind and
    settings, over its slice of each parameter (a view: the update lands in the parameter),
    and leaves the run's optimiser nothing to do: the optimiser's arithmetic is a run of its
    own's, element for element. The forward and backward passes over more seeds may round
    differently (some of torch's kernels group the seeds of a batch by its size), so a block's
    numbers are its own run's to float rounding, and often bit for bit
    (``tests/test_train.py``, ``tests/test_convergence.py``)."""
    per_opt: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # run's -> blocks'

    def step(opt: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        if getattr(opt, "_block", False):
            return  # a block's own optimiser (this hook sees every optimiser's steps)
        groups = opt.param_groups
        if opt not in per_opt:
            per_opt[opt] = []
            for j in range(len(model)):
                mine = []
                for g, rates in zip(groups, (model, sg), strict=False):
                    for q in g["params"]:
                        if q.shape[0] != block * len(model):
                            raise ValueError(
                                f"a parameter of {q.shape[0]} seeds, {len(model)} blocks of {block}"
                            )
                    views = [
                        torch.nn.Parameter(q.data[j * block : (j + 1) * block]) for q in g["params"]
                    ]
                    mine.append({**g, "params": views, "lr": rates[j]})
                own = type(opt)(mine, **opt.defaults)
                own._block = True
                per_opt[opt].append(own)
        for j, own in enumerate(per_opt[opt]):
            for g, mine in zip(groups, own.param_groups, strict=True):
                for q, view in zip(g["params"], mine["params"], strict=True):
                    view.grad = None if q.grad is None else q.grad[j * block : (j + 1) * block]
            own.step()
        for g in groups:
            for q in g["params"]:
                q.grad = None

    handle = register_optimizer_step_pre_hook(step)
    try:
        yield
    finally:
        handle.remove()


def block(run: History, seeds: slice) -> History:
    """The seeds ``seeds`` of a run as a run of their own would record them: one that stops at
    the step where its last seed diverged."""
    diverged_at = run.diverged_at[seeds]
    end = diverged_at.max() if (diverged_at >= 0).all() else run.steps[-1]
    steps, evals = run.steps <= end, run.eval_steps <= end
    return History(
        seeds=run.seeds[seeds],
        steps=run.steps[steps],
        train={k: v[steps][:, seeds] for k, v in run.train.items()},
        eval_steps=run.eval_steps[evals],
        evals={k: v[evals][:, seeds] for k, v in run.evals.items()},
        diverged_at=diverged_at.copy(),
        settings=dict(run.settings),
    )
