"""The :class:`Dataset` type every loader returns, and what the loaders share.

Every dataset is a :class:`Dataset` of float tensors with a train and a held-out part and a
``task`` that fixes the loss: ``"regression"`` (squared error), ``"binary"`` (log loss on one
logit) or ``"classification"`` (cross-entropy over ``n_classes`` logits).
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


def split(x: np.ndarray, y: np.ndarray, n_test: int, rng: np.random.Generator):
    """``n_test`` examples drawn at random (``rng``) held out: ``x_train, y_train, x_test,
    y_test``."""
    order = rng.permutation(len(x))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def tensors(x_tr, y_tr, x_te, y_te, y_dtype=torch.float32):
    """The four arrays of a split as tensors: float32 inputs, targets of ``y_dtype``."""
    return (
        torch.as_tensor(x_tr, dtype=torch.float32),
        torch.as_tensor(y_tr, dtype=y_dtype),
        torch.as_tensor(x_te, dtype=torch.float32),
        torch.as_tensor(y_te, dtype=y_dtype),
    )
