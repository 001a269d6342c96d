"""The paper-scale results store: runs too long for the book's build, made once by ``make paper``
(on a GPU where there is one), kept in the repository as compact files with their provenance,
and drawn by the chapters beside their own book-scale runs.

Layout: ``store/<experiment>/manifest.json`` and one ``<label>.csv.gz`` per run (the run's
:meth:`~synthgrad.train.History.frame`, written and read by :mod:`synthgrad.runfile`). The manifest records, per run, what it ran (the
runner and its arguments), the SHA-256 of its data file, and its provenance: commit, a hash of
the ``synthgrad`` modules that decide a run's numbers (:data:`SOURCE_FILES`), device, torch
version, wall seconds and date. A run is

- ``ok``: its file is there and matches its hash, made by the current source;
- ``stale``: made by other source (drawn, with a visible note; ``make paper`` reruns it);
- ``corrupt``: a file that is missing, half written or altered (never drawn; rerun);
- ``missing``: not made yet.

Each chapter that needs one declares its grid (an :class:`Experiment`) in its own module;
the functions here take experiments as arguments, and ``make paper``
(:mod:`synthgrad.paper`) collects them from the chapters; :mod:`synthgrad.making` makes the runs. Each run is written as soon as it
finishes, so ``make paper`` resumes where it stopped.
"""

from __future__ import annotations

import datetime
import functools
import gzip
import hashlib
import io
import json
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .provenance import files_held, source_hash
from .registration import NotRegistered, check, registered_under  # noqa: F401 (making.make raises it)
from .runfile import CACHE_ENV as CACHE_ENV  # the cache of decoded runs: runfile.py
from .runfile import _write_atomic, decode, encode
from .sweep import Task
from .train import History

PACKAGE = Path(__file__).resolve().parent
STORE_ENV = "SYNTHGRAD_STORE"


def store_dir() -> Path:
    """``$SYNTHGRAD_STORE``, or ``store/`` at the root of the checkout the package lives in."""
    return Path(os.environ.get(STORE_ENV, PACKAGE.parents[1] / "store"))


def commit() -> str:
    """The checkout's commit (with ``+dirty`` for uncommitted changes to ``src``), or
    ``$SYNTHGRAD_COMMIT`` where there is no git checkout (a copy of the tree on a GPU machine),
    or ``unknown``."""
    if os.environ.get("SYNTHGRAD_COMMIT"):
        return os.environ["SYNTHGRAD_COMMIT"]
    root = PACKAGE.parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


@dataclass(frozen=True)
class Experiment:
    """A chapter's paper-scale grid: ``runs`` by label, why its budget is what it is, and its
    scale in a few words (for the claims table). ``pending``: labels that cannot be made yet
    (their settings wait on other runs). A registered experiment names its ``plan`` file
    (under the store's root) and the ``plan_text`` it must hold, committed, before any run
    (:func:`registration`). ``cores``: the fewest CPU cores a machine must have to make its
    runs (timed runs whose processes each need a core of their own)."""

    name: str
    chapter: str
    description: str
    budget: str
    runs: dict[str, Task]
    scale: str = ""
    pending: tuple[str, ...] = ()
    plan: str = ""
    plan_text: str = ""
    cores: int = 1


def registration(experiment: Experiment, root: Path | None = None) -> str:
    """The commit that registered ``experiment``'s plan, checked before a run is made
    (:func:`synthgrad.registration.check`, against this checkout's ``commit()``)."""
    root = root or store_dir()
    return check(experiment.name, root / experiment.plan, experiment.plan_text, commit())


def mnist_task(rule: str, conditioned: bool, depth: int, **settings: Any) -> Task:
    """A run on the book's MNIST (8,000 / 2,000 images): 3 seeds, ``depth`` hidden layers of
    256 units with batch norm, and the given training settings (the grids of chapters 1 and 5)."""
    fit_kwargs = dict(seeds=[0, 1, 2], rule=rule, conditioned=conditioned, hidden=[256] * depth)
    return Task("mnist", {**fit_kwargs, "batch_norm": True, **settings}, {"scale": "small"})


# ---- writing -------------------------------------------------------------------------------


def _manifest_path(name: str, root: Path) -> Path:
    return root / name / "manifest.json"


def read_manifest(name: str, root: Path | None = None) -> dict[str, Any]:
    """The experiment's manifest (an empty one if there is none)."""
    path = _manifest_path(name, root or store_dir())
    if not path.exists():
        return {"experiment": name, "runs": {}}
    return json.loads(path.read_text())


def _file_name(label: str) -> str:
    return label.replace("/", "__").replace(" ", "_").replace(",", "").replace(":", "") + ".csv.gz"


def save(experiment: Experiment, label: str, history: History, device: str,
         root: Path | None = None, registered: str | None = None) -> None:  # fmt: skip
    """Write one finished run and its manifest entry (the data file first, atomically); its
    wall seconds are the run's own record (``history.settings["seconds"]``); ``registered``:
    the commit of a registered experiment's plan (:func:`registration`)."""
    root = root or store_dir()
    payload = encode(history)
    step = history.settings.get("step", "eager")
    name = _file_name(label)
    _write_atomic(root / experiment.name / name, payload)
    manifest = read_manifest(experiment.name, root)
    manifest.update(experiment=experiment.name, chapter=experiment.chapter,
                    description=experiment.description, budget=experiment.budget)  # fmt: skip
    manifest["runs"][label] = {
        "file": name,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "run": experiment.runs[label].describe(),
        "train_metrics": sorted(history.train),
        "eval_metrics": sorted(history.evals),
        "diverged_at": history.diverged_at.tolist(),
        "provenance": {
            "commit": commit(),
            "source_hash": source_hash(experiment.runs[label].runner, step),
            "step": step,
            "device": device,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "seconds": round(history.settings["seconds"], 1),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
    }
    if registered is not None:
        manifest["runs"][label]["provenance"]["registered"] = registered
    write_manifest(experiment.name, manifest, root)


def experiments_in(root: Path | None = None) -> list[str]:
    """The experiments the store at ``root`` holds: its folders with a manifest."""
    return sorted(p.parent.name for p in (root or store_dir()).glob("*/manifest.json"))


def write_manifest(name: str, manifest: dict[str, Any], root: Path | None = None) -> None:
    """Write the experiment's manifest (atomically)."""
    _write_atomic(
        _manifest_path(name, root or store_dir()), json.dumps(manifest, indent=1).encode()
    )


# ---- reading ---------------------------------------------------------------------------------


def run_status(experiment: Experiment, label: str, root: Path | None = None, manifest=None) -> str:
    """``ok``, ``stale``, ``corrupt``, ``missing`` (see the module's docstring) or, for a
    registered experiment, ``unregistered``: made without naming a registration of the plan as
    it stands (never drawn; ``make paper`` makes it again)."""
    root = root or store_dir()
    name = experiment.name
    manifest = manifest or read_manifest(name, root)
    entry = manifest["runs"].get(label)
    if entry is None:
        return "missing"
    path = root / name / entry["file"]
    if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
        return "corrupt"
    runner = entry["run"].get("runner", "fit")
    if label in experiment.runs:
        if experiment.runs[label].describe() != entry["run"]:
            return "stale"  # the grid changed what this label means
    step = entry["provenance"].get("step", "eager")
    if entry["provenance"]["source_hash"] != source_hash(runner, step):
        return "stale"
    if experiment.plan and not registered_under(
        root / experiment.plan, experiment.plan_text, entry["provenance"].get("registered")
    ):
        return "unregistered"
    return "ok"


def statuses(
    experiment: Experiment, root: Path | None = None, manifest: dict[str, Any] | None = None
) -> dict[str, str]:
    """Every run's :func:`run_status`, the manifest read once (no run is decoded)."""
    manifest = manifest or read_manifest(experiment.name, root or store_dir())
    with files_held():
        return {label: run_status(experiment, label, root, manifest) for label in experiment.runs}


def made(experiment: Experiment, root: Path | None = None) -> int:
    """How many of the experiment's runs are made and current."""
    return list(statuses(experiment, root).values()).count("ok")


PLAN_TITLE = "# Registered plan: "  # how every plan file begins


def plan_heading(experiment: Experiment) -> str:
    """A registered experiment's plan as its chapter's page shows it: the title a bold lead-in
    that names the plan file (a page's headings are its own sections), then the plan."""
    title, _, points = experiment.plan_text.partition("\n\n")
    name = title.removeprefix(PLAN_TITLE)
    return f"**Registered plan** ({name}, `store/{experiment.plan}`):\n\n{points}"


def plan_page(experiment: Experiment, root: Path | None = None) -> str:
    """A registered experiment's plan and how much of it is made, for its chapter's page."""
    return (f"{plan_heading(experiment)}\n**Made so far**: {made(experiment, root)} of "
            f"{len(experiment.runs)} runs (`make paper EXPERIMENT={experiment.name}` makes the "
            "rest, resumably).")  # fmt: skip


@dataclass
class Stored:
    """What a chapter draws: the runs that are there (``ok`` or ``stale``) as histories, every
    run's status, and the provenance of each drawn run."""

    experiment: Experiment
    runs: dict[str, History]
    status: dict[str, str]
    provenance: dict[str, dict[str, Any]]

    def by_part(self) -> dict[tuple[str, ...], History]:
        """The drawn runs keyed by the parts of their labels (``"relu/50/backprop"`` ->
        ``("relu", "50", "backprop")``)."""
        return {tuple(label.split("/")): h for label, h in self.runs.items()}

    def scale(self) -> str:
        """Where a verdict drawn from this store comes from, for the claims table."""
        if not self.runs:
            return ""
        devices = ", ".join(sorted({p["device"] for p in self.provenance.values()}))
        commits = ", ".join(sorted({p["commit"][:12] for p in self.provenance.values()}))
        stale = " (stale)" if self.stale else ""
        return f"results store{stale}: {self.experiment.scale}; {devices}, commit {commits}"

    @property
    def stale(self) -> list[str]:
        return [k for k, s in self.status.items() if s == "stale"]

    @property
    def complete(self) -> bool:
        return all(s in ("ok", "stale") for s in self.status.values())

    def note(self) -> str:
        """One paragraph for the page: where the store came from, and whether it is stale or
        partial; how to make one where there is none."""
        e = self.experiment
        if not self.runs:
            return (f"*No results store for this chapter here.* `make paper EXPERIMENT={e.name}` "
                    f"makes it ({len(e.runs)} runs; a GPU makes it a matter of minutes).")  # fmt: skip
        made = []  # per device: how many runs, torch, commits, dates, minutes
        for device in sorted({p["device"] for p in self.provenance.values()}):
            ps = [p for p in self.provenance.values() if p["device"] == device]
            torches = ", ".join(sorted({p["torch"] for p in ps}))
            if any(p.get("step") == "CUDA graph" for p in ps):
                torches += ", steps replayed from a CUDA graph"
            commits = ", ".join(sorted({p["commit"][:12] for p in ps}))
            dates = sorted({p["date"][:10] for p in ps})
            when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
            minutes = sum(p["seconds"] for p in ps) / 60
            made.append(f"{len(ps)} on {device} (torch {torches}, commit {commits}, {when}, "
                        f"{minutes:.1f} minutes)")  # fmt: skip
        text = (f"**From the results store** (`store/{e.name}`): {len(self.runs)} of "
                f"{len(e.runs)} runs, made {'; '.join(made)}. {e.description} "
                f"Budget: {e.budget}")  # fmt: skip
        if self.stale:
            text += (f" **Stale:** {len(self.stale)} of these runs were made by older code than "
                     f"this page's (`make paper` reruns them).")  # fmt: skip
        missing = [k for k, s in self.status.items() if s in ("missing", "corrupt")]
        if missing:
            shown = "; ".join(missing[:6]) + (
                f"; and {len(missing) - 6} more" if len(missing) > 6 else ""
            )
            text += f" Not in the store (missing or corrupt, not drawn): {shown}."
        return text


def end_values(
    experiment: Experiment, metric: str = "test_acc", last: int = 5, root: Path | None = None
) -> dict[str, np.ndarray]:
    """Per run of ``experiment`` that is ``ok``: each seed's mean of the last ``last``
    evaluations of ``metric`` (NaN for a diverged seed), read from that column of its file
    alone: what choosing among runs needs, without decoding them."""
    root = root or store_dir()
    manifest = read_manifest(experiment.name, root)
    out = {}
    status = statuses(experiment, root, manifest)
    for label in experiment.runs:
        if status[label] == "ok":
            entry = manifest["runs"][label]
            value = _end_value(root / experiment.name / entry["file"], entry["sha256"],
                               metric, last)  # fmt: skip
            # a diverged seed's evaluations are NaN, and where every seed's are, the file
            # cannot tell them from steps without one: the manifest says which seeds diverged
            out[label] = np.where(np.asarray(entry["diverged_at"]) >= 0, np.nan, value)
    return out


@functools.lru_cache(maxsize=1024)
def _end_value(path: Path, sha256: str, metric: str, last: int) -> np.ndarray:
    df = pd.read_csv(io.BytesIO(gzip.decompress(path.read_bytes())),
                     usecols=["step", "seed", metric]).dropna(subset=[metric])  # fmt: skip
    values = df.pivot(index="step", columns="seed", values=metric).sort_index()
    return values.to_numpy()[-last:].mean(0)


def load(experiment: Experiment, root: Path | None = None) -> Stored:
    """The experiment's stored runs that can be drawn, with their status and provenance."""
    root = root or store_dir()
    name = experiment.name
    manifest = read_manifest(name, root)
    status = statuses(experiment, root, manifest)
    runs, provenance = {}, {}
    for label in experiment.runs:
        if status[label] in ("ok", "stale"):
            entry = manifest["runs"][label]
            runs[label] = decode((root / name / entry["file"]).read_bytes(), entry)
            provenance[label] = entry["provenance"]
    return Stored(experiment, runs, status, provenance)
