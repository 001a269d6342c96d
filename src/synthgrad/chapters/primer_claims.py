"""Chapter 1's claims and the numbers its prose quotes, decided on final held-out accuracies.

Pure functions of per-seed accuracies (no training, no store reading), so that tests decide
every claim on constructed numbers: the book run's C1.1-C1.3 (:func:`claims`), the store's
C1.4p (:func:`claim_dni_table`) and the verdicts of record C1.1p, C1.2p, C1.3p
(:func:`stored_claims`), and :func:`numbers`. The runs, the store reading and
:func:`~synthgrad.chapters.primer.finish` are in :mod:`synthgrad.chapters.primer`, which imports
what it shares from here (this module imports nothing from it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import analysis, ledger, stats
from ..verdict import Verdict
from .dni_table import MIDDLE, MIDDLE_DEPTHS, complete_depths
from .middle_dni import DNI as MIDDLE_DNI

CONTROL = {
    "middle": analysis.CONTROL,
    "every layer": analysis.CONTROL_EVERY,
}
# the store's DNI-paper table (experiment 01_dni_table): the methods of a complete depth
STORED_METHODS = {"backprop": ("backprop", False), "DNI": ("sg_every", False),
                  "cDNI": ("sg_every", True), analysis.CONTROL_EVERY: ("frozen_every", False)}  # fmt: skip
STORED = tuple(STORED_METHODS)


def _dni(dni_acc: Mapping[tuple[int, str], np.ndarray]) -> dict[str, Any]:
    """What C1.4p decides on: the depths the store holds in full, the mean error of each run (a
    diverged seed makes its mean NaN), and cDNI minus its control per seed (points)."""
    depths = complete_depths(dni_acc, STORED)
    mean_error = {
        (d, m): float(np.mean(100 * (1 - np.asarray(acc))))
        for (d, m), acc in sorted(dni_acc.items())
    }
    over = {d: 100 * (dni_acc[d, "cDNI"] - dni_acc[d, analysis.CONTROL_EVERY]) for d in depths}
    return dict(depths=depths, mean_error=mean_error, over=over)


def _paired(acc: Mapping[str, np.ndarray]) -> tuple[dict, dict]:
    """Per placement (``"middle"``, ``"every layer"``), paired by seed: the cDNI SG minus its
    control, and the cDNI SG minus the DNI SG (what the label adds)."""
    over = {place: acc[f"SG {place}, cDNI"] - acc[CONTROL[place]] for place in CONTROL}
    gain = {place: acc[f"SG {place}, cDNI"] - acc[f"SG {place}, DNI"] for place in CONTROL}
    return over, gain


def _span(values: Sequence[Any]) -> tuple[float, float]:
    """The lowest and highest of ``values`` (numbers or arrays), NaN if any is NaN (a diverged
    seed is no measurement, wherever it falls in the order) or there are none."""
    flat = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in values] or [[np.nan]])
    return float(flat.min()), float(flat.max())


def numbers(
    acc: Mapping[str, np.ndarray],
    dni_acc: Mapping[tuple[int, str], np.ndarray] | None = None,
    middle: Mapping[tuple[int, str], np.ndarray] | None = None,
    middle_loss: Mapping[tuple[int, str], np.ndarray] | None = None,
) -> dict[str, Any]:
    """The numbers the chapter's prose quotes, from each method's final held-out accuracy per
    seed (``acc``), the store's table (``dni_acc``, :func:`stored_accuracy`) and the depth
    sweep's runs with one SG in the middle with the unconditioned middle SG's (``middle``;
    ``middle_loss``: the sweep's training loss, :func:`.dni_table.middle_train_loss`)."""
    mean = {name: float(np.mean(v)) for name, v in acc.items()}
    over, gain = _paired(acc)
    out = {
        "acc_backprop": mean["backprop"],
        "acc_sg_middle": mean["SG middle, cDNI"],
        "acc_sg_every": mean["SG every layer, cDNI"],
        "gap_middle_points": 100 * (mean["backprop"] - mean["SG middle, cDNI"]),
        "gain_middle_points": 100 * float(gain["middle"].mean()),
        "gain_every_points": 100 * float(gain["every layer"].mean()),
        "acc_frozen_middle": mean[CONTROL["middle"]],
        "acc_frozen_every": mean[CONTROL["every layer"]],
        "margin_middle_min": 100 * float(over["middle"].min()),
        "margin_middle_max": 100 * float(over["middle"].max()),
        "margin_every_min": 100 * float(over["every layer"].min()),
        "margin_every_max": 100 * float(over["every layer"].max()),
        "middle_depths": " and ".join(map(str, MIDDLE_DEPTHS)),  # the registered grids' depths
    }
    if dni_acc:
        over_dni = _dni(dni_acc)["over"].values()
        out["dni_margin_min"], out["dni_margin_max"] = _span([np.asarray(v) for v in over_dni])
    if mids := complete_depths(middle or {}, (MIDDLE[1], MIDDLE_DNI)):  # what C1.3p reads
        gain = [100 * float(np.mean(middle[d, MIDDLE[1]] - middle[d, MIDDLE_DNI])) for d in mids]
        out["middle_label_gain_min"], out["middle_label_gain_max"] = _span(gain)
    if depths := complete_depths(middle or {}, MIDDLE):
        over_bp = [
            100 * float(np.mean(middle[d, MIDDLE[1]] - middle[d, MIDDLE[0]])) for d in depths
        ]
        out["middle_over_bp_min"], out["middle_over_bp_max"] = _span(over_bp)
        loss = {k: float(np.mean(v)) for k, v in (middle_loss or {}).items()}
        out["middle_train_loss"] = (
            "; ".join(
                f"{d} hidden layers: {loss[d, MIDDLE[1]]:.3f} against {loss[d, MIDDLE[0]]:.3f}"
                for d in depths
                if (d, MIDDLE[0]) in loss and (d, MIDDLE[1]) in loss
            )
            or "(not in the store)"
        )
    return out


def _close_and_above(sg: np.ndarray, backprop: np.ndarray, control: np.ndarray) -> stats.Joint:
    """C1.1's and C1.1p's comparison, paired by seed: the middle SG within 2 points of backprop
    and more than a point above its control."""
    return stats.all_of(
        backprop=stats.paired(sg, backprop, margin=-0.02),
        control=stats.paired(sg, control, margin=0.01),
    )


def claims(
    acc: Mapping[str, np.ndarray],
    dni_acc: Mapping[tuple[int, str], np.ndarray] | None = None,
    dni_scale: str = "",
    middle: Mapping[tuple[int, str], np.ndarray] | None = None,
    middle_scale: str = "",
) -> list[ledger.Claim]:
    """The chapter's claims from each method's final held-out accuracy per seed (``acc``, keyed
    as :data:`~synthgrad.chapters.primer.METHODS`) and, where the store holds them, the DNI paper's table (``dni_acc``) and
    the depth sweep's runs with one SG in the middle (``middle``): C1.4p and the verdicts of
    record of C1.1-C1.3 (:func:`stored_claims`)."""
    gap_middle = float(np.mean(acc["backprop"]) - np.mean(acc["SG middle, cDNI"]))
    over, gain = _paired(acc)
    sg, every = acc["SG middle, cDNI"], acc["SG every layer, cDNI"]
    out = [
        ledger.Claim(
            "C1.1",
            "One SG in the middle of an MNIST MLP reaches held-out accuracy close to backprop's.",
            "final held-out accuracy, paired per seed: SG middle (cDNI) minus backprop; SG middle minus its control (layers below the SG frozen)",
            "95% interval of SG minus backprop above -2 percentage points, and of SG minus its control above +1 point",
            ledger.judge(_close_and_above(sg, acc["backprop"], acc[CONTROL["middle"]])),
            {
                "backprop": acc["backprop"],
                "sg_middle_cdni": sg,
                "gap": gap_middle,
                "control": acc[CONTROL["middle"]],
                "over_control": over["middle"],
            },
            source="DNI paper",
        ),
        ledger.Claim(
            "C1.2",
            "SGs after every hidden layer, with bootstrapped targets, still train the network.",
            "final held-out accuracy of SG every layer (cDNI) minus its control (no hidden layer learns: random features, trained output), paired per seed",
            "95% interval above +1 percentage point",
            ledger.judge(stats.paired(every, acc[CONTROL["every layer"]], margin=0.01)),
            {
                "sg_every_cdni": every,
                "control": acc[CONTROL["every layer"]],
                "over_control": over["every layer"],
            },
            source="DNI paper",
        ),
        ledger.Claim(
            "C1.3",
            "Conditioning the SG on the label (cDNI) helps compared with an unconditioned SG.",
            "paired (same seed) final held-out accuracy, cDNI minus DNI, for both placements",
            "95% interval above 0 in both placements",
            ledger.judge(
                {
                    place: stats.paired(acc[f"SG {place}, cDNI"], acc[f"SG {place}, DNI"])
                    for place in CONTROL
                },
                regime="cDNI better with the SG {held}; not shown with the SG {failed}",
            ),
            {f"gain_{k.replace(' ', '_')}": v for k, v in gain.items()},
            source="DNI paper",
        ),
    ]
    if dni_acc:
        out.append(claim_dni_table(dni_acc, dni_scale))
    return out + stored_claims(dni_acc or {}, dni_scale, middle or {}, middle_scale)


def stored_claims(
    dni_acc: Mapping[tuple[int, str], np.ndarray],
    dni_scale: str,
    middle: Mapping[tuple[int, str], np.ndarray],
    middle_scale: str,
) -> list[ledger.Claim]:
    """C1.1p, C1.2p, C1.3p: the verdicts of record of C1.1-C1.3 (BOOK.md section 6, "which
    run decides"), by the book run's own criteria, on the store's paper-scale runs at 5 seeds:
    one SG in the middle (``middle``: the depth sweep's, :func:`.dni_table.middle_accuracy`,
    with the unconditioned middle SG of :func:`.middle_dni.accuracy`) and an SG after every
    layer (``dni_acc``: the DNI table, :func:`dni_evidence`); each at every depth the store
    holds in full, and only where it does (C1.3p: only where it holds both placements)."""
    out = []
    mid = dict(zip(("backprop", "SG", "control"), MIDDLE, strict=True))
    if depths := complete_depths(middle, MIDDLE):
        ends = {(d, k): middle[d, m] for d in depths for k, m in mid.items()}
        out.append(
            ledger.Claim(
                "C1.1p",
                "One SG in the middle of an MNIST MLP reaches held-out accuracy close to backprop's (at the paper's scale).",
                "paper-scale store, final held-out accuracy paired per seed at each depth it holds: SG middle (cDNI) minus backprop; SG middle minus its control (layers below the SG frozen)",
                "as C1.1: 95% interval of SG minus backprop above -2 percentage points, and of SG minus its control above +1 point, at every such depth",
                _by_depth(
                    {
                        d: _close_and_above(ends[d, "SG"], ends[d, "backprop"], ends[d, "control"])
                        for d in depths
                    }
                ),
                {f"{d} {k}": ends[d, k] for d in depths for k in mid},
                source="DNI paper",
                scale=middle_scale,
            )
        )
    if depths := complete_depths(dni_acc, STORED):
        every = {d: dni_acc[d, "cDNI"] for d in depths}
        out += [
            ledger.Claim(
                "C1.2p",
                "SGs after every hidden layer, with bootstrapped targets, still train the network (at the paper's scale).",
                "paper-scale store, at each depth it holds in full: final held-out accuracy of SG every layer (cDNI) minus its control (no hidden layer learns), paired per seed",
                "as C1.2: 95% interval above +1 percentage point, at every such depth",
                _by_depth(
                    {
                        d: stats.paired(every[d], dni_acc[d, analysis.CONTROL_EVERY], margin=0.01)
                        for d in depths
                    }
                ),
                {f"{d} cDNI": every[d] for d in depths}
                | {f"{d} control": dni_acc[d, analysis.CONTROL_EVERY] for d in depths},
                source="DNI paper",
                scale=dni_scale,
            ),
        ]
    cdni, dni = MIDDLE[1], MIDDLE_DNI
    if (mids := complete_depths(middle, (cdni, dni))) and (
        everys := complete_depths(dni_acc, STORED)
    ):
        parts = {f"middle ({d})": stats.paired(middle[d, cdni], middle[d, dni]) for d in mids}
        for d in everys:
            parts[f"every layer ({d})"] = stats.paired(dni_acc[d, "cDNI"], dni_acc[d, "DNI"])
        out.append(
            ledger.Claim(
                "C1.3p",
                "Conditioning the SG on the label (cDNI) helps compared with an unconditioned SG (at the paper's scale).",
                "paper-scale store, at each depth it holds in full: final held-out accuracy, cDNI minus DNI, paired per seed, with one SG in the middle (DNI: store/01_middle_dni; cDNI: the depth sweep's) and with an SG after every layer (the DNI table)",
                "as C1.3: 95% interval above 0 in both placements, at every such depth",
                ledger.judge(
                    parts,
                    regime="SG placement (hidden layers): holds at {held}; not shown at {failed}",
                ),
                {f"middle {d} {m}": middle[d, m] for d in mids for m in (cdni, dni)}
                | {f"every layer {d} {m}": dni_acc[d, m] for d in everys for m in ("cDNI", "DNI")},
                source="DNI paper",
                scale=f"one SG in the middle: {middle_scale} (DNI: store/01_middle_dni); an SG after every layer: {dni_scale}",
            )
        )
    return out


def _by_depth(parts: Mapping[int, Any]) -> Verdict:
    """A stored claim judged at each depth the store holds in full (C1.1p-C1.4p): it holds in
    part where some depths hold, and the page names them."""
    return ledger.judge(
        parts,
        regime="the store's complete depths: {depths} hidden layers; holds at {held}; not shown at {failed}",
        depths=ledger.listing(list(parts)),
    )


def claim_dni_table(dni_acc: Mapping[tuple[int, str], np.ndarray], scale: str) -> ledger.Claim:
    """C1.4p: the DNI paper's MNIST table, judged at every depth the store holds in full."""
    d = _dni(dni_acc)
    err = d["mean_error"]
    parts = {  # the table's three comparisons at each depth the store holds in full, per seed
        depth: stats.all_of(
            backprop=stats.paired(dni_acc[depth, "cDNI"], dni_acc[depth, "backprop"], margin=-0.01),
            DNI=stats.paired(dni_acc[depth, "cDNI"], dni_acc[depth, "DNI"]),
            control=stats.paired(
                dni_acc[depth, "cDNI"], dni_acc[depth, analysis.CONTROL_EVERY], margin=0.01
            ),
        )
        for depth in d["depths"]
    }
    verdict = _by_depth(parts)
    return ledger.Claim(
        "C1.4p",
        "With an SG after every layer, cDNI trains MLPs of 3 to 6 hidden layers to about backprop's error; DNI, without the label, does worse.",
        "paper-scale store, at every depth it holds all four runs, final held-out accuracy paired per seed: cDNI minus backprop, cDNI minus DNI, cDNI minus its control (no hidden layer learns)",
        "95% intervals: cDNI minus backprop above -1 percentage point, cDNI minus DNI above 0, cDNI minus its control above +1 point, at every such depth",
        verdict,
        {
            "mean_error": {f"{depth} {m}": v for (depth, m), v in err.items()},
            "depths": d["depths"],
            "cdni_over_control_points": d["over"],
        },
        source="DNI paper",
        scale=scale,
    )
