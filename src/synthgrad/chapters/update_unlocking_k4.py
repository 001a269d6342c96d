"""Chapter 7's cost model checked at K = 4 in the results store (issue 25): on a machine with
at least four cores, the cost model's inputs timed (``runner="costs"``,
:func:`synthgrad.decoupled.fit_costs`) and GPipe and asynchronous DNI run at K = 2 and K = 4
(``runner="schedules"``), all in one ``make paper`` call on that machine, one run at a time
with nothing else on it, so that the prediction and the runs it is checked against share a
machine. The book's own run checks K = 4 only where its machine has the cores
(:func:`.update_unlocking.cost_model`); CI machines have two. The plan (:func:`plan_text`) is
``store/07_k4/PLAN.md``, committed before any run (:func:`synthgrad.store.registration`), and
``make paper`` refuses the experiment on a machine with fewer cores (``Experiment.cores``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import decoupled, store
from ..sweep import Task
from . import update_unlocking_claims as C
from . import update_unlocking_store as timed

NAME = "07_k4"
PLAN_FILE = f"{NAME}/PLAN.md"  # under the store's root
CORES = 4  # the fewest cores the experiment is made on: one per stage at K = 4
KS = (2, 4)
SCHEDULES = {"GPipe": "gpipe", C.DNI: "dni"}  # name on the page -> schedule
SEEDS = (0, 1, 2)
STEPS = 300  # per run; evaluated at the first and last step only: throughput, not accuracy
MICROBATCHES = timed.MICROBATCHES  # GPipe's, at both K (at least K)
REPS = 20  # timings per median in the cost model's inputs
COSTS = "costs"  # the label of the cost model's inputs


def label(name: str, K: int) -> str:
    return f"{name}, K = {K}"


def plan_text() -> str:
    """The registered plan: ``store/07_k4/PLAN.md`` must hold exactly this."""
    names = " and ".join(SCHEDULES)
    return (
        "# Registered plan: chapter 7's cost model checked at K = 4\n\n"
        "- **Question**: does the cost model (`synthgrad.decoupled.predict`), fed with per-layer "
        "timings measured on a machine, predict the throughput of GPipe and asynchronous DNI "
        "there at K = 4 stages as well as at K = 2? The book's machines have two cores, so its "
        "K = 4 predictions are extrapolations; this checks one.\n"
        f"- **Network and training**: the chapter's: {timed.DEPTH} hidden layers of "
        f"{timed.WIDTH} ReLU units, batches of {timed.BATCH}, Adam {timed.LR:g}, "
        f"{MICROBATCHES} microbatches for GPipe, DNI at most {timed.MAX_LAG} steps ahead of "
        "its oldest SG target; full MNIST (50,000 training images).\n"
        f"- **Runs**, in this order, on one machine with at least {CORES} cores, one at a time "
        f"with nothing else on it: the cost model's inputs (`{COSTS}`: every layer's, SG's and "
        f"optimiser step's time on one thread, the median of {REPS} timings each, and the "
        f"one-way time of a message between two processes); then {names} at K = "
        f"{', then '.join(map(str, KS))}, seeds {', '.join(map(str, SEEDS))}, {STEPS} steps "
        "each, evaluated only at the first and the last step.\n"
        f"- **Measured**: examples per second of each run ({STEPS} steps of {timed.BATCH} "
        "examples over the wall-clock seconds until every stage finished the last step); "
        "**predicted**: `predict` from the `costs` run at the same K. Reported per schedule "
        "and K: the median seed's measurement, the lowest and highest seed's, the prediction "
        "and measured / predicted. No verdict: the ratio at K = 4 beside the ratio at K = 2 "
        "says how far the model's error grows with K.\n"
        f"- **Refused** on a machine with fewer than {CORES} cores (`make paper` says so and "
        "makes none of it).\n"
    )


def _task(fit: dict[str, Any], runner: str) -> Task:
    return Task("mnist", fit, {"scale": "full-test"}, runner=runner)


def _experiment() -> store.Experiment:
    """The timed grid's network and optimiser (:func:`.update_unlocking_store.fit_settings`) at
    K = 2 and 4, evaluated only at the first and last step; the costs timed on one seed."""
    runs = {COSTS: _task(timed.fit_settings({"schedule": "dni"}, (0,), REPS), "costs")}
    for K in KS:
        for name, schedule in SCHEDULES.items():
            fit = timed.fit_settings({"schedule": schedule}, SEEDS, STEPS) | {
                "K": K,
                "eval_every": STEPS,
            }
            runs[label(name, K)] = _task(fit, "schedules")
    return store.Experiment(
        NAME, timed.CHAPTER,
        f"The cost model's inputs and GPipe and DNI at K = {' and '.join(map(str, KS))}, on one "
        f"machine with at least {CORES} cores: the model's prediction checked at K = 4.",
        f"{STEPS} steps of {timed.BATCH} per run, seeds {SEEDS[0]}-{SEEDS[-1]} (store/{PLAN_FILE})",
        runs, f"full MNIST, {timed.DEPTH} x {timed.WIDTH}, K = 2 and 4, {len(SEEDS)} seeds",
        plan=PLAN_FILE, plan_text=plan_text(), cores=CORES,
    )  # fmt: skip


EXPERIMENT = _experiment()


@dataclass
class Check:
    """Per (schedule, K): each seed's measured examples per second, and the prediction from
    the stored costs; with the machine both were made on."""

    measured: dict[tuple[str, int], np.ndarray]
    predicted: dict[tuple[str, int], float]
    device: str


def check(costs: decoupled.Costs, runs: dict[str, Any], device: str = "") -> Check:
    """The check from the stored costs and runs (``runs``: label -> History)."""
    measured, predicted = {}, {}
    for K in KS:
        for name, schedule in SCHEDULES.items():
            history = runs[label(name, K)]
            seconds = np.asarray(history.evals["seconds"][-1], dtype=float)
            measured[name, K] = STEPS * costs.batch / seconds
            predicted[name, K] = decoupled.predict(costs, K, schedule, MICROBATCHES)
    return Check(measured, predicted, device)


def read(root: Path | None = None) -> Check | None:
    """The check once every run is made and current (else None)."""
    stored = store.load(EXPERIMENT, root)
    if any(stored.status.get(label) != "ok" for label in EXPERIMENT.runs):
        return None
    devices = {p["device"] for p in stored.provenance.values()}
    if len(devices) != 1:
        raise ValueError(f"{NAME}: its runs were made on {sorted(devices)}, not on one machine")
    return check(decoupled.stored_costs(stored.runs[COSTS]), stored.runs, devices.pop())


def table(c: Check) -> pd.DataFrame:
    """Per schedule and K: measured examples per second (median, lowest and highest seed),
    the prediction, and the median measured / predicted."""
    rows = {
        label(name, K): {
            "measured (median seed)": float(np.median(v)),
            "lowest seed": float(np.min(v)),
            "highest seed": float(np.max(v)),
            "predicted": c.predicted[name, K],
            "measured / predicted": float(np.median(v)) / c.predicted[name, K],
        }
        for (name, K), v in c.measured.items()
    }
    return pd.DataFrame(rows).T


def page_text(c: Check | None, root: Path | None = None) -> str:
    """The plan and how much of it is made, and where the check ``c`` (:func:`read`) was made."""
    done = "" if c is None else f" Made on {c.device}."
    return store.plan_page(EXPERIMENT, root) + done
