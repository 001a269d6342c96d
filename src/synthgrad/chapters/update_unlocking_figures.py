"""Chapter 7's figures, tables and widget, from its runs (:mod:`.update_unlocking`)."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from .. import plots
from .update_unlocking import (
    DNI,
    SYNC,
    CostModel,
    Measures,
    Results,
    bp,
    model_band,
    model_check,
    predicted_time,
    schedules,
)


def colours(p: SimpleNamespace) -> dict:
    """A fixed colour per schedule, the same in every figure."""
    return plots.method_colours(list(schedules(p.K)))


def figure_throughput(results: Results, m: Measures, p: SimpleNamespace) -> plt.Figure:
    """Figure 1: examples per second of every schedule (bar: mean; dots: seeds), and how each
    process of the first seed spent its training loop."""
    names, colour = list(schedules(p.K)), colours(p)
    speed = m.speed
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ax = axes[0]
    for i, name in enumerate(names):
        ax.bar(i, speed[name].mean(), color=colour[name], alpha=0.6)
        ax.plot([i] * len(p.seeds), speed[name], "o", color="k", ms=3)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("training examples per second")
    ax.set_title(f"Throughput, K = {p.K} (bar: mean, dots: seeds)")
    ax = axes[1]
    rows = []
    for name in names:
        r = results[name, p.seeds[0]]
        for k in range(len(r.busy_s)):
            rows.append((f"{name}, {'process' if len(r.busy_s) == 1 else f'stage {k}'}",
                         r.busy_s[k], r.seconds - r.busy_s[k]))  # fmt: skip
    labels, busy, rest = zip(*rows, strict=True)
    y = np.arange(len(rows))
    ax.barh(y, busy, color="tab:blue", label="computing")
    ax.barh(y, rest, left=busy, color="lightgrey", label="waiting / communicating")
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("seconds of the training loop")
    ax.set_title(f"Per process, seed {p.seeds[0]}")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def figure_accuracy(results: Results, p: SimpleNamespace) -> plt.Figure:
    """Figure 2: held-out accuracy against wall-clock time and against steps, every schedule
    and seed."""
    colour = colours(p)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for name in schedules(p.K):
        for j, s in enumerate(p.seeds):
            t = results[name, s].trace
            label = name if j == 0 else None
            axes[0].plot(t.seconds, t.test_acc, color=colour[name], lw=1.2, label=label)
            axes[1].plot(t.step, t.test_acc, color=colour[name], lw=1.2, label=label)
    for ax, xlabel in zip(
        axes, ["wall-clock seconds (training loop)", "training step"], strict=True
    ):
        ax.axhline(p.target_acc, color="k", lw=0.6, ls=":")
        ax.set_xlabel(xlabel)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("held-out accuracy")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(
        f"Held-out accuracy, K = {p.K}; one line per seed; dotted: the target {p.target_acc:.0%}"
    )
    fig.tight_layout()
    return fig


def summary_table(results: Results, m: Measures, p: SimpleNamespace) -> Styler:
    """Per schedule: throughput, seconds and steps to the target, final accuracy and the step
    where a seed diverged."""
    names = list(schedules(p.K))
    summary = pd.DataFrame(
        {
            "examples / s (mean)": m.speed.mean(),
            "seconds to target (per seed)": [", ".join(f"{v:.1f}" for v in m.reach_s[n]) for n in names],
            "steps to target (per seed)": [", ".join(f"{v:.0f}" for v in m.reach_steps[n]) for n in names],
            "final held-out accuracy (per seed)": [", ".join(f"{v:.2%}" for v in m.final_acc[n]) for n in names],
            "diverged (step, per seed)": [", ".join(str(results[n, s].diverged_at) if results[n, s].diverged_at > 0 else "no" for s in p.seeds) for n in names],
        }
    )  # fmt: skip
    return summary.style.format("{:.0f}", subset=["examples / s (mean)"]).set_caption(
        f"Per schedule: throughput, time and steps to {p.target_acc:.0%} held-out accuracy ('inf': not within {p.steps} steps), final accuracy"
    )  # fmt: skip


def figure_staleness(results: Results, m: Measures, p: SimpleNamespace) -> plt.Figure:
    """Figure 3: the staleness of the asynchronous SGs' targets, and the training loss of
    backprop, synchronous and asynchronous DNI per step."""
    colour = colours(p)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    counts = np.bincount(m.stale, minlength=p.max_lag + 1)
    axes[0].bar(range(len(counts)), counts / counts.sum(), color=colour[DNI])
    axes[0].set_xlabel("staleness of the SG's target (steps)")
    axes[0].set_ylabel("share of SG updates")
    axes[0].set_title(f"DNI (asynchronous), max_lag {p.max_lag}, every seed")
    for name in (bp(p.K), SYNC, DNI):
        for j, s in enumerate(p.seeds):
            loss = pd.Series(results[name, s].losses).rolling(10, min_periods=1).mean()
            axes[1].plot(
                np.arange(1, len(loss) + 1),
                loss,
                color=colour[name],
                lw=1,
                label=name if j == 0 else None,
            )
    axes[1].set_yscale("log")
    axes[1].set_xlabel("training step")
    axes[1].set_ylabel("training loss (running mean over 10 steps)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def model_table(m: Measures, model: CostModel, p: SimpleNamespace) -> Styler:
    """The cost model against the measured throughput at the chapter's ``K``."""
    return (
        model_check(m.speed, model.predicted)
        .style.format("{:.0f}")
        .format("{:.2f}", subset=["predicted / measured"])
        .set_caption(f"Examples per second at K = {p.K}: measured (mean over seeds) and predicted")
    )


def figure_prediction(model: CostModel, m: Measures, p: SimpleNamespace) -> plt.Figure:
    """Figure 4: the predicted throughput of a deeper network split into more stages (left), and
    the same prediction in seconds to the target accuracy (right: the steps each schedule
    needed here, the band the model's error at ``K``; :func:`predicted_time`)."""
    curve = model.curve
    times = predicted_time(curve, m.reach_steps, p.batch_size, model_band(m.speed, model.predicted))
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.6))
    for name in curve:
        ax.plot(curve.index, curve[name], "o-", label=name)
        t = times.xs(name, level="schedule").replace(np.inf, np.nan)  # inf: never got there
        (line,) = bx.plot(t.index, t.seconds, "o-", label=name)
        bx.fill_between(t.index, t.low, t.high, color=line.get_color(), alpha=0.2, lw=0)
    if np.isfinite(times.seconds).any():
        bx.set_yscale("log")
    else:
        bx.text(
            0.5,
            0.5,
            "no schedule's median seed\nreached the target",
            ha="center",
            va="center",
            transform=bx.transAxes,
        )
    for a in (ax, bx):
        a.set_xscale("log", base=2)
        a.set_xlim(min(curve.index) / 1.3, max(curve.index) * 1.3)  # also where no time is finite
        a.set_xlabel("stages K (one core or device each)")
    ax.set_ylabel("predicted examples per second")
    ax.set_title(f"{p.predict_depth} hidden layers of {p.width}, batch {p.batch_size}: predicted")
    ax.legend(fontsize=8)
    bx.set_ylabel(f"predicted seconds to {p.target_acc:.0%}")
    bx.set_title("in time to accuracy (steps as measured here)")
    fig.tight_layout()
    return fig


# the widget: one schedule against backprop with the same cores, by wall-clock time or by step
WIDGET_LABELS = {"schedule": "schedule", "axis": "time axis"}


def widget_grid(p: SimpleNamespace) -> dict[str, list[str]]:
    """The widget's choices: every schedule but the baseline, and the time axis."""
    return {"schedule": [n for n in schedules(p.K) if n != bp(p.K)], "axis": ["seconds", "steps"]}


def widget_panel(
    results: Results, m: Measures, p: SimpleNamespace, schedule: str, axis: str
) -> tuple[plt.Figure, str]:
    """One panel of the widget: held-out accuracy of ``schedule`` and of backprop on ``K``
    threads, every seed, against ``axis``; and the text under it."""
    BP, colour = bp(p.K), colours(p)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    x = "seconds" if axis == "seconds" else "step"
    for name in (BP, schedule):
        for j, s in enumerate(p.seeds):
            t = results[name, s].trace
            ax.plot(t[x], t.test_acc, color=colour[name], label=name if j == 0 else None)
    ax.axhline(p.target_acc, color="k", lw=0.6, ls=":")
    ax.set_ylim(0, 1)
    ax.set_xlabel("wall-clock seconds" if x == "seconds" else "training step")
    ax.set_ylabel("held-out accuracy")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    if axis == "seconds":
        text = "; ".join(
            f"{name}: {m.speed[name].mean():.0f} examples/s, {p.target_acc:.0%} reached after "
            + ", ".join(f"{v:.1f} s" for v in m.reach_s[name])
            for name in (BP, schedule)
        )
    else:
        text = "; ".join(
            f"{name}: {p.target_acc:.0%} reached after "
            + ", ".join(f"{v:.0f}" for v in m.reach_steps[name])
            + " steps, final accuracy "
            + ", ".join(f"{v:.2%}" for v in m.final_acc[name])
            for name in (BP, schedule)
        )
    return fig, text
