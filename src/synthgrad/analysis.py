"""Summaries of training runs over seeds: long-form tables for plots, final values, per-layer
metrics, and when a run reached a threshold. What a trained network's layers look like
(RDMs, weight norms, probes) is in :mod:`synthgrad.representations`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .train import History


def long_form(runs: Mapping[str, History], metric: str, smooth: int = 1) -> pd.DataFrame:
    """One row per (method, seed, step) for a metric, ready for a seaborn line plot with bands.

    ``metric`` is looked up in the evaluation log first, then in the per-step training log;
    ``smooth`` > 1 takes a running mean over that many records (for noisy per-step metrics)."""
    rows = []
    for method, h in runs.items():
        if metric in h.evals:
            steps, values = h.eval_steps, h.evals[metric]
        elif metric in h.train:
            steps, values = h.steps, h.train[metric]
        else:
            raise KeyError(f"{metric!r} not recorded for {method!r}")
        if smooth > 1:
            values = pd.DataFrame(values).rolling(smooth, min_periods=1).mean().to_numpy()
        for j, seed in enumerate(h.seeds):
            rows.append(
                pd.DataFrame({"method": method, "seed": seed, "step": steps, metric: values[:, j]})
            )
    return pd.concat(rows, ignore_index=True)


def final_summary(runs: Mapping[str, History], metric: str) -> pd.DataFrame:
    """Mean, standard deviation, min and max over seeds of a metric's last evaluation."""
    rows = []
    for method, h in runs.items():
        v = h.final(metric)
        rows.append(
            {
                "method": method,
                "mean": np.nanmean(v),
                "std": np.nanstd(v),
                "min": np.nanmin(v),
                "max": np.nanmax(v),
                "seeds": len(v),
                "diverged": int(h.diverged.sum()),
            }
        )
    return pd.DataFrame(rows).set_index("method")


def per_layer(
    history: History, prefix: str, labels: Mapping[int, str], smooth: int = 1
) -> pd.DataFrame:
    """Long form of per-layer training metrics ``<prefix><k>`` (e.g. each SG's regression loss),
    one ``method`` per layer label, optionally smoothed by a running mean of ``smooth`` steps."""
    frames = []
    for k, label in labels.items():
        df = long_form({label: history}, f"{prefix}{k}").rename(
            columns={f"{prefix}{k}": prefix.rstrip("_")}
        )
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    col = prefix.rstrip("_")
    out[col] = out.groupby(["method", "seed"])[col].transform(
        lambda v: v.rolling(smooth, min_periods=1).mean()
    )
    return out


def final_text(
    runs: Mapping[str, History], metric: str = "test_acc", label: str = "held-out accuracy"
) -> str:
    """One HTML line with each run's final value (mean and range over seeds), for widgets."""
    parts = []
    for method, h in runs.items():
        v = h.final(metric)
        parts.append(
            f"<b>{method}</b>: {np.nanmean(v):.2%} ({np.nanmin(v):.2%} to {np.nanmax(v):.2%})"
        )
    return f"Final {label}: " + "; ".join(parts)


def steps_to(history: History, metric: str, threshold: float, smooth: int = 25) -> np.ndarray:
    """Per seed, the first training step at which the running mean (over ``smooth`` steps) of a
    per-step metric falls to ``threshold`` or below; ``inf`` for a seed that never does (or
    diverged first)."""
    values = pd.DataFrame(history.train[metric]).rolling(smooth, min_periods=smooth).mean()
    below = (values <= threshold).to_numpy()
    first = np.where(below.any(0), below.argmax(0), -1)
    return np.where(first >= 0, history.steps[np.maximum(first, 0)], np.inf).astype(float)


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
