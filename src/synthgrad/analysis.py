"""Summaries of training runs over seeds: tidy tables for plots, final values, per-layer
metrics, and when a run reached a threshold. What a trained network's layers look like
(RDMs, weight norms, probes) is in :mod:`synthgrad.representations`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .train import History

# The control, on every page: the network whose layers below the SG never learn (frozen at
# initialisation), the bar an SG's claim to "train" the layers below it must clear; with an SG
# after every hidden layer, no hidden layer learns (random features with a trained output).
CONTROL = "control: frozen below the SG"
CONTROL_EVERY = "control: frozen below every SG"


def frames(
    runs: Mapping[str, History], smooth: int = 1, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Several runs as one tidy table: each run's :meth:`~synthgrad.train.History.frame` with a
    ``method`` column (the key in ``runs``), ready for seaborn. ``smooth`` > 1 replaces each
    per-step training metric by its running mean over that many steps, per method and seed.
    ``metrics``: only these metric columns (with ``step`` and ``seed``); a figure of two
    metrics of runs that log fifty then smooths two, not fifty."""
    keep = None if metrics is None else ["step", "seed", *metrics]
    df = pd.concat(
        {m: h.frame() if keep is None else h.frame()[keep] for m, h in runs.items()},
        names=["method"],
    )
    df = df.reset_index("method").reset_index(drop=True)
    if smooth > 1:
        cols = sorted({k for h in runs.values() for k in h.train} & set(df.columns))
        df[cols] = df.groupby(["method", "seed"])[cols].transform(
            lambda v: v.rolling(smooth, min_periods=1).mean()
        )
    return df


LAST = 5  # an end-of-training value is the mean over the last 5 evaluations (BOOK.md 6)


def end_value(history: History, metric: str = "test_acc", last: int = LAST) -> np.ndarray:
    """Per seed, the end-of-training value of an evaluation metric: the mean over its last
    ``last`` evaluations (fewer if the run has fewer), so that one noisy evaluation does not
    decide a claim. NaN for a seed that diverged: a NaN in them stays NaN, and so does a seed
    whose last evaluations came before it diverged (a run stops once every seed has, so the
    last seed to go keeps finite evaluations; an accuracy read from NaN outputs is finite too)."""
    value = np.mean(history.evals[metric][-last:], axis=0)
    return np.where(history.diverged, np.nan, value)


def final_summary(runs: Mapping[str, History], metric: str) -> pd.DataFrame:
    """Mean, standard deviation, min and max over seeds of a metric's last evaluation (NaN
    when a seed diverged: the ``diverged`` column says how many did; none is left out)."""
    rows = []
    for method, h in runs.items():
        v = h.final(metric)
        rows.append(
            {
                "method": method,
                "mean": np.mean(v),
                "std": np.std(v),
                "min": np.min(v),
                "max": np.max(v),
                "seeds": len(v),
                "diverged": int(h.diverged.sum()),
            }
        )
    return pd.DataFrame(rows).set_index("method")


def per_layer(
    history: History, pattern: str, labels: Mapping[int, str], name: str, smooth: int = 1
) -> pd.DataFrame:
    """One per-layer metric of a run in long form: ``pattern.format(k)`` names layer ``k``'s
    metric (e.g. ``"sg_loss_{}"``); one row per (layer, seed, step) where it was recorded, the
    layer's label in column ``layer`` and the value in column ``name``. ``smooth`` as in
    :func:`frames`."""
    columns = {pattern.format(k): label for k, label in labels.items()}
    df = frames({"run": history}, smooth)[["step", "seed", *columns]].melt(
        id_vars=["step", "seed"], var_name="layer", value_name=name
    )
    df["layer"] = df["layer"].map(columns)
    return df.dropna(subset=[name]).reset_index(drop=True)


def final_text(
    runs: Mapping[str, History], metric: str = "test_acc", label: str = "held-out accuracy"
) -> str:
    """One HTML line with each run's final value (mean and range over seeds), for widgets; a
    run with diverged seeds says so."""
    parts = []
    for method, h in runs.items():
        v = h.final(metric)
        lost = int(h.diverged.sum())
        parts.append(
            f"<b>{method}</b>: {np.mean(v):.2%} ({np.min(v):.2%} to {np.max(v):.2%})"
            if not lost
            else f"<b>{method}</b>: {lost} of {len(v)} seeds diverged"
        )
    return f"Final {label}: " + "; ".join(parts)


def steps_to(history: History, metric: str, threshold: float, smooth: int = 25) -> np.ndarray:
    """Per seed, the first training step at which the running mean (over ``smooth`` steps) of a
    per-step metric falls to ``threshold`` or below; ``inf`` for a seed that never does; NaN for
    a seed that diverged, before or after (a lost seed, which counts against a claim's method)."""
    values = pd.DataFrame(history.train[metric]).rolling(smooth, min_periods=smooth).mean()
    below = (values <= threshold).to_numpy()
    first = np.where(below.any(0), below.argmax(0), -1)
    steps = np.where(first >= 0, history.steps[np.maximum(first, 0)], np.inf).astype(float)
    return np.where(history.diverged, np.nan, steps)


def eval_at(history: History, metric: str, steps: np.ndarray) -> np.ndarray:
    """Per seed, an evaluation metric at the first evaluation at or after ``steps[seed]`` (e.g.
    the held-out accuracy when the training loss first reached a threshold: a comparison at
    matched training loss); NaN where that step is ``inf`` or after the run's last evaluation."""
    steps = np.asarray(steps, dtype=float)
    out = np.full(len(steps), np.nan)
    values = history.evals[metric]
    for s, step in enumerate(steps):
        later = np.flatnonzero(history.eval_steps >= step) if np.isfinite(step) else []
        if len(later):
            out[s] = values[later[0], s]
    return out


def per_layer_frame(
    values: Mapping[str, np.ndarray], value: str, layers: Sequence[int] | None = None
) -> pd.DataFrame:
    """Long form of per-layer numbers: ``values[method]`` is (S, L); one row per (method,
    seed index, layer), layers numbered 1..L unless given."""
    rows = []
    for method, v in values.items():
        v = np.asarray(v)
        names = list(layers) if layers is not None else list(range(1, v.shape[1] + 1))
        for s in range(v.shape[0]):
            rows.append(pd.DataFrame({"method": method, "seed": s, "layer": names, value: v[s]}))
    return pd.concat(rows, ignore_index=True)
