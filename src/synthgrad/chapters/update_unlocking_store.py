"""Chapter 7's timed grid in the results store, registered before any run: C7.1-C7.3 judged on
time to a held-out accuracy on full MNIST at five seeds, where the book's run has two seeds on
its small MNIST and sub-minute budgets (BOOK.md section 6: fewer than 5 seeds is inconclusive
by rule).

Two experiments, both timed (``runner="schedules"``: :func:`synthgrad.decoupled.fit_schedule`,
made one at a time with nothing else on the machine). First a **pilot** (:data:`PILOT`):
backprop alone on one seed that is not reported, scored on the validation split; it fixes the
grid's step budget by the registered rule (:func:`budget`). Then the **grid** (:data:`NAME`):
every schedule of the chapter on seeds :data:`SEEDS`, scored on the official test images,
pending until the pilot is made. The plan (:func:`plan_text`) is ``store/07_timed/PLAN.md``,
committed before ``make paper`` makes either (:func:`synthgrad.store.registration`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .. import store
from ..sweep import Task
from . import update_unlocking as uu

PILOT, NAME = "07_timed_pilot", "07_timed"
PLAN_FILE = f"{NAME}/PLAN.md"  # under the store's root
CHAPTER = "07_update_unlocking"
K, WIDTH, DEPTH, BATCH, LR = 2, 512, 4, 256, 1e-3  # the chapter's network and optimiser
MICROBATCHES, MAX_LAG, TIMEOUT_S = 4, 2, 300.0
EVAL_EVERY = 20  # steps between two parameter copies for held-out evaluation (off the clock)
TARGETS = (0.95, 0.9)  # the target accuracy; the second only if the pilot never reaches the first
FACTOR = 3  # the budget: this many times the steps the pilot needed, rounded up to ROUND
ROUND = 100
PILOT_STEPS = 2000  # the pilot's cap
PILOT_SEED = 100
SEEDS = (0, 1, 2, 3, 4)
LAST = 5  # C7.3p: the mean of the last evaluations


def _fit(schedule: dict[str, Any], seeds: tuple[int, ...], steps: int) -> dict[str, Any]:
    return dict(seeds=list(seeds), hidden=[WIDTH] * DEPTH, K=K, steps=steps, batch_size=BATCH,
                lr=LR, microbatches=MICROBATCHES, max_lag=MAX_LAG, eval_every=EVAL_EVERY,
                timeout_s=TIMEOUT_S, **schedule)  # fmt: skip


def plan_text() -> str:
    """The registered plan: ``store/07_timed/PLAN.md`` must hold exactly this."""
    names = list(uu.schedules(K))
    first, second = TARGETS
    return (
        "# Registered plan: chapter 7's schedules timed to an accuracy\n\n"
        "- **Question**: C7.1-C7.3 at five seeds: does asynchronous DNI reach a held-out "
        f"accuracy sooner in wall-clock time than backprop on the same {K} cores (C7.1) and "
        "than the pipelines GPipe and 1F1B with the same stages (C7.2), and does it end within "
        "a point of synchronous DNI after the same steps (C7.3)? The book's run has two seeds "
        "on 8,000 images and budgets of seconds.\n"
        f"- **Network and training**: the chapter's: {DEPTH} hidden layers of {WIDTH} ReLU "
        f"units, K = {K} stages (processes) or {K} threads for backprop, batches of {BATCH}, "
        f"Adam {LR:g} for the network and the SGs, {MICROBATCHES} microbatches for the "
        f"pipelines, DNI at most {MAX_LAG} steps ahead of its oldest SG target; parameters "
        f"copied every {EVAL_EVERY} steps and evaluated off the clock.\n"
        f"- **Schedules**: {'; '.join(names)}.\n"
        "- **Data**: full MNIST, 50,000 training images; the pilot is scored on the other "
        "10,000 training images (`full-validation`), the grid on the 10,000 official test "
        "images (`full-test`).\n"
        f"- **Pilot (the budget, fixed by a rule on backprop alone)**: {names[0]} on seed "
        f"{PILOT_SEED} for at most {PILOT_STEPS:,} steps. The target accuracy is {first:.0%}; "
        f"the budget is {FACTOR} times the steps the pilot needed to first reach it (at an "
        f"evaluation), rounded up to a multiple of {ROUND}. If the pilot never reaches "
        f"{first:.0%}, the target is {second:.0%} by the same rule; if it reaches neither, the "
        f"budget is {PILOT_STEPS:,} steps at {second:.0%}.\n"
        f"- **Grid**: every schedule on seeds {', '.join(map(str, SEEDS))} (not the pilot's), "
        "each seed its own initialisation and minibatches, shared by the schedules; on the CPU "
        f"of this project ({K} cores), one run at a time with nothing else on the machine.\n"
        "- **Verdicts**: by chapter 7's rules on the five seeds (seed-paired 95% t-intervals; a "
        "run that never reaches the target is slower than any that does). C7.1p: backprop's "
        f"seconds to the target minus DNI's above 0 (backprop on {K} threads). C7.2p: the "
        "sooner pipeline's seconds minus DNI's above 0. C7.3p: asynchronous minus synchronous "
        f"DNI's held-out accuracy (the mean of the last {LAST} evaluations) above -1 "
        "percentage point.\n"
        "- **Order**: the pilot, then the schedules in the order above.\n"
    )


def pilot_experiment() -> store.Experiment:
    """The pilot: backprop on seed :data:`PILOT_SEED`, scored on the validation split."""
    backprop = next(iter(uu.schedules(K).values()))
    task = Task("mnist", _fit(backprop, (PILOT_SEED,), PILOT_STEPS), {"scale": "full-validation"},
                runner="schedules")  # fmt: skip
    return store.Experiment(
        PILOT, CHAPTER,
        f"The budget's pilot: backprop on {K} threads, {DEPTH} x {WIDTH}, seed {PILOT_SEED}, "
        "full MNIST scored on the validation split.",
        f"at most {PILOT_STEPS:,} steps of {BATCH}",
        {"backprop": task}, "full MNIST, pilot (validation split)",
        plan=PLAN_FILE, plan_text=plan_text(),
    )  # fmt: skip


def budget(steps_needed: dict[float, float]) -> tuple[float, int]:
    """The registered rule: ``(target, steps)`` from the steps the pilot first reached each of
    :data:`TARGETS` at (``inf``: never)."""
    for target in TARGETS:
        needed = steps_needed.get(target, math.inf)
        if math.isfinite(needed):
            return target, int(math.ceil(FACTOR * needed / ROUND) * ROUND)
    return TARGETS[-1], PILOT_STEPS


def pilot_budget(root: Path | None = None) -> tuple[float, int] | None:
    """The grid's target and budget from the pilot's run, or None while it is not made."""
    pilot = store.load(pilot_experiment(), root)
    history = pilot.runs.get("backprop")
    if history is None or pilot.status.get("backprop") != "ok":
        return None
    acc, steps = history.evals["test_acc"][:, 0], history.eval_steps
    needed = {t: float(steps[acc >= t][0]) if (acc >= t).any() else math.inf for t in TARGETS}
    return budget(needed)


def experiment(root: Path | None = None) -> store.Experiment:
    """The grid: every schedule on :data:`SEEDS` at the pilot's budget; pending until the
    pilot is made."""
    fixed = pilot_budget(root)
    names = list(uu.schedules(K))
    runs = {} if fixed is None else {
        name: Task("mnist", _fit(schedule, SEEDS, fixed[1]), {"scale": "full-test"},
                   runner="schedules")
        for name, schedule in uu.schedules(K).items()
    }  # fmt: skip
    return store.Experiment(
        NAME, CHAPTER,
        f"Every schedule of chapter 7 timed to a held-out accuracy: {DEPTH} x {WIDTH}, K = {K}, "
        f"full MNIST scored on the test images, seeds {SEEDS[0]}-{SEEDS[-1]}.",
        "the pilot's rule: "
        + ("pending" if fixed is None else f"{fixed[1]:,} steps, target {fixed[0]:.0%}")
        + f" (store/{PLAN_FILE})",
        runs, f"full MNIST, {DEPTH} x {WIDTH}, K = {K}, {len(SEEDS)} seeds, registered",
        pending=tuple(names) if fixed is None else (),
        plan=PLAN_FILE, plan_text=plan_text(),
    )  # fmt: skip
