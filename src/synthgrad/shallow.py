"""Chapter 3's experiments on shallow models, each one run (one :class:`~synthgrad.train.History`)
that the chapter and the results store make alike (the store's runner ``shallow``, :func:`run`):

- ``"fixed point"``: logistic regression with a linear SG (Adam, full batch), recording at every
  evaluation, per seed, the distance of the model to the optimum and to the exact fixed point of
  SG learning nearest it (:func:`fixed_points`), and that point's own distance to the optimum:
  does the run end at the one or the other (C3.2)?
- ``"tracking"``: linear regression by gradient descent with an update of controlled relative
  error (:class:`~synthgrad.rules.update_error.UpdateError`), every error size trained as one
  block of the seeds (C3.5).
- ``"phase"``: linear regression with a linear SG, both by gradient descent, every pair of model
  and SG learning rates as one block of the seeds (C3.6).

Every distance is in function space on the training inputs, as
:func:`synthgrad.convergence.to_optimum` measures it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from . import blocks, critical
from . import convergence as cv
from .losses import log_loss_elementwise
from .models import Net, mlp
from .rules.update_error import UpdateError
from .train import History, train

SECTIONS = ("fixed point", "tracking", "phase")


def fixed_points(problem: cv.Problem) -> torch.Tensor:
    """(S, d), float64: per draw of a per-seed logistic problem, the exact fixed point of
    linear-SG learning (the SG ``a h + b y + c``, the chapter's linear cDNI SG) nearest the
    optimum ``w*``, found by Newton's method from ``1.05 w*``
    (:func:`synthgrad.critical.sg_fixed_points`); NaN where none is found."""
    out = []
    for j in range(problem.w_star.shape[0]):
        x = problem.data.x_train[j].double()
        y = problem.data.y_train[j, :, 0].double()
        w_star = problem.w_star[j, :, 0].double()
        found = critical.sg_fixed_points(x, y, log_loss_elementwise, "h,y", w_star[None] * 1.05)
        out.append(found[(found - w_star).norm(dim=1).argmin()] if len(found) else w_star * np.nan)
    return torch.stack(out)


def _relative(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> float:
    """|X (a - b)| / |X b|: the distance of ``a`` to ``b`` in function space."""
    return float((x @ (a - b)).norm() / (x @ b).norm())


def distances(problem: cv.Problem, points: torch.Tensor, ends: torch.Tensor) -> dict[str, list]:
    """Per seed: the linear model ``ends`` (S, d)'s distance ``to_optimum`` and
    ``to_fixed_point`` (``points``, :func:`fixed_points`), and ``fixed_point_from_optimum``."""
    out: dict[str, list] = {"to_optimum": [], "to_fixed_point": [], "fixed_point_from_optimum": []}
    for j in range(ends.shape[0]):
        x = problem.data.x_train[j].double()
        w_star, w_fp = problem.w_star[j, :, 0].double(), points[j]
        out["to_optimum"].append(_relative(ends[j], w_star, x))
        out["to_fixed_point"].append(_relative(ends[j], w_fp, x))
        out["fixed_point_from_optimum"].append(_relative(w_fp, w_star, x))
    return out


def weights(net: Net) -> torch.Tensor:
    """(S, d), float64: a linear model's weights ``w`` (its output is ``x w``)."""
    return net.blocks[0][0].weight.detach().double()[..., 0]


def fixed_point_run(
    problem: cv.Problem, seeds: Sequence[int], steps: int, lr: float, eval_every: int
) -> History:
    """Logistic regression with a linear SG, as :func:`synthgrad.convergence.train_on` trains it
    (the same numbers), also recording :func:`distances` at every evaluation."""
    points = fixed_points(problem)
    net = mlp(problem.data.d_in, [], 1, seeds, activation="linear", bias=False)
    rule = cv.method_rule(net, "linear SG", seeds)
    base = cv.to_optimum(problem, rule)

    def metrics(n: Net) -> dict[str, torch.Tensor]:
        ends = distances(problem, points, weights(n))
        return {**base(n), **{k: torch.tensor(v, dtype=torch.float64) for k, v in ends.items()}}

    return train(net, rule, problem.data, seeds, steps=steps, lr=lr, batch_size=0,
                 eval_every=eval_every, on_divergence="mark", progress=False,
                 metrics=metrics)  # fmt: skip


def tracking_run(
    problem: cv.Problem,
    seeds: Sequence[int],
    errors: Sequence[float],
    mode: str,
    steps: int,
    lr: float,
    eval_every: int | None = None,
) -> History:
    """Linear regression by gradient descent with an update of each relative error in
    ``errors`` of kind ``mode``, recording the distance to the optimum and the error of the
    update actually used (``update_error``). The sizes train as one run, block ``j`` (seeds
    ``j n .. (j+1) n - 1``, :func:`synthgrad.blocks.block`) at ``errors[j]``: each block has the
    numbers of a run of its own. 30 evaluations unless ``eval_every`` says otherwise."""
    k = len(errors)
    tiled = cv.tiled(problem, k)
    every = list(seeds) * k
    net = mlp(tiled.data.d_in, [], 1, every, activation="linear", bias=False)
    rule = UpdateError(net, every, [e for e in errors for _ in seeds], mode)
    distance = cv.to_optimum(tiled)
    return train(
        net, rule, tiled.data, every, steps=steps, lr=lr, batch_size=0, optimizer="sgd",
        eval_every=eval_every or max(1, steps // 30), on_divergence="mark", progress=False,
        metrics=lambda n: {**distance(n), "update_error": rule.last_error.clone()},
    )  # fmt: skip


def phase_run(
    problem: cv.Problem,
    seeds: Sequence[int],
    cells: Sequence[Sequence[float]],
    width: int,
    steps: int,
    eval_every: int | None = None,
) -> History:
    """Linear regression with a linear SG, both by gradient descent, at each ``(model lr, SG
    lr)`` of ``cells`` (:func:`phase_cells`) as one run, block ``j`` at cell ``j``
    (:func:`~synthgrad.blocks.rates_by_block`: bit for bit the numbers of a run per cell),
    evaluated at the start and the end unless ``eval_every`` says otherwise."""
    cells = [tuple(c) for c in cells]
    with blocks.rates_by_block([m for m, _ in cells], [s for _, s in cells], len(seeds)):
        return cv.train_on(
            cv.tiled(problem, len(cells)), 0, width, "linear SG", list(seeds) * len(cells), steps,
            1.0, 1.0, optimizer="sgd", eval_every=eval_every or steps,
        )  # fmt: skip


def phase_cells(lrs: Sequence[float]) -> list[tuple[float, float]]:
    """The phase diagram's cells ``(model lr, SG lr)``: every pair of ``lrs``."""
    return [(m, s) for m in lrs for s in lrs]


RUNS: dict[str, Callable[..., History]] = {
    "fixed point": fixed_point_run,
    "tracking": tracking_run,
    "phase": phase_run,
}


def run(problem: cv.Problem, section: str, **kwargs) -> History:
    """The store's runner ``shallow``: the run of ``section`` (one of :data:`SECTIONS`) on
    ``problem`` with its keyword arguments."""
    if section not in RUNS:
        raise ValueError(f"section must be one of {SECTIONS}, got {section!r}")
    return RUNS[section](problem, **kwargs)
