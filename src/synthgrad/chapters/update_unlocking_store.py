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
committed before ``make paper`` makes either (:func:`synthgrad.store.registration`). The plans,
the settings and the budget rules are :mod:`.update_unlocking_plans` (re-exported here); this
module reads the pilot and the grids, judges the claims and puts the numbers in words.

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
from .update_unlocking_plans import (
    BATCH as BATCH,
)
from .update_unlocking_plans import (
    CHAPTER as CHAPTER,
)
from .update_unlocking_plans import (
    DEPTH as DEPTH,
)
from .update_unlocking_plans import (
    EVAL_EVERY as EVAL_EVERY,
)
from .update_unlocking_plans import (
    FACTOR as FACTOR,
)
from .update_unlocking_plans import (
    FIRST as FIRST,
)
from .update_unlocking_plans import (
    LAST as LAST,
)
from .update_unlocking_plans import (
    LONG as LONG,
)
from .update_unlocking_plans import (
    LONG_PLAN_FILE as LONG_PLAN_FILE,
)
from .update_unlocking_plans import (
    LONG_TARGETS as LONG_TARGETS,
)
from .update_unlocking_plans import (
    LR as LR,
)
from .update_unlocking_plans import (
    MAX_LAG as MAX_LAG,
)
from .update_unlocking_plans import (
    MICROBATCHES as MICROBATCHES,
)
from .update_unlocking_plans import (
    MIN_SECONDS as MIN_SECONDS,
)
from .update_unlocking_plans import (
    NAME as NAME,
)
from .update_unlocking_plans import (  # the registered plans, re-exported: one name for the chapter
    PILOT as PILOT,
)
from .update_unlocking_plans import (
    PILOT_SEED as PILOT_SEED,
)
from .update_unlocking_plans import (
    PILOT_STEPS as PILOT_STEPS,
)
from .update_unlocking_plans import (
    PLAN_FILE as PLAN_FILE,
)
from .update_unlocking_plans import (
    ROUND as ROUND,
)
from .update_unlocking_plans import (
    SEEDS as SEEDS,
)
from .update_unlocking_plans import (
    TARGETS as TARGETS,
)
from .update_unlocking_plans import (
    TIMEOUT_S as TIMEOUT_S,
)
from .update_unlocking_plans import (
    WIDTH as WIDTH,
)
from .update_unlocking_plans import (
    K as K,
)
from .update_unlocking_plans import (
    budget as budget,
)
from .update_unlocking_plans import (
    fit_settings as fit_settings,
)
from .update_unlocking_plans import (
    long_budget as long_budget,
)
from .update_unlocking_plans import (
    long_plan_text as long_plan_text,
)
from .update_unlocking_plans import (
    pilot_experiment as pilot_experiment,
)
from .update_unlocking_plans import (
    plan_text as plan_text,
)


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
