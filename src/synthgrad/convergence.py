"""Convergence of SG learning to known optima (RQ2): the paper's four models on problems whose
optimum is computed independently of any training run.

A :class:`Problem` holds data and its optimum: the least-squares solution in closed form for
the squared error, the logistic-regression optimum by Newton's method for the log loss on
non-separable data (separable data have none: the loss only tends to zero). Every model here
is linear end to end (a linear model, or a deep linear network without biases), so its
predictions can be compared with the optimal ones, whatever its depth: the *distance to the
optimum* is ``|f(X) - X w*| / |X w*|`` on the training inputs, and the *loss gap* is the
training loss minus the optimal loss.

Seeds vary the data: ``make_problem(..., seed=[0, 1, 2])`` draws the problem once per seed
(a per-seed :class:`~synthgrad.data.Dataset`, each draw with its own optimum), so a batched
run's seed ``i`` trains on draw ``i``. :func:`outcomes` judges each run on its rate, not only
on where the budget left it: converged, still converging (and when it would get there),
stalled, or diverged at a step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .analysis import CONTROL
from .data import Dataset, linear_regression, noisy_linear_labels
from .data import per_seed as data_per_seed
from .losses import LOSSES
from .models import Net, broadcast_seeds, mlp
from .optima import least_squares_optimum, logistic_optimum
from .rules import LearningRule, SyntheticGradients, make_rule, tracking_error
from .train import History, train

LOSS_NAMES = {"mse": "regression", "log": "binary"}


@dataclass
class Problem:
    """A dataset and its optimum (``w_star`` None for separable data: no finite optimum).
    For a per-seed dataset, ``w_star`` is (S, d, 1) and ``optimal_loss`` (S,), one per draw."""

    name: str
    data: Dataset
    w_star: torch.Tensor | None
    optimal_loss: float | torch.Tensor


def make_problem(
    loss: str,
    d: int,
    n: int = 1000,
    seed: int | Sequence[int] = 0,
    separable: bool = False,
    noise: float = 0.5,
    flip: float = 0.1,
) -> Problem:
    """Linear regression (``loss="mse"``, teacher plus ``noise``) or logistic regression
    (``loss="log"``, labels of a linear teacher with a fraction ``flip`` flipped, or separable
    with a margin) in ``d`` dimensions, with its optimum. A list of seeds draws the problem
    once per seed (teacher, inputs and noise), each draw with its own optimum."""
    if not isinstance(seed, int):
        draws = [make_problem(loss, d, n, int(s), separable, noise, flip) for s in seed]
        if not draws:
            raise ValueError("make_problem needs at least one seed")
        w = None if separable else torch.stack([q.w_star for q in draws])
        best = torch.tensor([q.optimal_loss for q in draws])
        name = f"{draws[0].name}, one draw per seed"
        return Problem(name, data_per_seed([q.data for q in draws]), w, best)
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


def tiled(problem: Problem, k: int) -> Problem:
    """A per-seed problem repeated ``k`` times along its seeds (block ``j`` is the ``j``-th copy
    of every draw): ``k`` runs of the same seeds trained as one."""

    def rep(t: torch.Tensor) -> torch.Tensor:
        return t.repeat(k, *[1] * (t.dim() - 1))

    d = problem.data
    data = dataclasses.replace(d, x_train=rep(d.x_train), y_train=rep(d.y_train),
                               x_test=rep(d.x_test), y_test=rep(d.y_test))  # fmt: skip
    return dataclasses.replace(problem, data=data, w_star=rep(problem.w_star),
                               optimal_loss=rep(torch.as_tensor(problem.optimal_loss)))  # fmt: skip


def to_optimum(
    problem: Problem, rule: LearningRule | None = None
) -> Callable[[Net], dict[str, torch.Tensor]]:
    """Per-seed ``loss_gap`` and ``distance`` to the optimum on the training inputs (just the
    training loss, ``train_loss``, when there is no finite optimum). With an SG ``rule``, also
    ``tracking``: the SG's relative error against the true gradient on the training set,
    ``|SG(h, y) - dl/dh| / |dl/dh|`` (:func:`~synthgrad.rules.tracking_error`), the quantity
    the paper's convergence argument needs below 1."""
    data = problem.data
    x, y = data.x_train, data.y_train
    loss_fn = LOSSES[data.task]
    best = None if problem.w_star is None else x @ problem.w_star  # (N, 1) or (S, N, 1)
    sg = rule if isinstance(rule, SyntheticGradients) else None

    def metrics(net: Net) -> dict[str, torch.Tensor]:
        xs = broadcast_seeds(x, net.n_seeds, data.seeded)
        out = net(xs)
        loss = loss_fn(out, y)
        res = {"train_loss": loss}
        if best is not None:
            ref = best.expand_as(out)
            res["loss_gap"] = loss - problem.optimal_loss
            res["distance"] = (out - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1)
        if sg is not None:
            res["tracking"] = tracking_error(sg, net, xs, y, data.context(y), loss_fn)[:, -1]
        return res

    return metrics


METHODS = {  # legend label -> make_rule kind and options; the SGs see the label (cDNI)
    "backprop": ("backprop", {}),
    "linear SG": ("sg", {"d_context": 1}),
    "loss-matched SG": ("sg", {"d_context": 1, "form": "matched"}),
    "controlled error": ("controlled_error", {}),
    # the control of an SG: the layers below its position never learn (an SG stuck at zero)
    "frozen below SG": ("frozen_below", {}),
}


def plane_through(w_star: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis (2, d) of the plane through the origin that holds both weight
    vectors: the direction of ``w_star`` first, then the part of ``w`` orthogonal to it. Each
    example's logit under either vector is its two coordinates on this plane times the vector's,
    so a linear model's decision boundary in any dimension is drawn there without loss. Where
    ``w`` is parallel to ``w_star``, the second direction is any unit vector orthogonal to it."""
    u = w_star / w_star.norm()
    across = w - (w @ u) * u
    if across.norm() <= 1e-6 * w.norm():  # parallel: the coordinate axis least along u
        across = torch.zeros_like(u)
        across[int(u.abs().argmin())] = 1.0
        across = across - (across @ u) * u
    return torch.stack([u, across / across.norm()])


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


def train_model(
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
) -> tuple[Net, LearningRule, History]:
    """Train a (deep) linear model without biases, ``depth`` hidden layers of ``width``,
    full batch, recording the distance to the optimum (and an SG's tracking error); diverged
    seeds are marked. A per-seed problem needs one seed per draw. Returns the trained network,
    its learning rule (with its SG) and the run; :func:`train_on` returns the run only."""
    if problem.data.seeded and problem.data.x_train.shape[0] != len(seeds):
        raise ValueError(
            f"a problem drawn for {problem.data.x_train.shape[0]} seeds, trained on {len(seeds)}"
        )
    net = mlp(problem.data.d_in, [width] * depth, 1, seeds, activation="linear", bias=False)
    learner = method_rule(net, method, seeds, error, mode)
    history = train(
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
        metrics=to_optimum(problem, learner),
    )
    return net, learner, history


def train_on(*args, **kwargs) -> History:
    """:func:`train_model` (same arguments), returning the run only: the chapters' usual call."""
    return train_model(*args, **kwargs)[2]


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


OUTCOMES = ("converged", "converging", "oscillating", "rising", "stalled", "diverged")
TOL = 0.01  # "converged": within 1% of the optimum, the one tolerance of every claim
WINDOWS = 10  # a convergence window is a tenth of the budget (BOOK.md section 6)
MOVE = 0.01  # a window-to-window change of log10(distance) beyond this (2.3%) is a move
LAST = 5  # an end-of-training value is the mean over the last 5 evaluations


def windows(steps: np.ndarray, values: np.ndarray, n: int = WINDOWS) -> np.ndarray:
    """(n, seeds): the median of log10(values) over the evaluations in each n-th of the budget
    (step 0 left out; NaN for a window without evaluations or with a non-positive value)."""
    budget = steps[-1]
    which = np.ceil(steps / budget * n).astype(int) - 1  # step in (k B/n, (k+1) B/n] -> k
    out = np.full((n, values.shape[1]), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(np.where(values > 0, values, np.nan))
    for k in range(n):
        rows = logs[(which == k) & (steps > 0)]
        if len(rows):
            out[k] = np.median(rows, axis=0)
    return out


def outcomes(
    history: History,
    metric: str = "distance",
    tol: float = TOL,
    horizon: float = 10.0,
) -> pd.DataFrame:
    """Each seed's outcome, judged on how its ``metric`` moved over the second half of training
    as well as where it ended (BOOK.md section 6, "one tolerance per notion"). The end value
    (``final``) is the mean over the last :data:`LAST` evaluations; the budget is cut into
    :data:`WINDOWS` windows (:func:`windows`); a *move* is a window-to-window change of
    log10(metric) beyond :data:`MOVE` where either window lies above ``tol`` (below it the run is
    at the optimum and what is left is rounding). One row per seed with ``final``, the slope of
    log10(metric) per 1,000 steps over the last three windows, and an ``outcome``:

    - ``diverged``: the loss became NaN or infinite (``diverged_at`` says at which step);
    - ``converged``: ends within ``tol``, with no rise above it in the second half;
    - ``converging``: ends above ``tol``, falling over the last two windows in a row with no
      rise in the second half, at a rate that reaches ``tol`` within ``horizon`` times the
      budget (``reaches_tol_at`` is that projected step): slow, not never;
    - ``oscillating``: rose and fell above ``tol`` in the second half;
    - ``rising``: rose above ``tol`` in the second half and did not fall back;
    - ``stalled``: none of these (a plateau, or a fall too slow or too recent).
    """
    steps = history.eval_steps
    values = history.evals[metric]
    budget = int(steps[-1])
    win = windows(steps, values)
    half = win[WINDOWS // 2 :]  # the second half's windows
    change = np.diff(half, axis=0)  # (4, seeds)
    above = np.maximum(half[:-1], half[1:]) > np.log10(tol)
    span = budget / WINDOWS  # steps per window
    rows = []
    for j, seed in enumerate(history.seeds):
        row = {"seed": seed, "final": float(np.mean(values[-LAST:, j])), "slope_per_1000": np.nan,
               "reaches_tol_at": np.nan, "diverged_at": np.nan}  # fmt: skip
        if history.diverged[j]:
            row.update(outcome="diverged", diverged_at=int(history.diverged_at[j]), final=np.inf)
            rows.append(row)
            continue
        moves = change[:, j] * above[:, j]
        rise, fall = bool((moves > MOVE).any()), bool((moves < -MOVE).any())
        slope = (half[-1, j] - half[-3, j]) / (2 * span)  # log10 per step, last three windows
        row["slope_per_1000"] = 1000 * float(slope)
        falling = bool((change[-2:, j] < -MOVE).all()) and not rise
        if not np.isfinite(row["final"]):
            row["outcome"] = "stalled"
        elif row["final"] <= tol:
            row["outcome"] = "oscillating" if rise else "converged"
        elif rise:
            row["outcome"] = "oscillating" if fall else "rising"
        elif falling:
            at = budget + (np.log10(tol) - np.log10(row["final"])) / slope
            row["reaches_tol_at"] = float(at)
            row["outcome"] = "converging" if at <= horizon * budget else "stalled"
        else:
            row["outcome"] = "stalled"
        rows.append(row)
    return pd.DataFrame(rows)


def converges(table: pd.DataFrame) -> np.ndarray:
    """Per seed: did it converge or is it still converging at a rate that gets there (see
    :func:`outcomes`)? A diverged or stalled seed is a no."""
    return table.outcome.isin(["converged", "converging"]).to_numpy()


def share(table: pd.DataFrame, converging: bool = True) -> str:
    """ "k/n": how many of the seeds in an :func:`outcomes` table converge (or, with
    ``converging=False``, do not)."""
    ok = converges(table)
    return f"{int(ok.sum() if converging else (~ok).sum())}/{len(ok)}"


def diagnosis(lr: float, sgd_lr: float) -> dict[str, dict]:
    """The settings chapter 3 tries on the deep linear network to find why a linear SG fails
    there: ``train_on`` keyword arguments by name. Adam at ``lr`` is the chapter's own run;
    each other setting changes one thing: the SG learns 10x faster than the model, both learn
    3x faster, plain gradient descent for both (steps that shrink with the gradient, as the
    convergence argument assumes), and the control whose layers below the SG never learn."""
    return {
        "Adam": dict(method="linear SG", lr=lr),
        "Adam, SG 10x faster": dict(method="linear SG", lr=lr, sg_lr=10 * lr),
        "Adam, both 3x faster": dict(method="linear SG", lr=3 * lr),
        "gradient descent": dict(method="linear SG", lr=sgd_lr, optimizer="sgd"),
        CONTROL: dict(method="frozen below SG", lr=lr),
    }


def summary(
    runs: Mapping[tuple, History], names: Sequence[str], tol: float = TOL, budgets: int = 3
) -> pd.DataFrame:
    """One row per run and seed: the run's key (columns ``names``), its :func:`outcomes`, the
    distance after 1/``budgets``, 2/``budgets``, ... of the steps (the same run cut at smaller
    budgets: ``distance at <step>``), and for SG runs the median tracking error over the second
    half of training (NaN for a diverged seed: no value is dropped)."""
    tables = []
    for key, h in runs.items():
        key = key if isinstance(key, tuple) else (key,)
        table = outcomes(h, tol=tol)
        for name, value in zip(names, key, strict=True):
            table[name] = value
        for k in range(1, budgets):
            at = h.eval_steps[np.searchsorted(h.eval_steps, h.eval_steps[-1] * k / budgets)]
            cut = h.upto(int(at))
            table[f"distance at {at}"] = np.where(cut.diverged, np.inf, cut.evals["distance"][-1])
        if "tracking" in h.evals:
            tracking = h.evals["tracking"]
            table["tracking"] = np.median(tracking[len(tracking) // 2 :], axis=0)
        tables.append(table)
    df = pd.concat(tables, ignore_index=True)
    return df[[*names, *[c for c in df.columns if c not in names]]]
