"""Convergence of SG learning to known optima (RQ2): the paper's four models on problems whose
optimum is computed independently of any training run.

A :class:`Problem` holds data and its optimum: the least-squares solution in closed form for
the squared error, the logistic-regression optimum by Newton's method for the log loss on
non-separable data (separable data have none: the loss only tends to zero). Every model here
is linear end to end (a linear model, or a deep linear network without biases), so its
predictions can be compared with the optimal ones, whatever its depth: the *distance to the
optimum* is ``|f(X) - X w*| / |X w*|`` on the training inputs, and the *loss gap* is the
training loss minus the optimal loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from .data import Dataset, linear_regression, noisy_linear_labels
from .losses import LOSSES
from .models import Net, mlp, per_seed
from .optima import least_squares_optimum, logistic_optimum
from .rules import LearningRule, make_rule
from .train import History, train

LOSS_NAMES = {"mse": "regression", "log": "binary"}


@dataclass
class Problem:
    """A dataset and its optimum (``w_star`` None for separable data: no finite optimum)."""

    name: str
    data: Dataset
    w_star: torch.Tensor | None
    optimal_loss: float


def make_problem(
    loss: str,
    d: int,
    n: int = 1000,
    seed: int = 0,
    separable: bool = False,
    noise: float = 0.5,
    flip: float = 0.1,
) -> Problem:
    """Linear regression (``loss="mse"``, teacher plus ``noise``) or logistic regression
    (``loss="log"``, labels of a linear teacher with a fraction ``flip`` flipped, or separable
    with a margin) in ``d`` dimensions, with its optimum."""
    if loss == "mse":
        data = linear_regression(n=n, d=d, d_out=1, noise=noise, seed=seed)
        w = least_squares_optimum(data.x_train, data.y_train)
        name = f"linear regression, {d}-D"
    elif loss == "log":
        data = noisy_linear_labels(
            n=n, d=d, flip=0.0 if separable else flip, margin=0.5 if separable else 0.0, seed=seed
        )
        w = None if separable else logistic_optimum(data.x_train, data.y_train)[:, None]
        name = f"logistic regression, {d}-D" + (", separable" if separable else "")
    else:
        raise ValueError(f"loss must be 'mse' or 'log', got {loss!r}")
    if w is None:
        best = 0.0
    else:
        out = (data.x_train.double() @ w)[None]
        best = float(LOSSES[data.task](out, data.y_train.double())[0])
    return Problem(name, data, None if w is None else w.to(torch.float32), best)


def to_optimum(problem: Problem) -> Callable[[Net], dict[str, torch.Tensor]]:
    """Per-seed ``loss_gap`` and ``distance`` to the optimum on the training inputs (just the
    training loss, ``train_loss``, when there is no finite optimum)."""
    x, y = problem.data.x_train, problem.data.y_train
    loss_fn = LOSSES[problem.data.task]
    best = None if problem.w_star is None else x @ problem.w_star

    def metrics(net: Net) -> dict[str, torch.Tensor]:
        out = net(per_seed(x, net.n_seeds))
        loss = loss_fn(out, y)
        if best is None:
            return {"train_loss": loss}
        dist = (out - best).flatten(1).norm(dim=1) / best.norm()
        return {"train_loss": loss, "loss_gap": loss - problem.optimal_loss, "distance": dist}

    return metrics


METHODS = {  # legend label -> make_rule kind and options; the SGs see the label (cDNI)
    "backprop": ("backprop", {}),
    "linear SG": ("sg", {"d_context": 1}),
    "loss-matched SG": ("sg", {"d_context": 1, "form": "matched"}),
    "controlled error": ("controlled_error", {}),
}


def method_rule(
    net: Net, method: str, seeds: Sequence[int], error: float = 0.0, mode: str = "random"
) -> LearningRule:
    """The learning rule of a method, from its row of :data:`METHODS` by
    :func:`~synthgrad.rules.make_rule`: the SG (or the controlled error) sits at the model's
    output for a linear model and after the middle hidden layer of a deep one."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {method!r}")
    kind, options = METHODS[method]
    position = net.n_hidden if net.n_hidden == 0 else (net.n_hidden - 1) // 2
    return make_rule(kind, net, seeds, positions=[position], error=error, mode=mode, **options)


def train_on(
    problem: Problem,
    depth: int,
    width: int,
    method: str,
    seeds: Sequence[int],
    steps: int,
    lr: float,
    sg_lr: float | None = None,
    optimizer: str = "adam",
    error: float = 0.0,
    mode: str = "random",
    eval_every: int | None = None,
) -> History:
    """Train a (deep) linear model without biases, ``depth`` hidden layers of ``width``,
    full batch, recording the distance to the optimum; diverged seeds are marked."""
    net = mlp(problem.data.d_in, [width] * depth, 1, seeds, activation="linear", bias=False)
    learner = method_rule(net, method, seeds, error, mode)
    return train(
        net,
        learner,
        problem.data,
        seeds,
        steps=steps,
        lr=lr,
        sg_lr=sg_lr,
        batch_size=0,
        optimizer=optimizer,
        eval_every=eval_every or max(1, steps // 50),
        on_divergence="mark",
        progress=False,
        metrics=to_optimum(problem),
    )


def converging_cell(phase: pd.DataFrame, tol: float = 0.01) -> dict[str, float] | None:
    """In a phase diagram (rows: ``model lr``, ``SG lr``, worst-seed ``distance`` after the
    budget, ``diverged`` seeds), the cell with the largest learning rates that converged
    (distance at most ``tol``) and below which (both rates at most its own) no cell diverged;
    None if there is none: "converges when the learning rate is small enough"."""
    converged = phase[phase.distance <= tol]
    for _, cell in converged.sort_values(["model lr", "SG lr"], ascending=False).iterrows():
        below = phase[(phase["model lr"] <= cell["model lr"]) & (phase["SG lr"] <= cell["SG lr"])]
        if (below.diverged == 0).all():
            return {"model lr": cell["model lr"], "SG lr": cell["SG lr"]}
    return None
