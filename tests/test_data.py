import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from synthgrad import data
from synthgrad.data import idx

# where this machine's MNIST is (read before any test isolates the loader from it)
MNIST_HERE = Path(os.environ.get(idx.MNIST_ENV) or idx.checkout_data_dir())


def official(name):
    """The official MNIST file ``name`` on this machine (the test is skipped without it)."""
    if not (MNIST_HERE / name).exists():
        pytest.skip(f"no {name} in {MNIST_HERE}")
    return MNIST_HERE / name


def _idx(path, array):
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_roundtrip(tmp_path):
    a = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    _idx(tmp_path / "a.gz", a)
    assert (idx.read_idx(tmp_path / "a.gz") == a).all()


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    a = np.arange(24).reshape(2, 3, 4)
    _idx(tmp_path / "a.gz", a)
    raw = gzip.open(tmp_path / "a.gz").read()
    with gzip.open(tmp_path / "short.gz", "wb") as f:
        f.write(raw[:-3])
    with pytest.raises(idx.DataError, match="holds"):
        idx.read_idx(tmp_path / "short.gz")
    with gzip.open(tmp_path / "png.gz", "wb") as f:
        f.write(b"\x89PNG....")
    with pytest.raises(idx.DataError, match="not an IDX"):
        idx.read_idx(tmp_path / "png.gz")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No MNIST anywhere: an empty env dir, an empty checkout data dir, no network."""
    env_dir, checkout = tmp_path / "env", tmp_path / "checkout" / "data" / "mnist"
    env_dir.mkdir()
    monkeypatch.setenv(idx.MNIST_ENV, str(env_dir))
    monkeypatch.setattr(idx, "checkout_data_dir", lambda: checkout)
    return env_dir, checkout


def test_corrupt_file_is_never_used(isolated):
    env_dir, _ = isolated
    (env_dir / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not mnist")
    with pytest.raises(idx.DataError, match="corrupt.*MD5"):
        idx.find_mnist_file("t10k-labels-idx1-ubyte.gz")


def test_the_same_data_compressed_otherwise_is_accepted_and_other_data_is_not(isolated):
    """A file is the official one when its .gz MD5 is, or when its uncompressed bytes' MD5 is
    (another gzip level or tool): how the training files come in some copies."""
    env_dir, _ = isolated
    name = "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress(official(name).read_bytes())
    (env_dir / name).write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
    assert idx.md5(env_dir / name) != idx.MNIST_FILES[name]
    assert idx.find_mnist_file(name) == env_dir / name
    assert (idx.read_idx(env_dir / name) == idx.read_idx(official(name))).all()
    (env_dir / name).write_bytes(gzip.compress(raw[:-1] + bytes([(raw[-1] + 1) % 256]), mtime=0))
    with pytest.raises(idx.DataError, match="corrupt.*uncompressed bytes' MD5"):
        idx.find_mnist_file(name)


def test_offline_and_missing_says_where_to_put_files(isolated, monkeypatch):
    def offline(*a, **k):
        raise idx.urllib.error.URLError("no network")

    monkeypatch.setattr(idx.urllib.request, "urlopen", offline)
    with pytest.raises(idx.DataError, match=r"could not be downloaded.*MNIST_DIR"):
        idx.find_mnist_file("t10k-labels-idx1-ubyte.gz")
    with pytest.raises(idx.DataError, match="download=False"):
        idx.find_mnist_file("t10k-labels-idx1-ubyte.gz", download=False)


class _FakeResponse:
    def __init__(self, payload):
        self.payload = payload

    def read(self, n):
        chunk, self.payload = self.payload[:n], self.payload[n:]
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_download_is_verified_and_atomic(isolated, monkeypatch):
    _, checkout = isolated
    name = "t10k-labels-idx1-ubyte.gz"
    good = b"pretend these are the official bytes"
    monkeypatch.setitem(idx.MNIST_FILES, name, hashlib.md5(good).hexdigest())
    served = {idx.MNIST_MIRRORS[0]: b"truncated", idx.MNIST_MIRRORS[1]: good}
    monkeypatch.setattr(
        idx.urllib.request,
        "urlopen",
        lambda url, timeout: _FakeResponse(served[url[: -len(name)]]),
    )
    path = idx.find_mnist_file(name)
    assert path == checkout / name and path.read_bytes() == good
    assert [p.name for p in checkout.iterdir()] == [name]  # no temporary file left behind


def test_download_with_bad_md5_everywhere_leaves_nothing(isolated, monkeypatch):
    _, checkout = isolated
    monkeypatch.setattr(idx.urllib.request, "urlopen", lambda url, timeout: _FakeResponse(b"junk"))
    with pytest.raises(idx.DataError, match="MD5"):
        idx.find_mnist_file("t10k-images-idx3-ubyte.gz")
    assert list(checkout.iterdir()) == []


def test_mnist_small_scale_from_the_official_files():
    d = idx.mnist("small", download=False)
    assert d.x_train.shape == (8000, 784) and d.x_test.shape == (2000, 784)
    assert d.x_train.dtype == torch.float32 and 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert set(d.y_train.unique().tolist()) == set(range(10))
    again = idx.mnist("small", download=False)
    assert torch.equal(d.y_test, again.y_test)  # the split is fixed
    with pytest.raises(ValueError, match="scale"):
        idx.mnist("medium")


def test_synthetic_problems_are_seeded():
    for make in (data.linear_regression, data.noisy_linear_labels, data.two_moons):
        a, b, c = make(seed=0), make(seed=0), make(seed=1)
        assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, c.x_train)
    sep = data.noisy_linear_labels(n=500, d=2, flip=0.0, margin=0.5)
    assert set(sep.y_train.flatten().tolist()) == {0.0, 1.0}
    assert data.linear_regression(d=100).d_in == 100
    assert data.mnist.__doc__  # documented


def test_parity_is_a_one_output_binary_task():
    ds = data.Dataset(
        "toy",
        "classification",
        torch.zeros(4, 2),
        torch.tensor([0, 1, 2, 3]),
        torch.zeros(2, 2),
        torch.tensor([5, 8]),
        n_classes=10,
    )
    p = data.parity(ds)
    assert p.task == "binary" and p.d_out == 1
    assert p.y_train.flatten().tolist() == [0, 1, 0, 1] and p.y_test.flatten().tolist() == [1, 0]
    with pytest.raises(ValueError, match="classification"):
        data.parity(p)


def test_mixture_labels_are_seeded_binary_and_not_gaussian():
    from synthgrad import data

    a, b = data.mixture_labels(n=2000, seed=3), data.mixture_labels(n=2000, seed=3)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert a.x_train.shape == (2000, 2) and set(a.y_train.unique().tolist()) == {0.0, 1.0}
    x = a.x_train.double()
    skew = ((x - x.mean(0)) ** 3).mean(0) / x.std(0) ** 3
    assert (skew.abs() > 0.2).any()  # a Gaussian's skewness is 0


def test_mnist_full_scale_from_the_files_here():
    """The 60,000 training images: accepted on their uncompressed bytes where they were
    compressed otherwise."""
    official("train-images-idx3-ubyte.gz")
    d = idx.mnist("full", download=False)
    assert d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784)
    assert np.bincount(d.y_train.numpy()).min() > 5000  # every digit, about a tenth each


def test_mnist_validation_split_holds_out_training_images_and_never_the_test_set():
    """Learning rates are chosen on 10,000 of the training images (``full-validation``); the
    reported runs train on the same 50,000 and are scored on the official test set
    (``full-test``). The split is fixed: the same on every call."""
    official("train-images-idx3-ubyte.gz")
    full = idx.mnist("full", download=False)
    val, test = idx.mnist("full-validation", download=False), idx.mnist("full-test", download=False)
    assert val.x_train.shape == (50000, 784) and val.x_test.shape == (10000, 784)
    assert torch.equal(val.x_train, test.x_train) and torch.equal(val.y_train, test.y_train)
    assert torch.equal(test.x_test, full.x_test) and torch.equal(test.y_test, full.y_test)
    # the 50,000 and the 10,000 are the 60,000 training images (label counts, pixel sums)
    both = torch.cat([val.y_train, val.y_test])
    assert torch.equal(torch.bincount(both), torch.bincount(full.y_train))
    sums = torch.cat([val.x_train, val.x_test]).double().sum(1).sort().values
    torch.testing.assert_close(sums, full.x_train.double().sum(1).sort().values)
    assert torch.equal(idx.mnist("full-validation", download=False).y_test, val.y_test)
