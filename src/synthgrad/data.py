"""Data: the :class:`Dataset` type and seeded synthetic problems.

Every dataset is a :class:`Dataset` of float tensors with a train and a held-out part and a
``task`` that fixes the loss: ``"regression"`` (squared error), ``"binary"`` (log loss on one
logit) or ``"classification"`` (cross-entropy over ``n_classes`` logits).

MNIST (reading, verifying and downloading the IDX files) lives in :mod:`synthgrad.mnist`;
``data.mnist`` and ``data.DataError`` stay available here, loaded lazily (``mnist`` imports
this module for :class:`Dataset`), so the chapters' ``data.mnist(...)`` keeps working.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

TASKS = ("regression", "binary", "classification")


@dataclass(frozen=True)
class Dataset:
    """A supervised problem: ``x_*`` are (N, d) float32; ``y_*`` are (N, k) float32 targets
    for regression and binary tasks and (N,) int64 class indices for classification.

    A *per-seed* dataset (:func:`per_seed`) carries a leading seed dimension on every tensor,
    (S, N, d) and (S, N, k): seed ``i`` of a batched run trains on its own draw of the data."""

    name: str
    task: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int = 0
    description: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")

    @property
    def d_in(self) -> int:
        return self.x_train.shape[-1]

    @property
    def d_out(self) -> int:
        """Width of the model's output layer."""
        return self.n_classes if self.task == "classification" else self.y_train.shape[-1]

    @property
    def seeded(self) -> bool:
        """True for a per-seed dataset (one draw of the data per seed)."""
        return self.x_train.dim() == 3

    @property
    def n_train(self) -> int:
        return self.x_train.shape[-2]

    def context(self, y: torch.Tensor) -> torch.Tensor:
        """The label as an SG sees it (cDNI): one-hot for classes, the target itself otherwise."""
        if self.task == "classification":
            return torch.nn.functional.one_hot(y, self.n_classes).to(torch.float32)
        return y

    @property
    def d_context(self) -> int:
        return self.d_out

    def to(self, device: str | torch.device) -> Dataset:
        """The same dataset with its tensors on ``device`` (itself if they are there already)."""
        if self.x_train.device == torch.device(device):
            return self
        moved = {k: getattr(self, k).to(device) for k in ("x_train", "y_train", "x_test", "y_test")}
        return dataclasses.replace(self, **moved)


def per_seed(draws: Sequence[Dataset]) -> Dataset:
    """One dataset of several draws of the same problem (one per seed, in order): every tensor
    gets a leading seed dimension. Batched training gives seed ``i`` the draw ``draws[i]``, so
    that seeds vary the data as well as the initialisation."""
    if not draws:
        raise ValueError("per_seed needs at least one draw")
    first = draws[0]
    if first.seeded or first.task == "classification":
        raise ValueError("per_seed stacks plain regression or binary datasets")
    for d in draws:
        if (d.task, d.x_train.shape, d.x_test.shape) != (
            first.task,
            first.x_train.shape,
            first.x_test.shape,
        ):
            raise ValueError("per_seed needs draws of the same task and shapes")
    stacked = {
        k: torch.stack([getattr(d, k) for d in draws])
        for k in ("x_train", "y_train", "x_test", "y_test")
    }
    return dataclasses.replace(
        first, description=f"{first.description}; one draw per seed ({len(draws)})", **stacked
    )


def _split(x: np.ndarray, y: np.ndarray, n_test: int, rng: np.random.Generator):
    order = rng.permutation(len(x))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def _tensors(x_tr, y_tr, x_te, y_te, y_dtype=torch.float32):
    return (
        torch.as_tensor(x_tr, dtype=torch.float32),
        torch.as_tensor(y_tr, dtype=y_dtype),
        torch.as_tensor(x_te, dtype=torch.float32),
        torch.as_tensor(y_te, dtype=y_dtype),
    )


def linear_regression(
    n: int = 1000, d: int = 2, d_out: int = 1, noise: float = 0.5, n_test: int = 200, seed: int = 0
) -> Dataset:
    """Gaussian inputs, targets from a random linear teacher plus Gaussian noise (MSE task).

    The noise makes the optimal loss non-zero; ``noise=0`` gives a realisable problem."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + n_test, d))
    w = rng.standard_normal((d, d_out)) / np.sqrt(d)
    y = x @ w + noise * rng.standard_normal((n + n_test, d_out))
    parts = _tensors(*_split(x, y, n_test, rng))
    return Dataset(
        f"linear-regression-{d}d",
        "regression",
        *parts,
        description=f"x ~ N(0, I_{d}), y = x W* + {noise} * N(0, 1), W* random",
    )


def noisy_linear_labels(
    n: int = 1000,
    d: int = 2,
    flip: float = 0.1,
    margin: float = 0.0,
    n_test: int = 200,
    seed: int = 0,
    scales: Sequence[float] | None = None,
) -> Dataset:
    """Binary labels from a random linear teacher, each flipped with probability ``flip``.

    ``flip=0`` with ``margin>0`` gives linearly separable data (points closer than ``margin``
    to the teacher's hyperplane are pushed away); ``flip>0`` makes it non-separable.
    ``scales`` multiplies the input coordinates (an anisotropic input distribution)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + n_test, d))
    if scales is not None:
        x = x * np.asarray(scales, dtype=np.float64)
    w = rng.standard_normal(d)
    w /= np.linalg.norm(w)
    s = x @ w
    x = x + np.outer(np.sign(s) * margin, w)
    y = (s > 0).astype(np.float64)
    flips = rng.random(n + n_test) < flip
    y[flips] = 1.0 - y[flips]
    parts = _tensors(*_split(x, y[:, None], n_test, rng))
    return Dataset(
        f"noisy-linear-labels-{d}d",
        "binary",
        *parts,
        description=f"x ~ N(0, I_{d}), y = [x.w* > 0], flipped with p={flip}, margin {margin}",
    )


def tanh_teacher(
    n: int = 500,
    w: Sequence[float] = (1.5, -2.0),
    noise: float = 0.0,
    scales: Sequence[float] | None = None,
    n_test: int = 200,
    seed: int = 0,
) -> Dataset:
    """Targets y = tanh(x . w) + noise * N(0, 1): realisable by a tanh unit when ``noise=0``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + n_test, len(w)))
    if scales is not None:
        x = x * np.asarray(scales, dtype=np.float64)
    y = np.tanh(x @ np.asarray(w, dtype=np.float64)) + noise * rng.standard_normal(n + n_test)
    parts = _tensors(*_split(x, y[:, None], n_test, rng))
    return Dataset(
        "tanh-teacher",
        "regression",
        *parts,
        description=f"y = tanh(x . {tuple(w)}) + {noise} * N(0, 1)",
    )


def two_moons(n: int = 1000, noise: float = 0.1, n_test: int = 200, seed: int = 0) -> Dataset:
    """The classic non-linear 2-D problem: two interleaved half circles (binary task)."""
    rng = np.random.default_rng(seed)
    m = n + n_test
    t = rng.random(m) * np.pi
    label = rng.random(m) < 0.5
    x = np.where(
        label[:, None],
        np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], 1),
        np.stack([np.cos(t), np.sin(t)], 1),
    )
    x = x + noise * rng.standard_normal((m, 2))
    x = (x - x.mean(0)) / x.std(0)
    parts = _tensors(*_split(x, label.astype(np.float64)[:, None], n_test, rng))
    return Dataset("two-moons", "binary", *parts, description=f"two moons, noise {noise}")


def parity(ds: Dataset) -> Dataset:
    """A classification dataset turned into a one-output binary task: is the class odd? (For
    MNIST: odd digits.) Rules defined for a single output, such as Kickback, run here as their
    authors wrote them."""
    if ds.task != "classification":
        raise ValueError(f"parity needs a classification dataset, got a {ds.task} one")

    def odd(y: torch.Tensor) -> torch.Tensor:
        return (y % 2).to(torch.float32).unsqueeze(-1)

    return Dataset(
        f"{ds.name} parity",
        "binary",
        ds.x_train,
        odd(ds.y_train),
        ds.x_test,
        odd(ds.y_test),
        description=f"{ds.description}; target: odd class (one output)",
    )


def __getattr__(name: str):
    """``data.mnist`` and ``data.DataError``, from :mod:`synthgrad.mnist` on first use."""
    if name in ("mnist", "DataError"):
        from . import mnist

        return getattr(mnist, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
