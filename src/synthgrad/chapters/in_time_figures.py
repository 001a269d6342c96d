"""Chapter 8's figures and widgets: the mechanism, the Copy curricula and the longest lengths,
the SG against the true future gradient, and the language models' bits per character."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import MaxNLocator

from .. import curricula
from . import in_time_store
from .in_time import BP_LAMBDA, COLOURS, live_run
from .in_time_claims import CEILING, LM, METHODS, Logs, sg_cosine


def figure_window(T: int = 3, windows: int = 3) -> plt.Figure:
    """Figure 1: what flows where. States along time, cut into windows of ``T`` steps; within a
    window the true gradient flows back (truncated BPTT); at each cut the SG (a box) sends its
    prediction into the window's last state, and learns from the gradient that reaches the
    next window's first state (its target, which carries the next SG's prediction)."""
    steps = T * windows
    fig, ax = plt.subplots(figsize=(9, 2.8))
    for w in range(windows):
        ax.axvspan(w * T - 0.45, (w + 1) * T - 0.55, color="0.93", zorder=0)
        ax.text((w + 0.5) * T - 0.5, 1.55, f"window {w + 1}", ha="center", fontsize=9)
    for t in range(steps):
        ax.plot(t, 0, "o", ms=13, color="white", mec="k", zorder=3)
        ax.text(t, 0, "h", ha="center", va="center", fontsize=8, zorder=4)
        if t + 1 < steps:
            ax.annotate(
                "", (t + 0.8, 0), (t + 0.2, 0), arrowprops=dict(arrowstyle="->", color="k", lw=1)
            )
            if (t + 1) % T:  # the true gradient, inside a window
                ax.annotate("", (t + 0.2, -0.35), (t + 0.8, -0.35),
                            arrowprops=dict(arrowstyle="->", color="tab:blue", lw=1.5))  # fmt: skip
    for w in range(windows - 1):
        end, nxt = (w + 1) * T - 1, (w + 1) * T
        box = FancyBboxPatch((end - 0.05, 0.7), 1.1, 0.45, boxstyle="round,pad=0.05",
                             fc="mistyrose", ec="tab:red")  # fmt: skip
        ax.add_patch(box)
        ax.text(end + 0.5, 0.92, "SG", ha="center", va="center", fontsize=9, color="tab:red")
        ax.annotate("", (end, 0.25), (end + 0.3, 0.68),
                    arrowprops=dict(arrowstyle="->", color="tab:red", lw=1.5))  # fmt: skip
        ax.annotate("", (end + 0.7, 0.68), (nxt, 0.25),
                    arrowprops=dict(arrowstyle="->", color="tab:green", lw=1.2, ls="--"))  # fmt: skip
    ax.plot([], [], color="tab:blue", label="true gradient, inside a window (truncated BPTT)")
    ax.plot([], [], color="tab:red", label="SG's prediction, injected at the window's end (DNI)")
    ax.plot(
        [],
        [],
        color="tab:green",
        ls="--",
        label="SG's target: the gradient at the next window's start",
    )
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.55), ncol=2, fontsize=8, frameon=False)
    ax.set_xlim(-0.7, steps - 0.3)
    ax.set_ylim(-0.6, 1.8)
    ax.axis("off")
    fig.tight_layout()
    return fig


def figure_curricula(logs: Logs, p: SimpleNamespace) -> plt.Figure:
    """Figure 2: the curriculum's length against sequences seen, one panel per T, every seed
    (the ceiling in every panel)."""
    fig, axes = plt.subplots(1, len(p.truncations), figsize=(4.2 * len(p.truncations), 3.2),
                             sharey=True, squeeze=False)  # fmt: skip
    for ax, T in zip(axes[0], p.truncations, strict=True):
        for method, key in [*((m, T) for m in METHODS), (CEILING, None)]:
            for j, log in enumerate(logs[method, key]):
                seen = p.batch * (np.arange(len(log["n"])) + 1)
                ax.plot(seen, log["n"], color=COLOURS[method], lw=1, alpha=0.8,
                        label=method if j == 0 else None, drawstyle="steps-post")  # fmt: skip
        ax.set_title(f"T = {T}")
        ax.set_xlabel("sequences seen")
    axes[0][0].set_ylabel("Copy length being learned")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def figure_longest(score: Mapping, p: SimpleNamespace) -> plt.Figure:
    """Figure 3: the longest length solved against T, per method (dots: seeds; line: median;
    a diverged seed: a cross at 0, and no median there), the ceiling as a band from its lowest
    to highest seed."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    _longest(ax, score, p.truncations, "Copy")
    fig.tight_layout()
    return fig


def figure_store(score: dict[str, np.ndarray]) -> plt.Figure | None:
    """Figure 6: Figure 3 for the registered grid (``score``: :func:`.in_time_store.scores`),
    a panel per task whose runs are all made (None while no task's are)."""
    tasks = {name: got for task, name in in_time_store.TASKS.items()
             if (got := in_time_store.as_book(score, task)) is not None}  # fmt: skip
    if not tasks:
        return None
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 3.4), squeeze=False)
    for ax, (name, got) in zip(axes[0], tasks.items(), strict=True):
        _longest(ax, got, in_time_store.TRUNCATIONS, name)
        ax.set_title(name, fontsize=10)
    fig.tight_layout()
    return fig


def _longest(ax: plt.Axes, score: Mapping, truncations: Sequence[int], task: str) -> None:
    ts = np.array(truncations)
    ceiling = score[CEILING, None]
    if np.isfinite(ceiling).any():
        ok = ceiling[np.isfinite(ceiling)]
        ax.axhspan(ok.min() - 0.1, ok.max() + 0.1, color=COLOURS[CEILING], alpha=0.3,
                   label=f"{CEILING} (no truncation), seeds' range")  # fmt: skip
    lost = False
    for i, method in enumerate(METHODS):
        values = np.stack([score[method, T] for T in truncations])  # (T, seed)
        jitter = (i - 0.5) * 0.08 * ts
        for k, T in enumerate(ts):
            x = np.full(values.shape[1], T) + jitter[k]
            gone = ~np.isfinite(values[k])
            ax.plot(x[~gone], values[k][~gone], "o", ms=4, color=COLOURS[method], alpha=0.6)
            ax.plot(x[gone], np.zeros(gone.sum()), "x", ms=6, color=COLOURS[method])
            lost |= bool(gone.any())
        ax.plot(ts, np.median(values, 1), "-", color=COLOURS[method], label=method)
    if lost or not np.isfinite(ceiling).all():
        ax.plot([], [], "x", color="k", label="a diverged seed (at 0)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ts, [str(t) for t in ts])
    ax.set_xlabel("truncation T (steps per window)")
    ax.set_ylabel(f"longest {task} length solved")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)


def figure_sg(logs: Logs, p: SimpleNamespace) -> plt.Figure:
    """Figure 4: DNI's SG against the true future gradient during training, per T: the cosine
    between its prediction at each window's end and the gradient of every later loss there
    (mean over seeds; band: lowest to highest seed; a probe where the sequence had one window,
    or where a seed had diverged, leaves a gap)."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for T in p.truncations:
        batches, cos = sg_cosine(logs, T)
        seen = p.batch * batches  # the probe comes before the batch's update
        (line,) = ax.plot(seen, cos.mean(0), label=f"T = {T}")
        ax.fill_between(seen, cos.min(0), cos.max(0), color=line.get_color(), alpha=0.2, lw=0)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("sequences seen")
    ax.set_ylabel("cosine, SG against true future gradient")
    ax.set_ylim(-1.05, 1.05)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def figure_lm(lm: LM, p: SimpleNamespace) -> plt.Figure:
    """Figure 5: held-out bits per character against characters seen (left) and against the
    seconds of training (right), per method and T (mean over seeds; band: lowest to highest
    seed on the left). A colour per T, a line style per method: the pair a claim compares
    shares a colour, and every (method, T) is drawn its own way however many T there are."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    ts = sorted({T for _, T in lm})
    colours = dict(zip(ts, plt.cm.viridis(np.linspace(0.0, 0.85, len(ts))), strict=True))
    styles = {"DNI": "-", "truncated BPTT": "--"}
    for (method, T), runs in lm.items():
        seen = np.asarray(runs[0]["chars_seen"])
        bpc = np.array([g["valid_bpc"] for g in runs])
        secs = np.array([g["seconds"] for g in runs]).mean(0)
        label = f"{method}, T = {T}"
        ax.plot(seen, bpc.mean(0), styles[method], color=colours[T], label=label)
        ax.fill_between(seen, bpc.min(0), bpc.max(0), color=colours[T], alpha=0.12, lw=0)
        bx.plot(secs, bpc.mean(0), styles[method], color=colours[T], label=label)
    ax.set_xlabel("training characters seen (all streams)")
    bx.set_xlabel("seconds of training (one core, evaluations excluded)")
    ax.set_ylabel(f"held-out bits per character ({p.corpus})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# the widgets: a method at a truncation, against truncated BPTT there and the ceiling
WIDGET_LABELS = {"T": "truncation T", "method": "method"}


def widget_grid(p: SimpleNamespace) -> dict[str, list]:
    return {"T": list(p.truncations), "method": list(METHODS)}


def widget_panel(logs: Logs, p: SimpleNamespace, T: int, method: str) -> tuple[plt.Figure, str]:
    """One panel of the kernel-free widget: the curricula of ``method`` at ``T`` (every seed)
    beside the ceiling's, and a line on the longest lengths."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, key in ((method, T), (CEILING, None)):
        for j, log in enumerate(logs[name, key]):
            seen = p.batch * (np.arange(len(log["n"])) + 1)
            ax.plot(seen, log["n"], color=COLOURS[name], label=name if j == 0 else None,
                    drawstyle="steps-post")  # fmt: skip
    ax.set_xlabel("sequences seen")
    ax.set_ylabel("Copy length being learned")
    ax.set_title(f"{method}, T = {T}")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    got = [curricula.longest_solved(g, p.threshold) for g in logs[method, T]]
    per_seed = ", ".join("diverged" if np.isnan(x) else f"{x:g}" for x in got)
    return fig, f"{method}, T = {T}: longest length solved per seed {per_seed}"


LIVE_GRID = {"task": ["Copy", "Repeat Copy"], "T": [2, 3, 4, 8],
             "method": ["truncated BPTT", "DNI", BP_LAMBDA], "sg_hidden": [0, 64, 256]}  # fmt: skip
LIVE_LABELS = {
    "task": "task",
    "T": "truncation T",
    "method": "method",
    "sg_hidden": "SG hidden units",
}


def live_panel(
    p: SimpleNamespace, task: str, T: int, method: str, sg_hidden: int
) -> tuple[plt.Figure, str]:
    """The live widget (JupyterLab): one seed, ``p.live_sequences`` sequences, retrained
    (:func:`.in_time.live_run`)."""
    log = live_run(p, task, method, T, sg_hidden)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(p.batch * (np.arange(len(log["n"])) + 1), log["error"], color=COLOURS[method])
    ax.axhline(p.threshold, color="k", lw=0.6, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("sequences seen")
    ax.set_ylabel("error, bits per sequence")
    ax.set_title(f"{task}, {method}" + ("" if method == BP_LAMBDA else f", T = {T}"))
    fig.tight_layout()
    got = curricula.longest_solved(log, p.threshold)
    return fig, f"longest length solved: {'diverged' if np.isnan(got) else f'{got:g}'}"
