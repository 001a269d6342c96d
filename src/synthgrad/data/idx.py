"""MNIST from the standard IDX files, as a :class:`~synthgrad.data.Dataset`.

Lookup order (BOOK.md section 3): the directory named by the environment variable
``MNIST_DIR``, then ``data/mnist/`` in the checkout, then a download into ``data/mnist/``
(atomic: a temporary file, MD5-checked, then renamed). Every file is MD5-verified before use,
on its gzip bytes or on its uncompressed ones (the official data compressed with another gzip
level or tool); a corrupt file is never used.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from .dataset import Dataset, split, tensors

MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# the MD5 of each file's uncompressed bytes: a file compressed otherwise (another gzip level or
# tool) holds the same data under another .gz MD5, and is accepted on these
MNIST_RAW_MD5 = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MNIST_ENV = "MNIST_DIR"
SCALES = {
    "small": "the 10,000 official test images, split 8,000 train / 2,000 held-out (fixed split)",
    "full": "the standard 60,000 train / 10,000 test split",
    "full-validation": "50,000 of the 60,000 official training images for training, the other "
    "10,000 held out for choosing settings (fixed split); the test images unused",
    "full-test": "the same 50,000 training images for training, the 10,000 official test images "
    "held out",
}


class DataError(RuntimeError):
    """A data file is missing, corrupt or unreadable; the message says what to do."""


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def verify(path: Path, name: str) -> str | None:
    """None when ``path`` holds the MNIST file ``name``: its MD5 is the official .gz's, or the
    MD5 of its uncompressed bytes is the official data's (the same file compressed otherwise);
    else what is wrong with it."""
    got = md5(path)
    if got == MNIST_FILES[name]:
        return None
    try:
        with gzip.open(path, "rb") as f:
            raw = hashlib.md5(f.read()).hexdigest()
    except (OSError, EOFError) as exc:
        return f"its MD5 is {got}, expected {MNIST_FILES[name]}, and it does not decompress ({exc})"
    if raw == MNIST_RAW_MD5[name]:
        return None
    return (
        f"its MD5 is {got}, expected {MNIST_FILES[name]} (the official .gz), and its uncompressed "
        f"bytes' MD5 is {raw}, expected {MNIST_RAW_MD5[name]}"
    )


def checkout_data_dir() -> Path:
    """``data/mnist`` in the checkout (the repository holding this package), else in the CWD."""
    root = Path(__file__).resolve().parents[3]
    base = root if (root / "pyproject.toml").exists() else Path.cwd()
    return base / "data" / "mnist"


def fetch_url(
    name: str, dest_dir: Path, urls: Sequence[str], check: Callable[[Path], str | None]
) -> Path:
    """Download ``name`` into ``dest_dir`` from the first of ``urls`` that serves a file
    ``check`` accepts (it returns None, else what is wrong with the file), atomically: into a
    temporary file, checked, then renamed in; a file that fails the check is never kept."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as r:
                while chunk := r.read(1 << 16):
                    out.write(chunk)
            wrong = check(Path(tmp))
            if wrong:
                errors.append(f"{url}: {wrong}")
                continue
            os.replace(tmp, dest_dir / name)
            return dest_dir / name
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            errors.append(f"{url}: {exc}")
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
            wrong = verify(path, name)
            if wrong:
                raise DataError(
                    f"{path} is corrupt: {wrong}. "
                    f"Delete it and put the official file there (or let the loader download it)."
                )
            return path
    where = " or ".join(str(d) for d in dirs)
    if not download:
        raise DataError(f"MNIST file {name} not found in {where}, and download=False.")
    try:
        urls = [mirror + name for mirror in MNIST_MIRRORS]
        return fetch_url(name, checkout_data_dir(), urls, lambda path: verify(path, name))
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
    ``scale="full"``: 60,000 / 10,000. ``scale="full-validation"``: the official training set
    split 50,000 / 10,000 with a fixed permutation, for choosing settings (learning rates)
    without looking at the test images; ``scale="full-test"``: the same 50,000 against the
    official test set, for the numbers reported. ``limit`` keeps the first ``limit`` training
    examples (for smoke runs)."""
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
        x_tr, y_tr, x_te, y_te = split(x, y, 2000, np.random.default_rng(0))
    elif scale == "full":
        (x_tr, y_tr), (x_te, y_te) = load("train"), load("t10k")
    else:
        x_tr, y_tr, x_val, y_val = split(*load("train"), 10_000, np.random.default_rng(0))
        x_te, y_te = (x_val, y_val) if scale == "full-validation" else load("t10k")
    if limit is not None:
        x_tr, y_tr = x_tr[:limit], y_tr[:limit]
    parts = tensors(x_tr, y_tr, x_te, y_te, y_dtype=torch.int64)
    return Dataset(
        f"mnist-{scale}", "classification", *parts, n_classes=10, description=SCALES[scale]
    )
