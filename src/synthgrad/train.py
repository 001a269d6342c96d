"""One training loop for every learning rule, all seeds at once.

``train`` samples a minibatch per seed (each seed its own data order), asks the rule for
gradients, takes an optimiser step, records per-step and per-evaluation metrics as (T, S)
arrays, and watches for divergence: when a seed's loss becomes NaN or infinite, it either
raises :class:`TrainingDiverged` with a message that says where and what to try, or (with
``on_divergence="mark"``) records the step and carries on with the other seeds.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .data import Dataset
from .losses import LOSSES, accuracy
from .models import Net, broadcast_seeds, generators, layer_norms, mlp
from .rules import LearningRule, alignment, make_rule

QUIET_ENV = "SYNTHGRAD_QUIET"


def quiet() -> bool:
    """True when progress bars should stay off (CI, the book build: ``SYNTHGRAD_QUIET=1``)."""
    return os.environ.get(QUIET_ENV, "") not in ("", "0")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the step, the seeds and the settings."""


@dataclass
class History:
    """Metrics of one training run: ``train[name]`` is (steps, S) and ``evals[name]`` is
    (n_evals, S) at ``eval_steps``. ``diverged_at[s]`` is the step where seed s diverged, or -1."""

    seeds: list[int]
    steps: np.ndarray
    train: dict[str, np.ndarray]
    eval_steps: np.ndarray
    evals: dict[str, np.ndarray]
    diverged_at: np.ndarray
    settings: dict = field(default_factory=dict)

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0

    def final(self, name: str) -> np.ndarray:
        """Per-seed value of an evaluation metric at the last evaluation."""
        return self.evals[name][-1]

    def upto(self, step: int) -> History:
        """The run as it stood after ``step`` steps: what a run of ``step`` steps with the same
        settings records (it must have been evaluated at ``step``)."""
        if step not in self.eval_steps:
            raise ValueError(f"no evaluation at step {step}: evaluated at {self.eval_steps}")
        keep = self.eval_steps <= step
        return History(
            seeds=list(self.seeds),
            steps=self.steps[self.steps <= step],
            train={k: v[self.steps <= step] for k, v in self.train.items()},
            eval_steps=self.eval_steps[keep],
            evals={k: v[keep] for k, v in self.evals.items()},
            diverged_at=np.where(self.diverged_at <= step, self.diverged_at, -1),
            settings=dict(self.settings),
        )

    def frame(self) -> pd.DataFrame:
        """The run as one tidy table: a row per (step, seed), a column per metric. Per-step
        training metrics fill steps 1.., evaluations the steps they were taken at (step 0 is
        before training); a metric not recorded at a step is NaN there. Several runs:
        ``pd.concat({name: h.frame() for ...}, names=["method"])``."""

        def tidy(steps: np.ndarray, log: dict[str, np.ndarray]) -> pd.DataFrame:
            index = pd.MultiIndex.from_product([steps, self.seeds], names=["step", "seed"])
            return pd.DataFrame({k: v.reshape(-1) for k, v in log.items()}, index=index)

        both = tidy(self.steps, self.train).join(tidy(self.eval_steps, self.evals), how="outer")
        return both.reset_index()


OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


def make_optimizer(groups: list[dict], name: str = "adam") -> torch.optim.Optimizer:
    """The optimiser of every run (and of the benchmark): Adam or plain SGD over the parameter
    groups. Adam uses torch's fused kernel, one pass over each parameter's memory per step
    instead of about ten: on a CPU its per-parameter cost otherwise rivals a layer's
    multiply-adds, and SG modules add parameters. Fused and per-tensor Adam agree to float32
    rounding (tested), not bit for bit. SGD uses the multi-tensor kernels (the same numbers)."""
    if name == "adam":
        return torch.optim.Adam(groups, fused=True)
    return OPTIMIZERS[name](groups, foreach=True)


@torch.no_grad()
def evaluate(net: Net, data: Dataset, split: str = "test") -> dict[str, torch.Tensor]:
    """Per-seed loss (and accuracy) of the network on a whole split, in eval mode."""
    x = data.x_test if split == "test" else data.x_train
    y = data.y_test if split == "test" else data.y_train
    was_training = net.training
    net.eval()
    out = net(broadcast_seeds(x, net.n_seeds, data.seeded))
    net.train(was_training)
    res = {f"{split}_loss": LOSSES[data.task](out, y)}
    acc = accuracy(out, y, data.task)
    if acc is not None:
        res[f"{split}_acc"] = acc
    return res


def _put(log: dict[str, np.ndarray], key: str, row: int, value: np.ndarray, rows: int) -> None:
    """Row ``row`` of ``log[key]`` is ``value``; the array (``rows`` rows) is made at the first
    value, once per run, not one small array per row: those pin the freed buffers of the steps
    between them and fragment the heap (chapter 2's full-batch grid once peaked at 19 GB)."""
    if key not in log:
        log[key] = np.empty((rows, *value.shape), dtype=value.dtype)
    log[key][row] = value


def train(
    net: Net,
    rule: LearningRule,
    data: Dataset,
    seeds: Sequence[int],
    steps: int,
    lr: float,
    batch_size: int = 256,
    sg_lr: float | None = None,
    optimizer: str = "adam",
    eval_every: int = 50,
    on_divergence: str = "raise",
    progress: bool | None = None,
    desc: str = "",
    metrics: Callable[[Net], dict[str, torch.Tensor]] | None = None,
    align_examples: int = 0,
    norms: bool = False,
    device: str | None = None,
) -> History:
    """Train ``net`` with ``rule`` on ``data`` for ``steps`` minibatch steps (all seeds at once).

    ``lr`` is the model's learning rate, ``sg_lr`` the SG modules' (default: ``lr``);
    ``optimizer`` is ``"adam"`` or ``"sgd"``; ``batch_size=0`` means full batch. ``metrics``,
    if given, is called at every evaluation with the network and returns more per-seed
    metrics to record (e.g. the distance to a known optimum). ``align_examples > 0`` also records,
    at every evaluation, ``align_<k>``: the cosine between the signal hidden layer ``k``
    receives under the rule and the true gradient (:func:`synthgrad.rules.alignment`), on the
    first ``align_examples`` training examples, in evaluation mode. ``norms=True`` also records,
    at every evaluation, each block's raw and batch-norm-folded weight norm and how far its
    weights moved from initialisation (:func:`synthgrad.models.layer_norms`). ``device`` (e.g. ``"cuda"``)
    moves the network, the rule and the data there first (default: where the network is);
    minibatch order is drawn on the CPU, so a seed sees the same minibatches anywhere."""
    start = time.perf_counter()
    if len(seeds) != net.n_seeds:
        raise ValueError(f"{len(seeds)} seeds for a network built with {net.n_seeds}")
    if align_examples < 0:
        raise ValueError(f"align_examples must be >= 0, got {align_examples}")
    if on_divergence not in ("raise", "mark"):
        raise ValueError(f"on_divergence must be 'raise' or 'mark', got {on_divergence!r}")
    if steps < 1 or lr <= 0 or eval_every < 1:
        raise ValueError(
            f"need steps >= 1, lr > 0, eval_every >= 1; got {steps}, {lr}, {eval_every}"
        )
    if device is not None:
        net.to(device)
        rule.to(device)
    data = data.to(next(net.parameters()).device)
    n_train = data.n_train
    batch = n_train if batch_size in (0, None) or batch_size >= n_train else batch_size
    groups = [{"params": list(net.parameters()), "lr": lr}]
    if list(rule.parameters()):
        groups.append({"params": list(rule.parameters()), "lr": lr if sg_lr is None else sg_lr})
    opt = make_optimizer(groups, optimizer)
    loss_fn = LOSSES[data.task]
    gens = generators(seeds, stream=2)
    n_seeds = len(seeds)
    alive = torch.ones(n_seeds, dtype=torch.bool)
    diverged_at = np.full(n_seeds, -1)
    train_log: dict[str, np.ndarray] = {}
    eval_log: dict[str, np.ndarray] = {}  # (evaluations, ...): made once, as the step logs
    n_evals = 1 + steps // eval_every + (steps % eval_every != 0)  # at 0, every eval_every, end
    eval_steps = []
    full_x, full_y = broadcast_seeds(data.x_train, n_seeds, data.seeded), data.y_train
    initial = [linear.weight.detach().clone() for linear in net.linears()] if norms else []
    net.train()

    def log_eval(step: int) -> None:
        eval_steps.append(step)
        values = evaluate(net, data, "test")
        if norms:
            values.update(layer_norms(net, initial))
        if metrics is not None or align_examples:
            net.eval()
            if metrics is not None:
                with torch.no_grad():
                    values.update(metrics(net))
            if align_examples:
                k = align_examples
                xa, ya = (
                    (data.x_train[:, :k], data.y_train[:, :k])
                    if data.seeded
                    else (broadcast_seeds(data.x_train[:k], n_seeds), data.y_train[:k])
                )
                cos = alignment(rule, net, xa, ya, data.context(ya), loss_fn)
                values.update({f"align_{i}": cos[:, i] for i in range(cos.shape[1])})
            net.train()
        for k, v in values.items():
            v = torch.where(alive, v.detach().cpu(), torch.nan).numpy()
            _put(eval_log, k, len(eval_steps) - 1, v, n_evals)

    log_eval(0)
    show = (not quiet()) if progress is None else progress
    for step in tqdm(range(1, steps + 1), desc=desc, disable=not show, leave=False):
        if batch == n_train:
            x, y = full_x, full_y
        else:
            idx = torch.stack([torch.randperm(n_train, generator=g)[:batch] for g in gens])
            idx = idx.to(data.x_train.device)
            if data.seeded:  # seed i draws from its own data
                rows = torch.arange(n_seeds, device=idx.device)[:, None]
                x, y = data.x_train[rows, idx], data.y_train[rows, idx]
            else:
                x, y = data.x_train[idx], data.y_train[idx]
        opt.zero_grad()  # (grads set to None: the next backward writes them, no add)
        step_metrics = {
            k: v.detach().cpu()
            for k, v in rule.backward(net, x, y, data.context(y), loss_fn).items()
        }
        loss = step_metrics["loss"]
        bad = alive & ~torch.isfinite(loss)
        if bad.any():
            diverged_at[bad.numpy()] = step
            if on_divergence == "raise":
                who = [seeds[i] for i in np.flatnonzero(bad.numpy())]
                raise TrainingDiverged(
                    f"training diverged: the loss became {loss[bad][0].item()} at step {step} "
                    f"for seed(s) {who} (rule {rule.name}, lr {lr}, sg_lr {sg_lr}, optimiser "
                    f"{optimizer}). Lower the learning rate(s), or pass on_divergence='mark' "
                    f"to record diverged runs instead of stopping."
                )
            alive &= ~bad
        # a diverged seed's NaNs stay in its own slice: seeds never mix (elementwise optimisers)
        opt.step()
        # each step's metrics go into arrays made once (_put says why)
        for k, v in step_metrics.items():
            _put(train_log, k, step - 1, torch.where(alive, v, torch.nan).numpy(), steps)
        if step % eval_every == 0 or step == steps:
            log_eval(step)
        if not alive.any():
            break
    n_done = step
    return History(
        seeds=list(seeds),
        steps=np.arange(1, n_done + 1),
        train={k: v[:n_done].copy() for k, v in train_log.items()},
        eval_steps=np.array(eval_steps),
        evals={k: v[: len(eval_steps)].copy() for k, v in eval_log.items()},
        diverged_at=diverged_at,
        settings=dict(
            rule=rule.name, lr=lr, sg_lr=sg_lr, optimizer=optimizer, batch=batch,
            seconds=time.perf_counter() - start,
        ),
    )  # fmt: skip


def fit_net(
    data: Dataset,
    seeds: Sequence[int],
    rule: str,
    hidden: Sequence[int],
    conditioned: bool = False,
    sg_hidden: int = 0,
    activation: str = "relu",
    batch_norm: bool = False,
    device: str | None = None,
    wrap_rule: Callable[[LearningRule], LearningRule] | None = None,
    **train_kwargs,
) -> tuple[Net, History]:
    """Build a fresh network and learning rule for ``data``, train it, return both.

    ``rule`` is a name known to :func:`synthgrad.rules.make_rule`; ``conditioned`` gives the
    SGs the label (cDNI); ``device`` and ``train_kwargs`` go to :func:`train`. The network is
    built on the CPU (the same initial weights wherever it then runs). ``wrap_rule`` changes how
    each step runs (:class:`synthgrad.graphs.Graphed`: replayed from a CUDA graph); the run's
    settings record it as ``step`` (``"eager"`` or ``"CUDA graph"``)."""
    net = mlp(data.d_in, hidden, data.d_out, seeds, activation, batch_norm)
    learner = make_rule(rule, net, seeds, data.d_context if conditioned else 0, sg_hidden)
    if wrap_rule is not None:
        if train_kwargs.get("align_examples"):
            raise ValueError("align_examples needs the eager rule: train without wrap_rule")
        learner = wrap_rule(learner)
    history = train(net, learner, data, seeds, device=device, **train_kwargs)
    history.settings.update(
        rule=rule,
        conditioned=conditioned,
        sg_hidden=sg_hidden,
        hidden=list(hidden),
        activation=activation,
        batch_norm=batch_norm,
        step=getattr(learner, "step", "eager"),
    )
    return net, history


def fit(*args, **kwargs) -> History:
    """:func:`fit_net` without the network: one call per curve."""
    return fit_net(*args, **kwargs)[1]


class Tracker:
    """A :func:`train` ``metrics`` callback that also keeps snapshots: at every evaluation it
    returns ``measure(net)`` (per-seed metrics to record); at the evaluations numbered in
    ``keep`` (0 is before training) it also stores ``snapshot(net)`` in ``snapshots[step]``."""

    def __init__(
        self,
        measure: Callable[[Net], dict[str, torch.Tensor]],
        snapshot: Callable[[Net], object],
        keep: set[int],
        eval_every: int,
    ) -> None:
        self.measure, self.snapshot, self.keep, self.eval_every = (
            measure,
            snapshot,
            keep,
            eval_every,
        )
        self.calls = 0
        self.snapshots: dict[int, object] = {}

    def __call__(self, net: Net) -> dict[str, torch.Tensor]:
        k, self.calls = self.calls, self.calls + 1
        if k in self.keep:
            self.snapshots[k * self.eval_every] = self.snapshot(net)
        return self.measure(net)


class Runs:
    """The runs a chapter has trained, by configuration, so that none is trained twice.

    ``runs.fit(...)`` takes :func:`fit`'s arguments. A configuration (every argument but
    ``steps``, ``desc`` and ``progress``; the same dataset object) already trained for at
    least as many steps is not trained again: the stored run is cut to the steps asked for
    (:meth:`History.upto`). That is exact: a run's first k steps do not depend on how long it
    goes on (same initial weights, minibatches and optimiser state). Runs with a ``metrics``
    callback are always trained."""

    IGNORED = ("steps", "desc", "progress")

    def __init__(self) -> None:
        self.done: dict[str, History] = {}
        self.trained = 0

    def key(self, data: Dataset, seeds: Sequence[int], rule: str, **kwargs) -> str | None:
        bound = inspect.signature(fit_net).bind(data, seeds, rule, **kwargs)
        bound.apply_defaults()
        config = dict(bound.arguments)
        extra = inspect.signature(train).bind_partial(**config.pop("train_kwargs"))
        extra.apply_defaults()
        config.update(extra.arguments)
        if config.get("metrics") is not None:
            return None
        config.update(data=id(data), seeds=tuple(seeds))
        return repr(sorted((k, v) for k, v in config.items() if k not in self.IGNORED))

    def cached(self, data: Dataset, seeds: Sequence[int], rule: str, **kwargs) -> History | None:
        """The stored run of this configuration cut to ``steps``, or None if there is none as
        long."""
        key, steps = self.key(data, seeds, rule, **kwargs), kwargs.get("steps")
        old = self.done.get(key) if key is not None else None
        return old.upto(steps) if old is not None and steps in old.eval_steps else None

    def keep(self, key: str | None, history: History) -> None:
        """Count a run as trained and store it (unless a longer run of its configuration is)."""
        self.trained += 1
        old = self.done.get(key) if key is not None else None
        if key is not None and (old is None or history.eval_steps[-1] > old.eval_steps[-1]):
            self.done[key] = history

    def fit(self, data: Dataset, seeds: Sequence[int], rule: str, **kwargs) -> History:
        """:func:`fit`, or the stored run of the same configuration cut to ``steps``."""
        old = self.cached(data, seeds, rule, **kwargs)
        return old if old is not None else self.fit_net(data, seeds, rule, **kwargs)[1]

    def fit_net(
        self, data: Dataset, seeds: Sequence[int], rule: str, **kwargs
    ) -> tuple[Net, History]:
        """:func:`fit_net` (always trained: the network itself is wanted), and the run kept."""
        net, history = fit_net(data, seeds, rule, **kwargs)
        self.keep(self.key(data, seeds, rule, **kwargs), history)
        return net, history
