"""Seeded synthetic problems: every one drawn from its ``seed`` alone, train and held-out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .dataset import Dataset, split, tensors


def linear_regression(
    n: int = 1000, d: int = 2, d_out: int = 1, noise: float = 0.5, n_test: int = 200, seed: int = 0
) -> Dataset:
    """Gaussian inputs, targets from a random linear teacher plus Gaussian noise (MSE task).

    The noise makes the optimal loss non-zero; ``noise=0`` gives a realisable problem."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + n_test, d))
    w = rng.standard_normal((d, d_out)) / np.sqrt(d)
    y = x @ w + noise * rng.standard_normal((n + n_test, d_out))
    parts = tensors(*split(x, y, n_test, rng))
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
    parts = tensors(*split(x, y[:, None], n_test, rng))
    return Dataset(
        f"noisy-linear-labels-{d}d",
        "binary",
        *parts,
        description=f"x ~ N(0, I_{d}), y = [x.w* > 0], flipped with p={flip}, margin {margin}",
    )


def mixture_labels(
    n: int = 1000,
    flip: float = 0.05,
    n_test: int = 200,
    seed: int = 0,
) -> Dataset:
    """Binary labels of a random linear teacher through the origin, each flipped with
    probability ``flip``, on 2-D inputs that are *not* Gaussian: half from a wide cluster at
    the origin (N(0, I)), half from a narrow one off-centre (N((1.5, 1), 0.3^2 I)). On Gaussian
    inputs the labels depend on x only through x . w* and the population fixed point of a
    linear SG is the optimum (Stein's lemma); here that argument does not apply."""
    rng = np.random.default_rng(seed)
    wide = rng.standard_normal((n + n_test, 2))
    narrow = np.array([1.5, 1.0]) + 0.3 * rng.standard_normal((n + n_test, 2))
    x = np.where(rng.random(n + n_test)[:, None] < 0.5, wide, narrow)
    angle = rng.uniform(0, 2 * np.pi)
    w = np.array([np.cos(angle), np.sin(angle)])
    y = (x @ w > 0).astype(np.float64)
    flips = rng.random(n + n_test) < flip
    y[flips] = 1.0 - y[flips]
    parts = tensors(*split(x, y[:, None], n_test, rng))
    return Dataset(
        "mixture-labels-2d",
        "binary",
        *parts,
        description=f"x: half N(0, I_2), half N((1.5, 1), 0.09 I_2); y = [x.w* > 0], flipped with p={flip}",
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
    parts = tensors(*split(x, y[:, None], n_test, rng))
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
    parts = tensors(*split(x, label.astype(np.float64)[:, None], n_test, rng))
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
