"""Re-expressing the store's provenance after a change to the code its runs call that changes
no number: ``make paper-reexpress BEFORE=<commit>``.

A stored run is ``ok`` while the hash of the code its runner reaches
(:func:`synthgrad.provenance.source_hash`) is the one its manifest records. A change to that
code (a faster training loop, a moved helper) marks every run stale, although the runs it would
make are the same. Rather than train the store again, :func:`reexpress` shows that they are the
same and then writes the new hashes:

1. :func:`probe`, in a fresh process under the code of ``BEFORE`` (``git archive``) and under
   the code here, re-runs the first steps of one stored run per experiment and runner (rebuilt
   from its manifest entry), on one CPU thread, and computes every runner's source hash;
2. :func:`differences`: every metric the two codes record of those steps (each step's and each
   evaluation's, wall seconds aside) must be bit for bit the same, or nothing is written
   (:class:`Refused` names the runs and metrics that differ). A metric that is not the same
   twice under the same code (the code here is probed twice; chapter 3's float64 fixed points
   were not while LAPACK's ``gelsy`` found them: :func:`synthgrad.critical.find_zeros`) cannot
   be held to that: it must agree to :data:`NOISE` (relative), and the log names it;
3. :func:`rewrite`: each manifest entry that carries ``BEFORE``'s hash for its runner and step
   gets the new one. Entries that were stale already stay stale.

The check replays the eager step on the CPU: a change to :mod:`synthgrad.graphs` alone (the
CUDA-graph step) needs a GPU to check, and is not what this is for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .store import experiments_in, read_manifest, store_dir, write_manifest

SRC = Path(__file__).resolve().parents[1]  # the folder holding this package
STEPS = 20  # steps re-run per spot check
SHORT = {"copy": 5, "schedules": 5, "costs": 3, "lm": 20}  # runners of long steps (ch. 8, 7)
CLOCK = "seconds"  # metrics named so, or seconds_...: wall-clock times, never the same twice
NOISE = 1e-9  # relative: how far a metric not reproducible under one code may differ

# What a probe process runs, under whichever code is first on its path. It uses only what the
# store has always had (a manifest entry's "run" is the task; provenance.ROOTS, STEP_ROOTS), so
# that it runs under the older code too.
PROBE = """
import json, sys
import torch
torch.set_num_threads(1)
from synthgrad import provenance, store
from synthgrad.sweep import Task, run_task

def main():
    out, steps, short, names = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4:]
    hashes = {f"{r}/{s}": provenance.source_hash(r, s)
              for r in provenance.ROOTS for s in provenance.STEP_ROOTS}
    metrics = {}
    for name in names:
        runs, seen = store.read_manifest(name)["runs"], set()
        for label in sorted(runs):
            run = runs[label]["run"]
            runner = run.get("runner", "fit")
            if runner not in seen:
                seen.add(runner)
                h = run_task(Task(**run), steps=short.get(runner, steps))
                metrics[f"{name}/{label}"] = {
                    **{f"train/{k}": v.tolist() for k, v in h.train.items()},
                    **{f"eval/{k}": v.tolist() for k, v in h.evals.items()},
                    "eval_steps": h.eval_steps.tolist()}
    with open(out, "w") as f:
        json.dump({"hashes": hashes, "runs": metrics}, f)

if __name__ == "__main__":
    main()
"""


class Refused(RuntimeError):
    """The code before and the code now give different numbers: the store is not rewritten."""


def probe(src: Path, names: Sequence[str], root: Path, steps: int = STEPS) -> dict[str, Any]:
    """Under the package in ``src``, in a fresh process: every runner's source hash
    (``"hashes"``: ``"runner/step"`` -> hash) and what the first steps of one stored run per
    experiment of ``names`` and runner record (``"runs"``: ``"experiment/label"`` -> metric
    (``train/loss``, ``eval/test_acc``...) -> values)."""
    with tempfile.TemporaryDirectory() as tmp:
        script, out = Path(tmp) / "probe.py", Path(tmp) / "probe.json"
        script.write_text(PROBE)
        env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1",
               "SYNTHGRAD_STORE": str(root), "SYNTHGRAD_QUIET": "1"}  # fmt: skip
        args = [sys.executable, str(script), str(out), str(steps), json.dumps(SHORT), *names]
        # from the checkout's root: the package finds its data there (``data/``), as ``make`` does
        done = subprocess.run(args, env=env, cwd=SRC.parent, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the probe under {src} failed:\n{done.stderr[-3000:]}")
        return json.loads(out.read_text())


def source_at(commit: str, into: Path) -> Path:
    """The package as it was at ``commit`` (``git archive`` of ``src``), unpacked into ``into``;
    returns the folder to put on the path."""
    repo = SRC.parent
    with tempfile.TemporaryFile() as archive:
        done = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit, "src"],
                              stdout=archive, stderr=subprocess.PIPE)  # fmt: skip
        if done.returncode != 0:
            raise ValueError(f"no such commit in {repo}: {commit} ({done.stderr.decode().strip()})")
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(into, filter="data")
    return into / "src"


def differences(
    before: Mapping[str, Mapping[str, list]],
    now: Mapping[str, Mapping[str, list]],
    noisy: Sequence[str] = (),
) -> list[str]:
    """Each run and metric (run -> metric -> values) not bit for bit the same under both codes
    (NaN equal to NaN; wall-clock metrics, :data:`CLOCK`, aside), or that one side lacks, with
    its largest difference; those of ``noisy`` (``"run metric"``: not reproducible under one
    code) only where they differ by more than :data:`NOISE`, relative."""
    out = []
    for run in sorted(set(before) | set(now)):
        if run not in before or run not in now:
            out.append(f"{run}: re-run under one code only")
            continue
        for metric in sorted(set(before[run]) | set(now[run])):
            where = f"{run} {metric}"
            name = metric.split("/")[-1]
            if name == CLOCK or name.startswith(CLOCK + "_"):
                continue
            if metric not in before[run] or metric not in now[run]:
                out.append(f"{where}: recorded under one code only")
                continue
            a = np.asarray(before[run][metric], dtype=float)
            b = np.asarray(now[run][metric], dtype=float)
            if a.shape != b.shape:
                out.append(f"{where}: shapes {a.shape} and {b.shape}")
            elif where in noisy and np.allclose(a, b, rtol=NOISE, atol=0, equal_nan=True):
                continue
            elif not np.array_equal(a, b, equal_nan=True):
                out.append(f"{where}: largest difference {np.nanmax(np.abs(a - b)):.3g}")
    return out


def rewrite(root: Path, before: Mapping[str, str], now: Mapping[str, str]) -> dict[str, int]:
    """Give each manifest entry that carries ``before``'s hash for its runner and step
    (``"runner/step"`` -> hash) ``now``'s; returns, per experiment, how many were rewritten."""
    counts = {}
    for name in experiments_in(root):
        manifest, n = read_manifest(name, root), 0
        for entry in manifest["runs"].values():
            key = f"{entry['run'].get('runner', 'fit')}/{entry['provenance'].get('step', 'eager')}"
            old, new = before.get(key), now.get(key)
            if old and new and old != new and entry["provenance"]["source_hash"] == old:
                entry["provenance"]["source_hash"] = new
                n += 1
        if n:
            write_manifest(name, manifest, root)
        counts[name] = n
    return counts


def reexpress(
    before: str, root: Path | None = None, steps: int = STEPS, log: Callable[[str], None] = print
) -> dict[str, int]:
    """Check that the code at commit ``before`` and the code here give the stored runs the
    same first ``steps`` steps, then re-express the store's source hashes from ``before``'s to
    this code's (see the module's docstring). Raises :class:`Refused` if any differ."""
    root = root or store_dir()
    names = experiments_in(root)
    with tempfile.TemporaryDirectory() as tmp:
        log(f"re-running one run per experiment under {before} ...")
        old = probe(source_at(before, Path(tmp)), names, root, steps)
    log("... and twice under the code here")
    new = probe(SRC, names, root, steps)
    again = probe(SRC, names, root, steps)["runs"]
    noisy = [d.rsplit(": ", 1)[0] for d in differences(new["runs"], again)]  # (labels hold ": ")
    for where in noisy:
        log(f"  {where}: not the same twice under this code; compared to {NOISE:g} (relative)")
    wrong = differences(old["runs"], new["runs"], noisy)
    if wrong:
        raise Refused(f"the code at {before} and the code here differ on: " + "; ".join(wrong))
    n = sum(len(m) for m in new["runs"].values())
    log(f"{len(new['runs'])} runs, {n} metrics: the same under both codes, bit for bit"
        + (f" ({len(noisy)} named above: to {NOISE:g})" if noisy else ""))  # fmt: skip
    for key in sorted(new["hashes"]):
        if old["hashes"].get(key) != new["hashes"][key]:
            log(f"  {key}: {old['hashes'].get(key)} -> {new['hashes'][key]}")
    counts = rewrite(root, old["hashes"], new["hashes"])
    log(f"re-expressed {sum(counts.values())} manifest entries")
    return counts
