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

That grid's target, 95%, came within 1.8-2.6 s for backprop, evaluations 0.37 s apart: too
short for a verdict on time (issue 25 asks for several seconds). A **second grid**
(:data:`LONG`, registered after the first was seen, ``store/07_timed_long/PLAN.md``) reads the
same pilot by a second rule (:func:`long_budget`: the lowest target the pilot first reached
at least :data:`MIN_SECONDS` seconds into its run) and decides the verdicts of record C7.1p-C7.3p; the first
grid's are reported beside as C7.1p-95 to C7.3p-95.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import analysis, ledger, stats, store
from ..sweep import Task
from ..train import History
from . import update_unlocking as uu
from . import update_unlocking_claims as C

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
# the second grid: the same pilot read by a second rule, for times to the target of seconds
LONG = "07_timed_long"
LONG_PLAN_FILE = f"{LONG}/PLAN.md"
LONG_TARGETS = (0.96, 0.97, 0.98, 0.99)  # whole percents above the first grid's target
MIN_SECONDS = 5.0  # "several seconds": the pilot's own clock at its first evaluation there
FIRST = "-95"  # the first grid's claims: C7.1p-95 to C7.3p-95


def fit_settings(schedule: dict[str, Any], seeds: tuple[int, ...], steps: int) -> dict[str, Any]:
    """A timed run of the chapter's network and optimiser (also the K = 4 check's,
    :mod:`.update_unlocking_k4`): ``schedule``'s settings on ``seeds`` for ``steps``."""
    return dict(seeds=list(seeds), hidden=[WIDTH] * DEPTH, K=K, steps=steps, batch_size=BATCH,
                lr=LR, microbatches=MICROBATCHES, max_lag=MAX_LAG, eval_every=EVAL_EVERY,
                timeout_s=TIMEOUT_S, **schedule)  # fmt: skip


def _setup_lines() -> str:
    """The plan's lines on the network, schedules and data (both grids share them)."""
    names = list(uu.schedules(K))
    return (
        f"- **Network and training**: the chapter's: {DEPTH} hidden layers of {WIDTH} ReLU "
        f"units, K = {K} stages (processes) or {K} threads for backprop, batches of {BATCH}, "
        f"Adam {LR:g} for the network and the SGs, {MICROBATCHES} microbatches for the "
        f"pipelines, DNI at most {MAX_LAG} steps ahead of its oldest SG target; parameters "
        f"copied every {EVAL_EVERY} steps and evaluated off the clock.\n"
        f"- **Schedules**: {'; '.join(names)}.\n"
        "- **Data**: full MNIST, 50,000 training images; the pilot is scored on the other "
        "10,000 training images (`full-validation`), the grid on the 10,000 official test "
        "images (`full-test`).\n"
    )


def _grid_lines(where: str, order: str) -> str:
    """The plan's lines on the grid's seeds and machine, the verdicts and the order."""
    return (
        f"- **Grid**: every schedule on seeds {', '.join(map(str, SEEDS))} (not the pilot's), "
        "each seed its own initialisation and minibatches, shared by the schedules; on the CPU "
        f"of this project ({K} cores), one run at a time with nothing else on the machine.\n"
        f"- **Verdicts**: by chapter 7's rules on the five seeds ({where}seed-paired 95% "
        "t-intervals; a run that never reaches the target is slower than any that does). "
        f"C7.1p: backprop's seconds to the target minus DNI's above 0 (backprop on {K} "
        "threads). C7.2p: the sooner pipeline's seconds minus DNI's above 0. C7.3p: "
        "asynchronous minus synchronous DNI's held-out accuracy (the mean of the last "
        f"{LAST} evaluations) above -1 percentage point.\n"
        f"- **Order**: {order}.\n"
    )


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
        + _setup_lines()
        + f"- **Pilot (the budget, fixed by a rule on backprop alone)**: {names[0]} on seed "
        f"{PILOT_SEED} for at most {PILOT_STEPS:,} steps. The target accuracy is {first:.0%}; "
        f"the budget is {FACTOR} times the steps the pilot needed to first reach it (at an "
        f"evaluation), rounded up to a multiple of {ROUND}. If the pilot never reaches "
        f"{first:.0%}, the target is {second:.0%} by the same rule; if it reaches neither, the "
        f"budget is {PILOT_STEPS:,} steps at {second:.0%}.\n"
        + _grid_lines("", "the pilot, then the schedules in the order above")
    )


def long_plan_text() -> str:
    """The second grid's registered plan: ``store/07_timed_long/PLAN.md`` must hold exactly
    this."""
    targets = ", ".join(f"{t:.0%}" for t in LONG_TARGETS)
    return (
        "# Registered plan: chapter 7's schedules timed to a later accuracy\n\n"
        f"- **Why a second grid**: on the first registered grid (`{NAME}`, its plan beside this "
        f"one), backprop reached its target, {TARGETS[0]:.0%}, after 1.8 to 2.6 seconds, with "
        "evaluations 0.37 seconds apart: too short for a verdict on time (issue 25 asks that "
        "every schedule's time to the target be several seconds). This plan was written "
        "after that grid's results and the pilot's were seen; its rule reads the pilot "
        "(backprop alone) only, as the first grid's did, and the budget follows from it.\n"
        "- **Question**: C7.1-C7.3 as on the first grid, at a later target.\n"
        + _setup_lines()
        + f"- **Target and budget (a rule on the pilot of `{PILOT}`, not made again)**: the "
        f"target is the lowest of {targets} that the pilot first reached (at an evaluation) "
        f"at least {MIN_SECONDS:g} seconds into its run, by its own clock as stored; the "
        f"budget is {FACTOR} times the steps it needed to get there, rounded up to a multiple "
        f"of {ROUND}. If it reached none of them that late, no grid is made. The rule's "
        "outcome was known when it was written: the pilot's stored curve first reaches 96% "
        "after 4.4 seconds (step 260) and 97% after 8.6 seconds (step 460), so the target is "
        "97% and the budget 1,400 steps.\n"
        + _grid_lines(
            "the verdicts of record C7.1p-C7.3p; the first grid's are reported beside as "
            f"C7.1p{FIRST} to C7.3p{FIRST}; ",
            "the schedules in the order above",
        )
    )


def pilot_experiment() -> store.Experiment:
    """The pilot: backprop on seed :data:`PILOT_SEED`, scored on the validation split."""
    backprop = next(iter(uu.schedules(K).values()))
    task = Task("mnist", fit_settings(backprop, (PILOT_SEED,), PILOT_STEPS), {"scale": "full-validation"},
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
            return target, _rounded(needed)
    return TARGETS[-1], PILOT_STEPS


def long_budget(reached: dict[float, tuple[float, float]]) -> tuple[float, int] | None:
    """The second grid's registered rule: ``(target, steps)`` for the lowest of
    :data:`LONG_TARGETS` that the pilot first reached at least :data:`MIN_SECONDS` into its
    run, from ``reached``: per target, the pilot's ``(seconds, steps)`` there (``inf``:
    never); None: none that late, no grid."""
    if any(math.isnan(seconds) for seconds, _ in reached.values()):
        raise ValueError("the pilot diverged: its rule gives no target and no grid is made")
    for target in LONG_TARGETS:
        seconds, steps = reached.get(target, (math.inf, math.inf))
        if math.isfinite(seconds) and seconds >= MIN_SECONDS:
            return target, _rounded(steps)
    return None


def _rounded(steps: float) -> int:
    """:data:`FACTOR` times ``steps``, rounded up to a multiple of :data:`ROUND`."""
    return int(math.ceil(FACTOR * steps / ROUND) * ROUND)


def pilot_reached(root: Path | None = None) -> dict[float, tuple[float, float]] | None:
    """Per target of either rule, the pilot's seconds and steps at its first evaluation there
    (``inf``: never; NaN: it diverged), or None while it is not made."""
    pilot = store.load(pilot_experiment(), root)
    history = pilot.runs.get("backprop")
    if history is None or pilot.status.get("backprop") != "ok":
        return None
    out = {}
    for target in (*TARGETS, *LONG_TARGETS):
        seconds, steps = _reach(history, target)
        out[target] = (float(seconds[0]), float(steps[0]))
    return out


def pilot_budget(root: Path | None = None) -> tuple[float, int] | None:
    """The first grid's target and budget from the pilot's run, or None while it is not made."""
    reached = pilot_reached(root)
    return None if reached is None else budget({t: reached[t][1] for t in TARGETS})


def long_pilot_budget(root: Path | None = None) -> tuple[float, int] | None:
    """The second grid's target and budget from the pilot's run, or None (not made, or the
    rule found no target)."""
    reached = pilot_reached(root)
    if reached is None or any(math.isnan(seconds) for seconds, _ in reached.values()):
        return None  # not made, or diverged (page_text says which)
    return long_budget(reached)


def experiment(root: Path | None = None) -> store.Experiment:
    """The first grid: every schedule on :data:`SEEDS` at the pilot's budget; pending until
    the pilot is made."""
    return _grid(pilot_budget(root))


def long_experiment(root: Path | None = None) -> store.Experiment:
    """The second grid (:data:`LONG`): every schedule on :data:`SEEDS` at the second rule's
    target and budget; pending until the pilot is made."""
    return _grid(long_pilot_budget(root), long=True)


def _grid(fixed: tuple[float, int] | None, long: bool = False) -> store.Experiment:
    """A grid at the pilot's ``(target, steps)`` (None: every run pending): the first, or the
    second (``long``)."""
    names = list(uu.schedules(K))
    runs = {} if fixed is None else {
        name: Task("mnist", fit_settings(schedule, SEEDS, fixed[1]), {"scale": "full-test"},
                   runner="schedules")
        for name, schedule in uu.schedules(K).items()
    }  # fmt: skip
    name, plan, text = (
        (LONG, LONG_PLAN_FILE, long_plan_text()) if long else (NAME, PLAN_FILE, plan_text())
    )
    which = "the second rule" if long else "the pilot's rule"
    return store.Experiment(
        name, CHAPTER,
        f"Every schedule of chapter 7 timed to a held-out accuracy: {DEPTH} x {WIDTH}, K = {K}, "
        f"full MNIST scored on the test images, seeds {SEEDS[0]}-{SEEDS[-1]}"
        + (", the later target." if long else "."),
        f"{which}: "
        + ("pending" if fixed is None else f"{fixed[1]:,} steps, target {fixed[0]:.0%}")
        + f" (store/{plan})",
        runs, f"full MNIST, {DEPTH} x {WIDTH}, K = {K}, {len(SEEDS)} seeds, registered"
        + (f", target {fixed[0]:.0%}" if long and fixed else ""),
        pending=tuple(names) if fixed is None else (),
        plan=plan, plan_text=text,
    )  # fmt: skip


@dataclass
class Timed:
    """What C7.1p-C7.3p decide on, per seed (rows) and schedule (columns, the names of
    :func:`.update_unlocking.schedules`): seconds and steps to the target (``inf``: never
    reached; NaN: the seed diverged), and the held-out accuracy at the end (the mean of the
    last :data:`LAST` evaluations); with the pilot's target and budget."""

    reach_s: pd.DataFrame
    reach_steps: pd.DataFrame
    final_acc: pd.DataFrame
    target: float
    steps: int
    scale: str = ""
    step_s: dict[str, np.ndarray] = field(default_factory=dict)  # per seed, seconds per step
    end_loss: pd.DataFrame | None = None  # per seed and schedule: the training loss at the end


def _reach(history: History, target: float) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, the seconds and steps at the first evaluation at or above ``target``."""
    acc, seconds = history.evals["test_acc"], history.evals["seconds"]
    hit = acc >= target  # evaluations x seeds (False where NaN)
    first, ever = hit.argmax(axis=0), hit.any(axis=0)
    lost = np.asarray(history.diverged_at) >= 0
    columns = np.arange(acc.shape[1])
    at = {"s": seconds[first, columns], "steps": history.eval_steps[first].astype(float)}
    return tuple(np.where(lost, np.nan, np.where(ever, v, np.inf)) for v in at.values())  # type: ignore[return-value]


def values(stored: store.Stored, fixed: tuple[float, int]) -> Timed | None:
    """The grid's measurements (:class:`Timed`) once every schedule is made and current
    (else None: no verdict on part of a comparison)."""
    names = list(uu.schedules(K))
    if any(stored.status.get(name) != "ok" for name in names):
        return None
    target, steps = fixed
    for name in names:  # the frames below are indexed by SEEDS: the runs must hold them in order
        if list(stored.runs[name].seeds) != list(SEEDS):
            raise ValueError(f"{name}: stored seeds {stored.runs[name].seeds}, expected {SEEDS}")
    reach = {name: _reach(stored.runs[name], target) for name in names}
    return Timed(
        reach_s=pd.DataFrame({n: r[0] for n, r in reach.items()}, index=list(SEEDS)),
        reach_steps=pd.DataFrame({n: r[1] for n, r in reach.items()}, index=list(SEEDS)),
        final_acc=pd.DataFrame(  # NaN where a seed diverged (analysis.end_value)
            {n: analysis.end_value(stored.runs[n], last=LAST) for n in names}, index=list(SEEDS)
        ),
        target=target,
        steps=steps,
        scale=stored.scale(),
        step_s={n: stored.runs[n].evals["seconds"][-1] / steps for n in names},
        end_loss=pd.DataFrame({n: _end_loss(stored.runs[n]) for n in names}, index=list(SEEDS)),
    )


def _end_loss(history: History, smooth: int = 25) -> np.ndarray:
    """Per seed, the mean training loss over the last ``smooth`` steps (the running mean at the
    end; NaN: the seed diverged)."""
    return np.where(history.diverged, np.nan, history.train["loss"][-smooth:].mean(0))


def claims(t: Timed, suffix: str = "") -> list[ledger.Claim]:
    """C7.1p-C7.3p: C7.1-C7.3's verdicts of record, by chapter 7's rules on a grid's five
    seeds (:func:`.update_unlocking_claims.claims` for the book run's); ``suffix``
    (:data:`FIRST`): the first grid's, reported beside them under ids with that suffix."""
    BP, reach_s = C.bp(K), t.reach_s
    beside = (
        f" First registered grid, target {t.target:.0%}: reported beside C7.1p-C7.3p."
        if suffix
        else ""
    )
    # each run's seconds at its end (seconds per step times the steps), seed by seed
    end = pd.DataFrame(
        {n: np.asarray(v) * t.steps for n, v in t.step_s.items()}, index=reach_s.index
    )
    how = f"{t.target:.0%} held-out accuracy, {t.steps:,} steps"
    return [
        ledger.Claim(
            f"C7.1p{suffix}",
            "Update-unlocked training (DNI) reaches a given accuracy sooner in wall-clock time than backprop in one process with the same cores (at five seeds, full MNIST)." + beside,
            f"registered store, per seed: wall-clock seconds to {how}: DNI (asynchronous, K = {K} processes) against backprop in one process on {K} threads, and on 1 thread",
            f"as C7.1: 95% interval of backprop's seconds minus DNI's (paired per seed) above 0, against backprop on {K} threads (on 1 thread only: in part); a seed on which DNI never reached the target fails the comparison, one on which backprop never did counts as slower (its time at least its whole run's, registered: a run that never reaches the target is slower than any that does)",
            ledger.judge(
                {f"{K} threads": C.sooner(reach_s[C.DNI], reach_s[BP], end[BP])},
                also={"1 thread": C.sooner(reach_s[C.DNI], reach_s[C.BP1], end[C.BP1])},
                regime="seconds to the target, median seed: DNI {dni:.1f}, backprop {bp:.1f} ({K} threads), {bp1:.1f} (1 thread)",
                dni=np.median(reach_s[C.DNI]), bp=np.median(reach_s[BP]), K=K,
                bp1=np.median(reach_s[C.BP1]),
            ),
            {"seconds_dni": reach_s[C.DNI], "seconds_backprop": reach_s[BP], "seconds_backprop_1_thread": reach_s[C.BP1]},
            source="this book",
            scale=t.scale,
        ),
        ledger.Claim(
            f"C7.2p{suffix}",
            "DNI trains faster than pipelined backprop (GPipe, 1F1B) with the same stages (at five seeds, full MNIST)." + beside,
            f"registered store, per seed: wall-clock seconds to {how}: DNI (asynchronous) against the sooner of GPipe and 1F1B",
            "as C7.2: 95% interval of the better pipeline's seconds minus DNI's (paired per seed) above 0; a seed on which DNI never reached the target fails the comparison, one on which neither pipeline did counts as slower (at least the shorter of their runs)",
            ledger.judge(
                C.sooner(reach_s[C.DNI], C.sooner_pipeline(reach_s), C.sooner_pipeline(end)),
                regime="seconds to the target, median seed: DNI {dni:.1f}, GPipe {gpipe:.1f}, 1F1B {f1b:.1f}",
                dni=np.median(reach_s[C.DNI]), gpipe=np.median(reach_s["GPipe"]),
                f1b=np.median(reach_s["1F1B"]),
            ),
            {"seconds_dni": reach_s[C.DNI], "seconds_gpipe": reach_s["GPipe"], "seconds_1f1b": reach_s["1F1B"]},
            source="this book",
            scale=t.scale,
        ),
        ledger.Claim(
            f"C7.3p{suffix}",
            "Stale SG targets cost little: after the same number of steps, asynchronous DNI is within 1 percentage point of synchronous DNI (at five seeds, full MNIST)." + beside,
            f"registered store, per seed: held-out accuracy after {t.steps:,} steps (mean of the last {LAST} evaluations), asynchronous minus synchronous DNI (max_lag {MAX_LAG})",
            "as C7.3: 95% interval above -1 percentage point",
            ledger.judge(
                stats.paired(t.final_acc[C.DNI], t.final_acc[C.SYNC], margin=-0.01),
                regime="asynchronous minus synchronous DNI {lo:+.2f} to {hi:+.2f} points over seeds",
                lo=100 * float((t.final_acc[C.DNI] - t.final_acc[C.SYNC]).min(skipna=False)),
                hi=100 * float((t.final_acc[C.DNI] - t.final_acc[C.SYNC]).max(skipna=False)),
            ),
            {"async": t.final_acc[C.DNI], "sync": t.final_acc[C.SYNC]},
            source="this book",
            scale=t.scale,
        ),
    ]  # fmt: skip


def table(t: Timed) -> pd.DataFrame:
    """Per schedule: seconds and steps to the target (median, lowest and highest seed; inf:
    never reached) and the final held-out accuracy (mean over seeds)."""
    rows = {
        name: {
            "seconds to target (median)": t.reach_s[name].median(skipna=False),
            "seconds (lowest seed)": t.reach_s[name].min(skipna=False),
            "seconds (highest seed)": t.reach_s[name].max(skipna=False),
            "steps to target (median)": t.reach_steps[name].median(skipna=False),
            "seeds that reached it": f"{int(np.isfinite(t.reach_s[name]).sum())} of {len(t.reach_s)}",
            "final accuracy (mean)": t.final_acc[name].mean(skipna=False),
        }
        for name in t.reach_s.columns
    }
    return pd.DataFrame(rows).T


def numbers(t: Timed, prefix: str = "store_") -> dict[str, Any]:
    """The numbers the prose quotes about a grid, their names starting with ``prefix`` (in
    place of ``store_``)."""
    return {prefix + k.removeprefix("store_"): v for k, v in _numbers(t).items()}


def _numbers(t: Timed) -> dict[str, Any]:
    med = t.reach_s.median(skipna=False)  # a diverged seed makes its schedule's NaN
    stale = t.final_acc[C.DNI] - t.final_acc[C.SYNC]  # per seed: what the lag cost
    return {
        "store_target": t.target,
        "store_steps": f"{t.steps:,}",
        "store_t_dni": float(med[C.DNI]),
        "store_t_bp": float(med[C.bp(K)]),
        "store_t_pipe": float(np.minimum(med["GPipe"], med["1F1B"])),
        "store_acc_dni": float(t.final_acc[C.DNI].mean(skipna=False)),
        "store_acc_sync": float(t.final_acc[C.SYNC].mean(skipna=False)),
        "store_acc_bp": float(t.final_acc[C.bp(K)].mean(skipna=False)),
        "store_dni_reached": f"{int(np.isfinite(t.reach_s[C.DNI]).sum())} of {len(t.reach_s)}",
        "store_dni_missed": ", ".join(
            [
                *map(str, t.reach_s.index[t.reach_s[C.DNI] == np.inf]),
                *(f"{s} (diverged)" for s in t.reach_s.index[t.reach_s[C.DNI].isna()]),
            ]
        )
        or "none",  # fmt: skip
        "store_stale_min": 100 * float(stale.min(skipna=False)),
        "store_stale_max": 100 * float(stale.max(skipna=False)),
        "store_steps_dni": float(t.reach_steps[C.DNI].median(skipna=False)),
        "store_steps_sync": float(t.reach_steps[C.SYNC].median(skipna=False)),
        "store_steps_bp": float(t.reach_steps[C.bp(K)].median(skipna=False)),
        # seconds per step over the whole budget, median seed: what a step costs each schedule
        "store_step_ms_dni": 1000 * float(np.median(t.step_s[C.DNI])),
        "store_step_ms_bp": 1000 * float(np.median(t.step_s[C.bp(K)])),
        # backprop's fastest and slowest seed (NaN: a seed diverged), and how far apart its
        # evaluations were (seconds)
        "store_t_bp_min": float(t.reach_s[C.bp(K)].min(skipna=False)),
        "store_t_bp_max": float(t.reach_s[C.bp(K)].max(skipna=False)),
        "store_eval_s_bp": EVAL_EVERY * float(np.median(t.step_s[C.bp(K)])),
        "store_resolution": resolution_text(t),
        **step_words(t),
        "store_stall": stall_text(t),
    }


def resolution_text(t: Timed) -> str:
    """Whether the evaluations are fine enough for the verdict on time, in words: a time to
    the target is read at an evaluation, so each can be late by up to one spacing (the larger
    of DNI's and backprop's, :data:`EVAL_EVERY` of its steps); a gap between the median seeds
    wider than two spacings is not the rounding's. A median seed that never got there is
    named, not measured."""
    BP = C.bp(K)
    spacing = EVAL_EVERY * max(float(np.median(t.step_s[C.DNI])), float(np.median(t.step_s[BP])))
    dni = float(t.reach_s[C.DNI].median(skipna=False))
    bp = float(t.reach_s[BP].median(skipna=False))
    if np.isnan(dni) or np.isnan(bp) or not np.isfinite(spacing):
        return "whether the evaluations are fine enough is not measured here (a seed diverged)"
    where = f"evaluations were at most {spacing:.2f} s apart"
    if np.isinf(dni) and np.isinf(bp):
        return f"{where}, and neither DNI's nor backprop's median seed reached the target: no time to compare"
    if np.isinf(dni) or np.isinf(bp):
        never = "DNI's" if np.isinf(dni) else "backprop's"
        return f"{where}, and {never} median seed never reached the target: no rounding to an evaluation decides that"
    gap = dni - bp
    if abs(gap) > 2 * spacing:
        return (f"{where}, and DNI's median seed took {dni / bp:.1f} times backprop's time "
                f"({abs(gap):.1f} s {'more' if gap > 0 else 'less'}): no rounding to an "
                "evaluation closes a gap of that size")  # fmt: skip
    return (f"{where}, and the median seeds of DNI and backprop are {abs(gap):.2f} s apart: "
            "within the rounding to an evaluation, so these times cannot tell them apart")  # fmt: skip


def stall_text(t: Timed) -> str:
    """The asynchronous run against the synchronous one at the end of the budget, in words:
    the ratio of their training losses (running mean) on the seeds where asynchronous DNI never
    reached the target and on those where it did."""
    if t.end_loss is None:
        return "the training losses are not read here"
    ratio = t.end_loss[C.DNI] / t.end_loss[C.SYNC]
    lost = t.reach_s[C.DNI].isna()  # diverged: no loss to compare
    missed = np.isinf(t.reach_s[C.DNI])
    gone = f" (seeds {', '.join(map(str, t.reach_s.index[lost]))} diverged)" if lost.any() else ""

    def span(r: pd.Series) -> str:
        return f"{r.min(skipna=False):.1f} to {r.max(skipna=False):.1f} times"

    if not missed.any():
        return (f"asynchronous DNI reached the target on every seed it did not lose{gone}; its "
                f"training loss (running mean) ends {span(ratio[~lost])} the synchronous run's")  # fmt: skip
    text = (f"on the seeds where asynchronous DNI never reached the target "
            f"({', '.join(map(str, t.reach_s.index[missed]))}), its training loss (running mean "
            f"of 25 steps) ends {span(ratio[missed])} the synchronous run's")  # fmt: skip
    if (~missed & ~lost).any():
        text += f", against {span(ratio[~missed & ~lost])} on the seeds where it did"
    return (
        text
        + gone
        + (
            ", so the stale targets stall training there rather than add noise "
            "to the held-out score"
        )
    )


def step_words(t: Timed) -> dict[str, str]:
    """What the prose says of why DNI is slower or faster to the target, computed: whether a
    DNI step costs more or less than backprop's (median seed over the budget), and whether the
    steps to the target or the cost of a step is the larger factor (median seeds; a median that
    never got there: steps)."""
    dni, bp = float(np.median(t.step_s[C.DNI])), float(np.median(t.step_s[C.bp(K)]))
    steps = float(
        t.reach_steps[C.DNI].median(skipna=False) / t.reach_steps[C.bp(K)].median(skipna=False)
    )
    cost = dni / bp
    if not np.isfinite(cost) or np.isnan(steps):
        return {
            "store_step_word": "not measured",
            "store_reason": "The reason is not measured here",
        }
    word = "not cheaper but dearer" if cost > 1 else "cheaper" if cost < 1 else "no dearer"
    reason = ("The reason is mostly steps" if steps > cost
              else "The reason is mostly the cost of a step")  # fmt: skip
    return {"store_step_word": word, "store_reason": reason}


def read(root: Path | None = None, long: bool = False) -> Timed | None:
    """A grid's measurements (the second's: ``long``) once the pilot and every schedule are
    made (else None)."""
    fixed = (long_pilot_budget if long else pilot_budget)(root)
    return None if fixed is None else values(store.load(_grid(fixed, long), root), fixed)


def page_text(root: Path | None = None, long: bool = False) -> str:
    """A grid's plan (the second's: ``long``), the target and budget its rule gives, and how
    much of it is made."""
    fixed = (long_pilot_budget if long else pilot_budget)(root)
    which = "the second rule" if long else "the pilot's rule"
    if fixed is not None:
        rule = f"{which} gives a target of {fixed[0]:.0%} and {fixed[1]:,} steps"
    elif (reached := pilot_reached(root)) is None:
        rule = "the pilot is not made yet"
    elif any(math.isnan(seconds) for seconds, _ in reached.values()):
        rule = "the pilot diverged, so no rule gives a target and no grid is made"
    else:
        rule = f"{which} finds no target: the pilot reached none late enough, no grid is made"
    return store.plan_page(_grid(fixed, long), root) + f" The budget: {rule}."


def verdicts(
    long: Timed | None, first: Timed | None = None
) -> tuple[list[ledger.Claim], dict[str, Any]]:
    """C7.1p-C7.3p from the second grid (``long``) and C7.1p-95 to C7.3p-95 from the first
    (``first``), with the numbers about each (``store_*``, ``store95_*``), for the chapter's
    ``finish`` (none for a grid that is not made)."""
    found: list[ledger.Claim] = []
    out: dict[str, Any] = {"store_min_seconds": MIN_SECONDS}  # the second rule's, for the prose
    for t, suffix, prefix in ((long, "", "store_"), (first, FIRST, "store95_")):
        if t is not None:
            found += claims(t, suffix)
            out |= numbers(t, prefix)
    return found, out
