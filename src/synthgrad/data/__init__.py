"""Data: the :class:`Dataset` type, seeded synthetic problems, and MNIST.

- :mod:`~synthgrad.data.dataset`: the :class:`Dataset` type (train and held-out tensors and a
  task that fixes the loss) and :func:`per_seed` (one draw of a problem per seed);
- :mod:`~synthgrad.data.synthetic`: problems generated from a seed (linear regression, a tanh
  teacher, noisy linear labels, two moons) and :func:`parity` (MNIST's odd-or-even task);
- :mod:`~synthgrad.data.idx`: MNIST from the standard IDX files, verified by their MD5 sums;
- :mod:`~synthgrad.data.sequences`: chapter 8's sequence tasks, Copy and Repeat Copy.

Every loader is available here by name, as the chapters use it: ``data.mnist("small")``.
"""

from .dataset import TASKS, Dataset, per_seed
from .idx import SCALES, DataError, mnist
from .synthetic import (
    linear_regression,
    mixture_labels,
    noisy_linear_labels,
    parity,
    tanh_teacher,
    two_moons,
)

# the loaders a sweep task may name (synthgrad.sweep.Task; the store's hash starts from them)
LOADERS = ("mnist", "two_moons", "linear_regression", "tanh_teacher", "noisy_linear_labels")

__all__ = [
    "LOADERS",
    "TASKS",
    "SCALES",
    "DataError",
    "Dataset",
    "linear_regression",
    "mnist",
    "noisy_linear_labels",
    "mixture_labels",
    "parity",
    "per_seed",
    "tanh_teacher",
    "two_moons",
]
