"""Making the results store's runs: what ``make paper`` does (:mod:`synthgrad.paper` is its
command line). :func:`todo` lists what is missing, corrupt or stale, :func:`make` runs it and
saves each run as soon as it finishes (:func:`synthgrad.store.save`), :func:`spot_check`
re-runs the first steps of a stored run to check it against the file. The store's format, its
provenance and the status of each run are in :mod:`synthgrad.store`."""

from __future__ import annotations

import fnmatch
import os
import platform
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
import torch

from .store import Experiment, load, registration, run_status, save, statuses, store_dir
from .sweep import Task, run_each, run_task


def spot_check(
    experiment: Experiment,
    label: str,
    steps: int = 20,
    root: Path | None = None,
    device: str | None = None,
    graph: bool = False,
) -> float:
    """Re-run the first ``steps`` steps of a stored run here (on the CPU, or on ``device``,
    replayed from a CUDA graph if ``graph``) and return the largest relative difference of the
    per-step training loss from the stored one. A run made on another device differs by float
    rounding only (about 1e-5 after a few steps); an altered store by much more. Raises if the
    run is not in the store or is corrupt."""
    root = root or store_dir()
    status = run_status(experiment, label, root)
    if status not in ("ok", "stale"):
        raise ValueError(f"{experiment.name} / {label} is {status}: nothing to check")
    stored = load(experiment, root).runs[label]
    fresh = run_task(experiment.runs[label], device=device, steps=steps, graph=graph)
    a, b = stored.train["loss"][:steps], fresh.train["loss"][:steps]
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def todo(experiment: Experiment, root: Path | None = None, match: Sequence[str] = ()) -> list[str]:
    """The labels ``make paper`` would run: missing, corrupt or stale (and, if ``match`` is
    given, matching one of its shell patterns, e.g. ``tanh/3/*``)."""
    return [label for label, status in statuses(experiment, root).items() if status != "ok"
            and (not match or any(fnmatch.fnmatchcase(label, m) for m in match))]  # fmt: skip


CPU_RUNNERS = ("copy", "lm")  # runners that train on the CPU whatever the device (ch. 8's LSTMs)
# runners whose numbers are wall-clock times (chapter 7's stages, each in processes of its own):
# made here, one at a time, before any other run of the call, so that nothing shares the cores
EXCLUSIVE_RUNNERS = ("schedules", "costs")


def graphable(task: Task, device: str) -> bool:
    """Whether ``task`` can replay its steps from a CUDA graph on ``device``: a run of the fit
    runner on a CUDA device that does not record each layer's alignment with the true gradient
    (``align_examples``: computed by the eager rule, which :func:`synthgrad.train.fit_net`
    refuses to mix with a graphed one). The others train eagerly there."""
    return device.startswith("cuda") and task.runner == "fit" and not task.fit.get("align_examples")


def make(
    experiments: Iterable[Experiment],
    device: str = "cpu",
    executor: Executor | None = None,
    root: Path | None = None,
    log: Callable[[str], None] = print,
    graph: bool = True,
    match: Sequence[str] = (),
    workers: int | None = None,
) -> list[str]:
    """Run what is missing, corrupt or stale, saving each run as soon as it finishes; returns
    the labels made (``experiment/label``; none where nothing could be made here). On a GPU
    (``device="cuda"``) the runs go one after another on it, each step replayed from a CUDA
    graph unless ``graph=False`` or :func:`graphable` says it cannot be (those run eagerly);
    on the CPU they go to ``executor`` (default: one local process per core, one torch thread
    each; ``workers`` of them), as do the runs of a CPU runner (:data:`CPU_RUNNERS`) on any
    device; timed runs (:data:`EXCLUSIVE_RUNNERS`) go first, one at a time in this process,
    on the CPU. ``match``: only the labels matching one of these patterns. An experiment that
    needs more cores than this machine has (``Experiment.cores``) is not made here: said, and
    skipped."""
    root = root or store_dir()
    made: list[str] = []
    for experiment in experiments:
        name = experiment.name
        labels = todo(experiment, root, match)
        if labels and (os.cpu_count() or 1) < experiment.cores:
            log(f"{name}: {len(labels)} runs to make, not here: they need a machine with at least "
                f"{experiment.cores} cores, and this one has {os.cpu_count()}")  # fmt: skip
            continue
        registered = registration(experiment, root) if experiment.plan and labels else None
        log(f"{name}: {len(labels)} of {len(experiment.runs)} runs to make"
            + (f" ({len(experiment.pending)} pending)" if experiment.pending else ""))  # fmt: skip
        alone = [label for label in labels if experiment.runs[label].runner in EXCLUSIVE_RUNNERS]
        for label in alone:  # in this process, before any pool starts: nothing else runs
            history = run_task(experiment.runs[label])
            save(experiment, label, history, cpu_name(), root, registered)
            made.append(f"{name}/{label}")
            log(f"  {label}: {history.settings['seconds']:.0f} s (alone)")
        labels = [label for label in labels if label not in alone]
        on_device = [] if device == "cpu" else [
            label for label in labels if experiment.runs[label].runner not in CPU_RUNNERS
        ]  # fmt: skip
        for label in on_device:
            run = experiment.runs[label]
            graphed = graph and graphable(run, device)
            try:
                history = run_task(run, device=device, graph=graphed, progress=None)
            except RuntimeError as error:  # (not a diverged run: those are marked)
                if not graphed:
                    raise
                log(f"  {label}: the CUDA graph failed ({error}); trained eagerly instead")
                history = run_task(run, device=device, progress=None)
            save(experiment, label, history, _device_name(device), root, registered)
            made.append(f"{name}/{label}")
            seconds = history.settings["seconds"]
            log(f"  {label}: {seconds:.0f} s ({history.settings.get('step', 'eager')})")
        on_cpu = [label for label in labels if label not in on_device]
        tasks = [experiment.runs[label] for label in on_cpu]
        for i, history in run_each(tasks, executor, workers):
            save(experiment, on_cpu[i], history, cpu_name(), root, registered)
            made.append(f"{name}/{on_cpu[i]}")
            log(f"  {on_cpu[i]}: {history.settings['seconds']:.0f} s")
    return made


def cpu_name() -> str:
    """The CPU a run was made on, for its provenance: the processor's model and cores. Two
    machines with the same cores can differ twofold in speed (chapter 7's timed grids: a
    backprop step took 18.7 ms on one 2-core machine and 8.6 ms on another), so the model is
    part of it; runs made before 2026-12-02 name only the architecture."""
    return f"CPU ({cpu_model()}, {os.cpu_count()} cores)"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The processor's model name (Linux's ``/proc/cpuinfo``), else what ``platform`` says
    (the architecture, on most systems)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name(device) if device.startswith("cuda") else cpu_name()
