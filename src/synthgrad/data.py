"""Data: seeded synthetic problems and MNIST from the standard IDX files.

Every dataset is a :class:`Dataset` of float tensors with a train and a held-out part and a
``task`` that fixes the loss: ``"regression"`` (squared error), ``"binary"`` (log loss on one
logit) or ``"classification"`` (cross-entropy over ``n_classes`` logits).

MNIST lookup order (BOOK.md section 3): the directory named by the environment variable
``MNIST_DIR``, then ``data/mnist/`` in the checkout, then a download into ``data/mnist/``
(atomic: a temporary file, MD5-checked, then renamed). Every file is MD5-verified before use;
a corrupt file is never used.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import struct
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

TASKS = ("regression", "binary", "classification")


@dataclass(frozen=True)
class Dataset:
    """A supervised problem: ``x_*`` are (N, d) float32; ``y_*`` are (N, k) float32 targets
    for regression and binary tasks and (N,) int64 class indices for classification."""

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
        return self.x_train.shape[1]

    @property
    def d_out(self) -> int:
        """Width of the model's output layer."""
        return self.n_classes if self.task == "classification" else self.y_train.shape[1]

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


# --------------------------------------------------------------------------------------- MNIST

MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MNIST_ENV = "MNIST_DIR"
SCALES = {
    "small": "the 10,000 official test images, split 8,000 train / 2,000 held-out (fixed split)",
    "full": "the standard 60,000 train / 10,000 test split",
}


class DataError(RuntimeError):
    """A data file is missing, corrupt or unreadable; the message says what to do."""


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def checkout_data_dir() -> Path:
    """``data/mnist`` in the checkout (the repository holding this package), else in the CWD."""
    root = Path(__file__).resolve().parents[2]
    base = root if (root / "pyproject.toml").exists() else Path.cwd()
    return base / "data" / "mnist"


def _download(name: str, dest_dir: Path, mirrors: tuple[str, ...] = MNIST_MIRRORS) -> Path:
    """Download ``name`` into ``dest_dir`` atomically; only an MD5-verified file is renamed in."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    errors = []
    for mirror in mirrors:
        fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(mirror + name, timeout=30) as r:
                while chunk := r.read(1 << 16):
                    out.write(chunk)
            got = md5(Path(tmp))
            if got != MNIST_FILES[name]:
                errors.append(f"{mirror}: MD5 {got} != {MNIST_FILES[name]}")
                continue
            os.replace(tmp, dest_dir / name)
            return dest_dir / name
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            errors.append(f"{mirror}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DataError(f"could not download {name}: " + "; ".join(errors))


def find_mnist_file(name: str, download: bool = True) -> Path:
    """Return a verified path to one MNIST file, downloading it if needed and allowed."""
    if name not in MNIST_FILES:
        raise ValueError(f"unknown MNIST file {name!r}; known: {sorted(MNIST_FILES)}")
    dirs = []
    if os.environ.get(MNIST_ENV):
        dirs.append(Path(os.environ[MNIST_ENV]).expanduser())
    dirs.append(checkout_data_dir())
    for d in dirs:
        path = d / name
        if path.exists():
            got = md5(path)
            if got != MNIST_FILES[name]:
                raise DataError(
                    f"{path} is corrupt: its MD5 is {got}, expected {MNIST_FILES[name]}. "
                    f"Delete it and put the official file there (or let the loader download it)."
                )
            return path
    where = " or ".join(str(d) for d in dirs)
    if not download:
        raise DataError(f"MNIST file {name} not found in {where}, and download=False.")
    try:
        return _download(name, checkout_data_dir())
    except DataError as exc:
        raise DataError(
            f"MNIST file {name} is not in {where} and could not be downloaded ({exc}). "
            f"Offline? Copy the official gzip files into one of those folders, or set "
            f"{MNIST_ENV} to the folder that holds them."
        ) from None


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzip-compressed IDX file (the MNIST format) into a uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise DataError(
            f"{path}: IDX header says {expected} values, file holds {len(data) - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def mnist(scale: str = "small", download: bool = True, limit: int | None = None) -> Dataset:
    """MNIST as flat float32 pixels in [0, 1] and int64 labels.

    ``scale="small"``: the official test set split 8,000 / 2,000 with a fixed permutation;
    ``scale="full"``: 60,000 / 10,000. ``limit`` keeps the first ``limit`` training examples
    (for smoke runs)."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")

    def load(prefix: str):
        x = read_idx(find_mnist_file(f"{prefix}-images-idx3-ubyte.gz", download))
        y = read_idx(find_mnist_file(f"{prefix}-labels-idx1-ubyte.gz", download))
        if len(x) != len(y):
            raise DataError(f"MNIST {prefix}: {len(x)} images but {len(y)} labels")
        return x.reshape(len(x), -1).astype(np.float32) / 255.0, y.astype(np.int64)

    if scale == "small":
        x, y = load("t10k")
        x_tr, y_tr, x_te, y_te = _split(x, y, 2000, np.random.default_rng(0))
    else:
        (x_tr, y_tr), (x_te, y_te) = load("train"), load("t10k")
    if limit is not None:
        x_tr, y_tr = x_tr[:limit], y_tr[:limit]
    parts = _tensors(x_tr, y_tr, x_te, y_te, y_dtype=torch.int64)
    return Dataset(
        f"mnist-{scale}", "classification", *parts, n_classes=10, description=SCALES[scale]
    )


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
