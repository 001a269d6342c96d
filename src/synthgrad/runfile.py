"""One stored run's file: a run as gzip-compressed CSV of its tidy frame (:func:`encode`), and
back as a :class:`~synthgrad.train.History` (:func:`decode`) through a cache of decoded runs
outside the repository (:func:`cache_dir`), keyed by the file's content: parsing a large run's
CSV is most of a chapter's time on a complete store. :mod:`synthgrad.store` keeps the manifests
and decides which runs are drawn."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .train import History

CACHE_ENV = "SYNTHGRAD_CACHE"


def _write_atomic(path: Path, payload: bytes) -> None:
    """``payload`` to ``path`` through a temporary file of this writer's own in the same
    folder: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


THIN_ABOVE = 10_000  # longer runs keep their per-step metrics for the first 100 steps, then 1 in 20


def encode(history: History) -> bytes:
    """A run as gzip-compressed CSV of its tidy frame (deterministic bytes: no timestamp).
    A run longer than :data:`THIN_ABOVE` steps keeps every evaluation but its per-step training
    metrics only for the first 100 steps and every 20th step after (a few MB in all)."""
    frame = history.frame()
    if len(history.steps) > THIN_ABOVE:
        step = frame["step"]
        frame = frame[(step <= 100) | (step % 20 == 0) | step.isin(history.eval_steps)]
    text = frame.to_csv(index=False, float_format="%.7g")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as f:
        f.write(text.encode())
    return buffer.getvalue()


def cache_dir() -> Path | None:
    """Where decoded runs are kept between builds: ``$SYNTHGRAD_CACHE`` (empty: no cache), or
    ``~/.cache/synthgrad/runs``. Parsing a large run's CSV is most of a chapter's time on a
    complete store; its arrays, keyed by the file's SHA-256, load in milliseconds."""
    where = os.environ.get(CACHE_ENV)
    if where == "":
        return None
    if where:
        return Path(where)
    try:
        return Path.home() / ".cache" / "synthgrad" / "runs"
    except RuntimeError:  # no home folder (a container's arbitrary user): no cache
        return None


DECODE_VERSION = 1  # a change to how a run's file is decoded: raise it, and old cache files go


def _cache_key(payload: bytes, entry: dict[str, Any]) -> str:
    """What a decoded run depends on: its file, the metric lists its manifest entry names, and
    the decoder's version."""
    parts = [hashlib.sha256(payload).hexdigest(), entry["train_metrics"], entry["eval_metrics"],
             DECODE_VERSION]  # fmt: skip
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def decode(payload: bytes, entry: dict[str, Any]) -> History:
    """A stored run back as a :class:`~synthgrad.train.History`, from the cache of decoded runs
    where it is there (:func:`cache_dir`; a file that cannot be read is decoded afresh)."""
    where = cache_dir()
    cached = where / f"{_cache_key(payload, entry)}.npz" if where else None
    arrays = None
    if cached is not None and cached.exists():
        names = ["seeds", "steps", "eval_steps", *(f"train/{c}" for c in entry["train_metrics"]),
                 *(f"eval/{c}" for c in entry["eval_metrics"])]  # fmt: skip
        try:
            with np.load(cached) as f:
                arrays = {k: f[k] for k in names}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            arrays = None  # a damaged or foreign cache file: decode the run again
    if arrays is None:
        arrays = _decode_arrays(payload, entry)
        if cached is not None:
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                buffer = io.BytesIO()
                np.savez(buffer, **arrays)
                _write_atomic(cached, buffer.getvalue())
            except OSError:
                pass  # a read-only home: the cache is an optimisation, never a requirement
    return History(
        seeds=arrays["seeds"].tolist(),
        steps=arrays["steps"],
        train={c: arrays[f"train/{c}"] for c in entry["train_metrics"]},
        eval_steps=arrays["eval_steps"],
        evals={c: arrays[f"eval/{c}"] for c in entry["eval_metrics"]},
        diverged_at=np.asarray(entry["diverged_at"]),
        settings={"stored": entry["run"]},
    )


def _decode_arrays(payload: bytes, entry: dict[str, Any]) -> dict[str, np.ndarray]:
    """A run's file parsed into the arrays of its history (steps x seeds per metric)."""
    df = pd.read_csv(io.BytesIO(gzip.decompress(payload)))
    seeds = sorted(df["seed"].unique().tolist())

    def table(columns: list[str], steps: np.ndarray) -> dict[str, np.ndarray]:
        rows = df[df["step"].isin(steps)].set_index(["step", "seed"]).sort_index()
        return {c: rows[c].to_numpy().reshape(len(steps), len(seeds)) for c in columns}

    train_steps = np.sort(df.loc[df[entry["train_metrics"][0]].notna(), "step"].unique())
    eval_steps = np.sort(df.loc[df[entry["eval_metrics"][0]].notna(), "step"].unique())
    train = table(entry["train_metrics"], train_steps)
    evals = table(entry["eval_metrics"], eval_steps)
    return {"seeds": np.asarray(seeds), "steps": train_steps, "eval_steps": eval_steps,
            **{f"train/{c}": v for c, v in train.items()},
            **{f"eval/{c}": v for c, v in evals.items()}}  # fmt: skip
