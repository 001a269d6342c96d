"""Summaries of training runs over seeds (later chapters add RDMs, norms, probes here)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .train import History


def long_form(runs: Mapping[str, History], metric: str) -> pd.DataFrame:
    """One row per (method, seed, step) for a metric, ready for a seaborn line plot with bands.

    ``metric`` is looked up in the evaluation log first, then in the per-step training log."""
    rows = []
    for method, h in runs.items():
        if metric in h.evals:
            steps, values = h.eval_steps, h.evals[metric]
        elif metric in h.train:
            steps, values = h.steps, h.train[metric]
        else:
            raise KeyError(f"{metric!r} not recorded for {method!r}")
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
