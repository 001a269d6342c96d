"""Chapter 7's claims and the numbers its prose quotes, decided on the chapter's measurements.

What the numbers and claims read (:class:`Identity`, :class:`Measures`, :class:`CostModel`,
with the defaults they take: this machine's :data:`CORES`, the network of section (a),
:data:`IDENTITY`), the names on the page of the schedules they compare (:func:`bp`,
:data:`BP1`, :data:`DNI`, :data:`SYNC`, :data:`PIPELINES`), :func:`model_check`,
:func:`numbers` and :func:`claims`. Pure functions of plain tables and arrays, so that tests
decide every claim on constructed timings without running. The runs, and the functions that
measure them, are in :mod:`synthgrad.chapters.update_unlocking`, which imports what it shares
from here (this module imports nothing from it)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from .. import ledger, stats

CORES = os.cpu_count() or 1  # this machine's cores: the stages of a run share them
# the schedules compared (backprop on K threads: see :func:`bp`): name on the page -> settings
BP1, DNI, SYNC = "backprop, 1 thread", "DNI (asynchronous)", "DNI, synchronous"
BP_DEVICE = "backprop, 1 device"  # the cost model's curve: backprop on one device
PIPELINES = ("GPipe", "1F1B")
IDENTITY = dict(width=32, steps=6, batch=32, eval_every=3)  # the network of section (a)


def bp(K: int) -> str:
    """The name of the backprop baseline with the stages' cores: one process on ``K`` threads."""
    return f"backprop, {K} threads"


@dataclass
class Identity:
    """Section (a): synchronous DNI on ``K`` processes against the single-process SG rule,
    ``n_hidden`` layers of ``width`` for ``steps`` steps; the largest absolute difference of
    any of ``tensors`` parameter tensors (network and ``n_sgs`` SGs)."""

    max_abs_difference: float
    tensors: int = 0
    K: int = 2
    n_sgs: int = 1
    steps: int = IDENTITY["steps"]
    n_hidden: int = 3
    width: int = IDENTITY["width"]

    def __str__(self) -> str:
        return (
            f"{self.tensors} parameter tensors ({self.K} stages, {self.n_sgs} SGs, "
            f"{self.steps} steps): largest absolute difference {self.max_abs_difference:.1e}"
        )


@dataclass
class Measures:
    """What the numbers and claims read from the runs. The frames have a row per seed and a
    column per schedule: ``speed`` (examples per second), ``reach_s`` and ``reach_steps``
    (seconds and steps to the target accuracy, inf: never; NaN: the seed diverged), ``end_s``
    (the seconds on the same clock at the end of the run: a run that never reached the target
    had not by then), ``final_acc`` (held-out accuracy after the last step; NaN: diverged).
    ``stale``: every asynchronous SG update's staleness, every seed; ``busy_share``: per
    schedule and seed, the share of its processes' loop time spent computing; ``cores``: this
    machine's."""

    speed: pd.DataFrame
    reach_s: pd.DataFrame
    reach_steps: pd.DataFrame
    final_acc: pd.DataFrame
    end_s: pd.DataFrame
    stale: np.ndarray
    busy_share: dict[str, list[float]]
    cores: int = CORES


@dataclass
class CostModel:
    """Section (e): the cost model's ``predicted`` examples per second at ``K`` (per schedule it
    covers), its ``curve`` for a deeper network (a row per ``K``, NaN where a schedule needs
    more stages) and the check at four stages (``k4_text``)."""

    predicted: dict[str, float]
    curve: pd.DataFrame
    k4_text: str = ""


def model_check(speed: pd.DataFrame, predicted: Mapping[str, float]) -> pd.DataFrame:
    """Per schedule the model covers: measured (mean over seeds) and predicted examples per
    second, and their ratio."""
    rows = [
        {
            "schedule": name,
            "measured": speed[name].mean(),
            "predicted": value,
            "predicted / measured": value / speed[name].mean(),
        }
        for name, value in predicted.items()
    ]
    return pd.DataFrame(rows).set_index("schedule")


def seed_ratios(speed: pd.DataFrame, predicted: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Per schedule the cost model covers, predicted / measured examples per second, per seed
    (what C7.5 judges and :func:`model_band` spans)."""
    return {name: value / speed[name].to_numpy() for name, value in predicted.items()}


def model_band(speed: pd.DataFrame, predicted: Mapping[str, float]) -> tuple[float, float]:
    """The cost model's measured error here, as the range of predicted / measured throughput
    over every schedule it covers and every seed (C7.5 judges it per seed: a band of the
    schedules' means would be narrower than the error the seeds show); NaN where a seed's
    throughput is NaN."""
    ratios = np.concatenate(list(seed_ratios(speed, predicted).values()))
    if not np.isfinite(ratios).all():
        return float("nan"), float("nan")
    return float(ratios.min()), float(ratios.max())


def predicted_time(
    curve: pd.DataFrame, reach_steps: pd.DataFrame, batch_size: int, band: tuple[float, float]
) -> pd.DataFrame:
    """The cost model's prediction in time to accuracy: per ``K`` (rows of ``curve``, predicted
    examples per second) and schedule, seconds to the target = the median seed's steps to it,
    measured here (backprop on one device: backprop on one thread's), times the batch, over the
    predicted throughput; ``band`` (the lowest and highest predicted / measured throughput here,
    :func:`model_band`)
    carries the model's measured error into the prediction: its ``low`` and ``high`` columns.
    Assumes a schedule needs as many steps at every ``K`` as here (DNI, with more SGs, may need
    more); inf where the median seed never got there, NaN where it was not measured."""
    measured = {BP_DEVICE: BP1}
    rows = []
    for name in curve:
        steps = float(np.median(reach_steps[measured.get(name, name)]))  # NaN: unmeasured
        for k, speed in curve[name].items():
            seconds = float("inf") if steps == float("inf") else steps * batch_size / speed
            rows.append({"K": k, "schedule": name, "seconds": seconds,
                         "low": seconds * band[0], "high": seconds * band[1]})  # fmt: skip
    return pd.DataFrame(rows).set_index(["K", "schedule"])


def numbers(
    p: SimpleNamespace, identity: Identity, m: Measures, model: CostModel
) -> dict[str, Any]:
    """The numbers the chapter's prose quotes."""
    BP = bp(p.K)
    speed, reach_s, reach_steps, final_acc = m.speed, m.reach_s, m.reach_steps, m.final_acc
    stale = m.stale
    ratio = reach_s[DNI] / reach_s[BP]  # per seed, < 1: DNI got there sooner
    ratio_1 = reach_s[DNI] / reach_s[BP1]
    pipelines = speed[list(PIPELINES)].max(axis=1, skipna=False)  # a lost pipeline seed: NaN
    model_ratio = model_check(speed, model.predicted)["predicted / measured"]
    stale_cost = final_acc[SYNC] - final_acc[DNI]  # per seed: what the asynchronous run lost
    curve = model.curve
    band = model_band(speed, model.predicted)
    times = predicted_time(curve, reach_steps, p.batch_size, band)
    return {
        "identity_diff": identity.max_abs_difference,
        "cores": m.cores,
        "speed_bp": float(speed[BP].mean()),
        "speed_bp1": float(speed[BP1].mean()),
        "speed_gpipe": float(speed["GPipe"].mean()),
        "speed_1f1b": float(speed["1F1B"].mean()),
        "speed_dni": float(speed[DNI].mean()),
        "speed_sync": float(speed[SYNC].mean()),
        "ratio_min": float(ratio.min(skipna=False)),  # inf / inf is NaN: shown, not skipped
        "ratio_max": float(ratio.max(skipna=False)),
        "ratio1_min": float(ratio_1.min(skipna=False)),
        "ratio1_max": float(ratio_1.max(skipna=False)),
        "dni_over_pipelines": float((speed[DNI] / pipelines).mean()),
        "stale_median": float(np.median(stale)),
        "stale_max": int(stale.max()),
        "stale_cost_min": 100 * float(stale_cost.min(skipna=False)),
        "stale_cost_max": 100 * float(stale_cost.max(skipna=False)),
        "acc_dni": float(final_acc[DNI].mean(skipna=False)),
        "acc_sync": float(final_acc[SYNC].mean(skipna=False)),
        "acc_bp": float(final_acc[BP].mean(skipna=False)),
        "model_min": float(model_ratio.min()),
        "model_max": float(model_ratio.max()),
        "dni_busy_share": float(np.mean(m.busy_share[DNI])),
        "gpipe_busy_share": float(np.mean(m.busy_share["GPipe"])),
        "predict_depth": p.predict_depth,
        "pred_k": int(max(curve.index)),
        "pred_dni_over_bp": float(curve[DNI].iloc[-1] / curve[BP_DEVICE].iloc[-1]),
        "pred_gpipe_over_bp": float(curve["GPipe"].iloc[-1] / curve[BP_DEVICE].iloc[-1]),
        **{f"pred_t_{key}{end}": float(times.loc[(int(max(curve.index)), name), column])
           for key, name in (("dni", DNI), ("gpipe", "GPipe"), ("bp", BP_DEVICE))
           for end, column in (("", "seconds"), ("_low", "low"), ("_high", "high"))},
        "pred_t_low": float(band[0]),
        "pred_t_high": float(band[1]),
        "k4_text": model.k4_text,
        "t_dni": float(np.median(reach_s[DNI])),
        "t_bp": float(np.median(reach_s[BP])),
        "t_pipe": float(np.minimum(np.median(reach_s["GPipe"]), np.median(reach_s["1F1B"]))),
        "steps_dni": float(np.median(reach_steps[DNI])),
        "steps_bp": float(np.median(reach_steps[BP])),
    }  # fmt: skip


def sooner_pipeline(reach_s: pd.DataFrame) -> pd.Series:
    """Per seed, the seconds to the target of the sooner pipeline (GPipe or 1F1B): inf where
    neither got there, NaN where either time is NaN (unmeasured: never the other silently).
    Of the runs' end times (``Measures.end_s``), the bound on it where neither got there."""
    times = reach_s[list(PIPELINES)]
    return times.min(axis=1, skipna=False)


def sooner(dni: np.ndarray, baseline: np.ndarray, baseline_end: np.ndarray) -> stats.Paired:
    """Fewer seconds to the target accuracy for DNI than for a baseline (backprop, the sooner
    pipeline), paired per seed. A run that never reaches the target is slower than any that
    does: where DNI got there and the baseline did not (inf), the baseline's time counts as its
    whole run's, ``baseline_end`` (it had not got there by then), and never as less than DNI's
    (a tie where its run was the shorter); a seed on which DNI did not get there (inf) or
    diverged (NaN) fails the comparison."""
    base = stats.never_sooner(dni, baseline, baseline_end)
    return stats.paired(dni, base, higher=False, lost="never reached the target")


def claims(
    p: SimpleNamespace,
    identity: Identity,
    m: Measures,
    model: CostModel,
    n: Mapping[str, Any] | None = None,
) -> list[ledger.Claim]:
    """The chapter's claims from the identity check, the per-seed measurements of every
    schedule and the cost model's predictions (``n``: the chapter's :func:`numbers`, where the
    caller has them already). A NaN or inf timing or accuracy of any seed counts against the
    claim it enters."""
    BP = bp(p.K)
    n = numbers(p, identity, m, model) if n is None else n
    speed, reach_s, final_acc = m.speed, m.reach_s, m.final_acc
    ratio = reach_s[DNI] / reach_s[BP]  # per seed, < 1: DNI got there sooner
    ratio_1 = reach_s[DNI] / reach_s[BP1]
    best_pipeline = sooner_pipeline(reach_s)
    model_ratio = model_check(speed, model.predicted)["predicted / measured"]
    in_range = {  # per seed: a NaN or inf speed fails its schedule (the mean would skip it)
        name: stats.within(ratios, 0.75, 1.25)
        for name, ratios in seed_ratios(speed, model.predicted).items()
    }
    scale_here = (
        f"book run: MNIST {p.scale}, {p.depth} x {p.width}, K = {p.K} processes on {m.cores} cores, "
        f"{p.steps} steps of {p.batch_size}, {p.n_seeds} seeds"
    )
    return [
        ledger.Claim(
            "C7.1",
            "Update-unlocked training (DNI) reaches a given accuracy sooner in wall-clock time than backprop in one process with the same cores.",
            f"per seed, wall-clock seconds until the held-out accuracy reaches {p.target_acc:.0%}: DNI (asynchronous, K = {p.K} processes) against backprop in one process on {p.K} threads, and against backprop on 1 thread (one device's worth)",
            f"95% interval of backprop's seconds minus DNI's (paired per seed) above 0, against backprop on {p.K} threads; a run that never reaches the target is slower than any that does (its time at least its whole run's)",
            ledger.judge(  # in part: sooner than backprop on one thread only
                {f"{p.K} threads": sooner(reach_s[DNI], reach_s[BP], m.end_s[BP])},
                also={"1 thread": sooner(reach_s[DNI], reach_s[BP1], m.end_s[BP1])},
                regime="time ratio DNI / backprop {lo:.2f} to {hi:.2f} over seeds ({K} threads), {lo1:.2f} to {hi1:.2f} against one thread",
                lo=n["ratio_min"], hi=n["ratio_max"], K=p.K, lo1=n["ratio1_min"], hi1=n["ratio1_max"],
            ),
            {"seconds_dni": reach_s[DNI], "seconds_backprop": reach_s[BP], "seconds_backprop_1_thread": reach_s[BP1], "ratio": ratio, "ratio_1_thread": ratio_1},
            source="this book",  # the DNI paper makes no wall-clock comparison with backprop
            scale=scale_here,
        ),
        ledger.Claim(
            "C7.2",
            "DNI trains faster than pipelined backprop (GPipe, 1F1B) with the same stages.",
            f"per seed, wall-clock seconds until the held-out accuracy reaches {p.target_acc:.0%}: DNI (asynchronous) against the sooner of GPipe and 1F1B (throughput beside it, not deciding)",
            "95% interval of the better pipeline's seconds minus DNI's (paired per seed) above 0; a run that never reaches the target is slower than any that does (its time at least its whole run's)",
            ledger.judge(
                sooner(reach_s[DNI], best_pipeline, sooner_pipeline(m.end_s)),
                regime="seconds to {target:.0%}, median seed: DNI {dni:.1f}, GPipe {gpipe:.1f}, 1F1B {f1b:.1f}; examples per second, DNI / best pipeline {ratio:.2f} (mean)",
                ratio=n["dni_over_pipelines"], target=p.target_acc, dni=np.median(reach_s[DNI]),
                gpipe=np.median(reach_s["GPipe"]), f1b=np.median(reach_s["1F1B"]),
            ),
            {"seconds_dni": reach_s[DNI], "seconds_gpipe": reach_s["GPipe"], "seconds_1f1b": reach_s["1F1B"],
             "speed_dni": speed[DNI], "speed_gpipe": speed["GPipe"], "speed_1f1b": speed["1F1B"]},
            source="this book",
            scale=scale_here,
        ),
        ledger.Claim(
            "C7.3",
            "Stale SG targets cost little: after the same number of steps, asynchronous DNI is within 1 percentage point of synchronous DNI.",
            f"per seed, final held-out accuracy after {p.steps} steps: synchronous minus asynchronous DNI (max_lag {p.max_lag})",
            "95% interval of asynchronous minus synchronous DNI (paired per seed) above -1 percentage point",
            ledger.judge(
                stats.paired(final_acc[DNI], final_acc[SYNC], margin=-0.01),
                regime="asynchronous DNI {lo:+.1f} to {hi:+.1f} points behind; median staleness {median:.0f} steps",
                lo=n["stale_cost_min"], hi=n["stale_cost_max"], median=n["stale_median"],
            ),
            {"sync": final_acc[SYNC], "async": final_acc[DNI], "staleness_counts": np.bincount(m.stale, minlength=p.max_lag + 1)},
            source="this book",
            scale=scale_here,
        ),
        ledger.Claim(
            "C7.4",
            "Synchronous DNI on separate processes computes the package's single-process SG rule.",
            f"largest absolute difference of every network and SG parameter after {identity.steps} steps, {identity.K} processes against one process",
            "at most 1e-5",
            ledger.judge(bool(identity.max_abs_difference <= 1e-5)),
            {"max_abs_difference": identity.max_abs_difference},
            source="this book",
            kind="identity check",
            scale=f"book run: MNIST {p.scale}, {identity.n_hidden} x {identity.width}, K = {identity.K}, {identity.steps} steps, 1 seed",
        ),
        ledger.Claim(
            "C7.5",
            "The cost model (per-layer compute and message times) predicts the measured throughput.",
            f"predicted / measured examples per second at K = {p.K}, per seed, for every schedule it covers",
            "between 0.75 and 1.25 on every seed, for every schedule (seeds on both sides of a bound: inconclusive for that schedule, timing noise)",
            ledger.judge(
                in_range,
                regime="predicted / measured {lo:.2f} to {hi:.2f}",
                lo=n["model_min"], hi=n["model_max"],
            ),
            {"ratio": model_ratio.to_dict(), "ratio_per_seed": {k: list(b.values) for k, b in in_range.items()}},
            source="this book",
            scale=scale_here,
        ),
    ]  # fmt: skip
