"""Chapter 5's claims and the numbers its prose quotes, decided on the chapter's measurements.

What the claims and numbers decide on (:class:`Sweep` for the sweep, :class:`Wide` for section
(c2): plain per-seed arrays), the per-depth and per-activation results both read
(:func:`sweep_results`, :func:`wide_results`, :func:`matched_gap`), :func:`numbers` and
:func:`claims`; the claims at the paper's scale come from
:mod:`synthgrad.chapters.representations_store`. Pure functions, so that tests decide every
claim on constructed measurements without training. The runs, and the functions that reduce
them to :class:`Sweep` and :class:`Wide`, are in :mod:`synthgrad.chapters.representations`,
which imports what it shares from here (this module imports nothing from it); the methods'
names are in :mod:`synthgrad.chapters.representations_methods`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from .. import ledger, stats
from . import representations_store as paper_store
from .representations_methods import (
    ACTIVATIONS,
    CONTROL,
    EVERY,
    Key,
    methods,
    sg_block,
    sg_name,
    wide_methods,
)

FULL_DEPTHS, FULL_STEPS = [5, 10, 20, 50], 10_000  # the full-scale command in the text


# ---- what the claims and numbers decide on ---------------------------------------------------


@dataclass
class Sweep:
    """The sweep's measurements the claims and numbers use, per (depth, method), per seed:
    plain arrays, so that tests can build them without training."""

    acc: dict[Key, np.ndarray]  # final held-out accuracy, every method
    diverged: dict[Key, np.ndarray]  # whether each seed diverged, every method
    steps: dict[Key, np.ndarray]  # steps to the loss threshold (inf: never), compared methods
    acc_at: dict[Key, np.ndarray]  # held-out accuracy when the loss reached the threshold
    mean_sim: dict[Key, np.ndarray]  # RDM similarity to the output, mean over hidden layers
    below_sim: dict[Key, np.ndarray]  # the same over the hidden layers below the SG
    slopes: dict[Key, np.ndarray]  # slope of the effective-weight norms, hidden layers 2 to L
    below_slope: dict[Key, float]  # mean slope over layers 2 to the SG's (NaN: too few)
    probes: dict[Key, np.ndarray]  # (seeds, layers): linear probe accuracy of each layer
    seconds: dict[Key, float]  # wall-clock seconds of each run
    moved: pd.DataFrame  # :func:`weight_moved`
    pixels: float  # a linear probe on the pixels (:func:`synthgrad.representations.pixel_probe`)


@dataclass
class Wide:
    """Section (c2)'s measurements per (activation, method), per seed."""

    below_sim: dict[Key, np.ndarray]  # RDM similarity to the output below the middle SG
    slopes: dict[Key, np.ndarray]  # slope of the effective-weight norms, hidden-to-hidden
    diverged: dict[Key, int]  # diverged seeds

    @property
    def slope(self) -> dict[Key, float]:
        """The norm slope, mean over seeds."""
        return {key: float(v.mean()) for key, v in self.slopes.items()}


# ---- numbers and claims ------------------------------------------------------------------------


def _where(keys: Sequence[Any], flags: Mapping[Any, bool], none: str = "none") -> str:
    """The keys whose flag is set, as the page lists them."""
    return ledger.listing([k for k in keys if flags[k]], none)


def sweep_results(p: SimpleNamespace, s: Sweep) -> dict[str, Any]:
    """The sweep's per-depth results that both the claims and the numbers use."""
    sg = sg_name(p.conditioned)
    sg_acc = np.stack([s.acc[d, sg] for d in p.depths])  # (depths, seeds)
    control_acc = np.stack([s.acc[d, CONTROL] for d in p.depths])
    over_control = sg_acc - control_acc  # paired by seed
    sim_gap = {d: s.below_sim[d, "backprop"] - s.below_sim[d, sg] for d in p.depths}
    return dict(
        sg=sg,
        sg_acc=sg_acc,
        control_acc=control_acc,
        over_control=over_control,
        sg_diverged=int(sum(s.diverged[d, sg].sum() for d in p.depths)),
        margin_ok={d: bool((over_control[i] >= 0.01).all()) for i, d in enumerate(p.depths)},
        # steps to the threshold, per seed (paired): SG faster on every seed? and did backprop
        # get there at all (a baseline that never reaches the threshold is named, not compared)?
        bp_converged={d: bool(np.isfinite(s.steps[d, "backprop"]).all()) for d in p.depths},
        faster={d: bool((s.steps[d, sg] < s.steps[d, "backprop"]).all()) for d in p.depths},
        slower={d: bool((s.steps[d, sg] > s.steps[d, "backprop"]).all()) for d in p.depths},
        sim_gap=sim_gap,
        # a diverged seed (NaN, or an infinite value) counts against the claim
        scattered={d: ledger.every(sim_gap[d], sim_gap[d] > 0) for d in p.depths},
        reversed={d: bool((sim_gap[d] < 0).all()) for d in p.depths},
        slope_mean={k: float(v.mean()) for k, v in s.slopes.items()},
    )


def wide_results(w: Wide, sg: str) -> dict[str, Any]:
    """Section (c2)'s per-activation results that both the claims and the numbers use."""
    slope = w.slope
    gap = {act: w.below_sim[act, "backprop"] - w.below_sim[act, sg] for act in ACTIVATIONS}
    return dict(
        slope=slope,
        gap=gap,
        scattered={act: ledger.every(gap[act], gap[act] > 0) for act in ACTIVATIONS},
        reversed={act: bool((gap[act] < 0).all()) for act in ACTIVATIONS},
        norms_ok={
            act: ledger.every(w.slopes[act, "backprop"], slope[act, "backprop"] > 0)
            and ledger.every(w.slopes[act, sg], slope[act, sg] < 0)
            for act in ACTIVATIONS
        },
    )


def _per_step_ms(p: SimpleNamespace, s: Sweep, sg: str) -> dict[int, float]:
    """Wall-clock per step of one run on one core, evaluations included, per depth."""
    return {
        d: 1000 * (s.seconds[d, "backprop"] + s.seconds[d, sg]) / (2 * p.steps) for d in p.depths
    }


def matched_gap(p: SimpleNamespace, s: Sweep) -> dict[int, np.ndarray]:
    """Per depth and seed, SG minus backprop held-out accuracy at matched training loss."""
    sg = sg_name(p.conditioned)
    return {d: s.acc_at[d, sg] - s.acc_at[d, "backprop"] for d in p.depths}


def numbers(
    p: SimpleNamespace, s: Sweep, w: Wide, paper: paper_store.Paper | None = None
) -> dict[str, Any]:
    """The numbers the chapter's prose quotes, from the sweep (``s``), section (c2) (``w``) and
    the store (``paper``, where there is one)."""
    v, wv = sweep_results(p, s), wide_results(w, sg_name(p.conditioned))
    sg, sg_acc, control_acc = v["sg"], v["sg_acc"], v["control_acc"]
    over_control = v["over_control"]
    deepest = max(p.depths)
    per_step_ms = _per_step_ms(p, s, sg)
    # a straight line through the sweep's depths, for the full-scale estimate
    ms_line = np.polyfit(p.depths, [per_step_ms[d] for d in p.depths], 1)
    full_core_minutes = (
        len(methods(p)) * sum(FULL_STEPS * np.polyval(ms_line, d) for d in FULL_DEPTHS) / 1000 / 60
    )
    matched_pairs = np.concatenate([g[np.isfinite(g)] for g in matched_gap(p, s).values()])
    n_pairs = len(p.depths) * p.n_seeds
    rules_ = (("bp", "backprop"), ("sg", sg), ("every", EVERY), ("dfa", "DFA"))
    out = {
        "sg_after": str(sg_block(p.rdm_depth) + 1),
        "deepest": deepest,
        "sg_acc_min": float(sg_acc.min()),
        "sg_acc_deep": float(sg_acc[-1].mean()),
        "bp_acc_deep": float(s.acc[deepest, "backprop"].mean()),
        "n_faster": sum(v["faster"].values()),
        "n_depths": len(p.depths),
        "faster_at": _where(p.depths, v["faster"]),
        "slower_at": _where(p.depths, v["slower"]),
        "bp_unconverged": _where(p.depths, {d: not c for d, c in v["bp_converged"].items()}),
        "control_acc_deep": float(control_acc[-1].mean()),
        "margin_min": 100 * float(over_control.min()),
        "margin_max": 100 * float(over_control.max()),
        "margin_at": _where(p.depths, v["margin_ok"]),
        "scattered_at": _where(p.depths, v["scattered"]),
        "reversed_at": _where(p.depths, v["reversed"]),
        "below_bp_deep": s.below_slope[deepest, "backprop"],
        "below_sg_deep": s.below_slope[deepest, sg],
        "sim_bp_deep": float(s.mean_sim[deepest, "backprop"].mean()),
        "sim_sg_deep": float(s.mean_sim[deepest, sg].mean()),
        "below_sim_bp_deep": float(s.below_sim[deepest, "backprop"].mean()),
        "below_sim_sg_deep": float(s.below_sim[deepest, sg].mean()),
        "slope_bp_deep": v["slope_mean"][deepest, "backprop"],
        "slope_sg_deep": v["slope_mean"][deepest, sg],
        "probe_bp_low": float(s.probes[deepest, "backprop"][:, 0].mean()),
        "probe_sg_low": float(s.probes[deepest, sg][:, 0].mean()),
        "probe_pixels": s.pixels,
        "moved_bp": float(s.moved["backprop"].mean()),
        "moved_sg": float(s.moved[sg].mean()),
        "ms_deep": float(per_step_ms[deepest]),
        "ms_50": float(np.polyval(ms_line, 50)),
        "full_core_minutes": float(full_core_minutes),
        "full_runs": len(FULL_DEPTHS) * len(methods(p)),
        "full_passes": FULL_STEPS * p.batch_size / 60_000,
        "wide_depth_text": f"{p.wide_depth} x {p.wide_width}",
        "n_methods": len(methods(p)),
        "matched_n": len(matched_pairs),
        "matched_of": n_pairs,
        "matched_min": 100 * float(matched_pairs.min()) if len(matched_pairs) else float("nan"),
        "matched_max": 100 * float(matched_pairs.max()) if len(matched_pairs) else float("nan"),
        "matched_median": 100 * float(np.median(matched_pairs)) if len(matched_pairs) else float("nan"),
        "wide_scattered_at": _where(ACTIVATIONS, wv["scattered"], "neither"),
        "wide_reversed_at": _where(ACTIVATIONS, wv["reversed"], "neither"),
        "wide_norms_at": _where(ACTIVATIONS, wv["norms_ok"], "neither"),
        "wide_diverged": sum(w.diverged.values()),
        **{f"wide_sim_{a}_{k}": float(w.below_sim[a, m].mean()) for a in ACTIVATIONS for k, m in rules_},
        **{f"wide_slope_{a}_{k}": wv["slope"][a, m] for a in ACTIVATIONS for k, m in rules_},
    }  # fmt: skip
    return out | paper_store.numbers(paper, paper_store.THRESHOLD)


def _faster(sg: np.ndarray, backprop: np.ndarray, budget: int) -> stats.Paired:
    """Fewer steps to the loss threshold for the SG than for backprop, paired per seed (a seed
    the SG never got there fails it; one backprop never got there counts as its whole run of
    ``budget`` steps where the SG got there, as C5.2p's does: a run that never gets there is
    slower than any that does, :func:`synthgrad.stats.never_sooner`)."""
    backprop = stats.never_sooner(sg, backprop, np.full(np.shape(backprop), float(budget)))
    return stats.paired(sg, backprop, higher=False, lost="never reached the threshold")


def scattered(sg: np.ndarray, backprop: np.ndarray) -> stats.Paired:
    """The SG's layers less similar to the output than backprop's, paired per seed (the SG is
    the claim's method: a seed it lost fails the comparison)."""
    return stats.paired(sg, backprop, higher=False)


def norm_pattern(backprop: np.ndarray, sg: np.ndarray) -> stats.Joint:
    """C5.4's pattern from per-seed norm slopes: rising under backprop, falling under the SG."""
    return stats.all_of(
        backprop=stats.paired(backprop, np.zeros_like(backprop)),
        SG=stats.paired(sg, np.zeros_like(sg), higher=False),
    )


def claims(
    p: SimpleNamespace, s: Sweep, w: Wide, paper: paper_store.Paper | None = None
) -> list[ledger.Claim]:
    """The chapter's claims: C5.1 to C5.4 on the sweep (``s``), the same at the paper's scale
    from the store per activation (``paper``: C5.1p, C5.2p, C5.1p-tanh, ...), and C5.3 and
    C5.4 at the paper's width (``w``: C5.3w, C5.4w)."""
    v = sweep_results(p, s)
    sg, slope_mean, deepest = v["sg"], v["slope_mean"], max(p.depths)
    out = [
        ledger.Claim(
            "C5.1",
            "ReLU MLPs with one SG in the middle converge well even with many hidden layers.",
            "final held-out accuracy of the SG network minus its control (layers below the SG frozen at initialisation), paired per seed, at every depth; decided at the deepest (the claim is about many hidden layers)",
            "95% interval above +1 percentage point at the deepest depth (and where else it is, the page says)",
            ledger.judge(
                {d: stats.paired(s.acc[d, sg], s.acc[d, CONTROL], margin=0.01) for d in p.depths},
                decides=[deepest],
                regime="decided at {deepest} hidden layers; more than 1 point above the control at depths {held}; not shown at {failed}",
                deepest=deepest,
            ),
            {
                "depths": p.depths,
                "sg_final_acc": v["sg_acc"],
                "control_final_acc": v["control_acc"],
                "over_control": v["over_control"],
                "diverged": v["sg_diverged"],
            },
        ),
        ledger.Claim(
            "C5.2",
            "SG networks converge faster than backprop.",
            f"per seed (paired), the steps until the running training loss reaches {p.loss_threshold:g}, at every depth; a seed on which backprop never gets there counts as its whole run ({p.steps:,} steps) where the SG got there (a run that never gets there is slower than any that does), and its depth is named (its baseline has not converged)",
            "95% interval of backprop's steps minus the SG's above 0, at every depth",
            ledger.judge(
                {d: _faster(s.steps[d, sg], s.steps[d, "backprop"], p.steps) for d in p.depths},
                regime="SG faster at depths {held}; slower at {reversed}; undecided at {undecided}; the SG not at the threshold on some seed at {short}; backprop not at the threshold within the budget on some seed at {unconverged}",
                unconverged=_where(p.depths, {d: not c for d, c in v["bp_converged"].items()}),
            ),
            {
                "depths": p.depths,
                "steps_backprop": [s.steps[d, "backprop"] for d in p.depths],
                "steps_sg": [s.steps[d, sg] for d in p.depths],
                "backprop_reached_threshold": v["bp_converged"],
            },
        ),
        ledger.Claim(
            "C5.3",
            "Under backprop every layer's RDM is close to the last layer's; under SG the representations are more scattered.",
            "mean over the hidden layers below the SG (those that learn from it) of the RDM similarity (Spearman) to the output layer, per seed, at every depth",
            "95% interval of backprop's similarity minus the SG's (paired per seed) above 0 at every depth",
            ledger.judge(
                {d: scattered(s.below_sim[d, sg], s.below_sim[d, "backprop"]) for d in p.depths},
                regime="more scattered under SG at depths {held}; reversed at {reversed}; undecided at {undecided}",
            ),
            {
                "depths": p.depths,
                "backprop_below_sg": [s.below_sim[d, "backprop"] for d in p.depths],
                "sg_below_sg": [s.below_sim[d, sg] for d in p.depths],
                "backprop_all_layers": [s.mean_sim[d, "backprop"] for d in p.depths],
                "sg_all_layers": [s.mean_sim[d, sg] for d in p.depths],
            },
        ),
        ledger.Claim(
            "C5.4",
            "Backprop weight norms rise slowly towards the output; SG weight norms start high and decrease towards the output.",
            "slope of the effective-weight Frobenius norm against layer index over hidden layers 2 to L, per seed",
            "95% interval of the slope above 0 for backprop and below 0 for SG, at every depth",
            ledger.judge(
                {d: norm_pattern(s.slopes[d, "backprop"], s.slopes[d, sg]) for d in p.depths},
                regime="the pattern holds at depths {held}; not shown at {failed}",
            ),
            {
                "depths": p.depths,
                "slope_backprop": [slope_mean[d, "backprop"] for d in p.depths],
                "slope_sg": [slope_mean[d, sg] for d in p.depths],
            },
        ),
    ]
    out += paper_store.claims(paper, paper_store.THRESHOLD)
    wide_scale = (
        f"book run: MNIST {p.scale}, width {p.wide_width}, {p.wide_depth} hidden layers, "
        f"ReLU and tanh, {p.wide_steps} steps, {p.n_seeds} seeds"
    )
    out += [
        ledger.Claim(
            "C5.3w",
            "Under backprop every layer's RDM is close to the last layer's; under SG the representations are more scattered (at the paper's width, both activations).",
            f"as C5.3, on the {p.wide_depth} x {p.wide_width} networks of section (c2), for ReLU and for tanh",
            "95% interval of backprop's similarity minus the SG's (paired per seed) above 0, for both activations",
            ledger.judge(
                {a: scattered(w.below_sim[a, sg], w.below_sim[a, "backprop"]) for a in ACTIVATIONS},
                regime="more scattered under SG with {held}; reversed with {reversed}; undecided with {undecided}",
                none="neither",
            ),
            {act: {"backprop": w.below_sim[act, "backprop"], "sg": w.below_sim[act, sg],
                   "sg_every": w.below_sim[act, EVERY], "dfa": w.below_sim[act, "DFA"]}
             for act in ACTIVATIONS},
            scale=wide_scale,
        ),
        ledger.Claim(
            "C5.4w",
            "Backprop weight norms rise slowly towards the output; SG weight norms start high and decrease towards the output (at the paper's width, both activations).",
            f"as C5.4, on the {p.wide_depth} x {p.wide_width} networks of section (c2), for ReLU and for tanh",
            "95% interval of the slope above 0 for backprop and below 0 for SG, for both activations",
            ledger.judge(
                {a: norm_pattern(w.slopes[a, "backprop"], w.slopes[a, sg]) for a in ACTIVATIONS},
                regime="the pattern holds with {held}; not shown with {failed}",
                none="neither",
            ),
            {act: {m: w.slope[act, m] for m in wide_methods(p)} for act in ACTIVATIONS},
            scale=wide_scale,
        ),
    ]  # fmt: skip
    return out
