"""Chapter 8's claims and the numbers its prose quotes, decided on plain arrays and logs.

The scores (:func:`scores`: the longest Copy length each run solved; :func:`lm_final`: held-out
bits per character), Table 3 (:func:`where_stuck`, :func:`stuck_text`: where each run ended,
the diagnosis of a tie), the SG's alignment (:func:`sg_cosine`), :func:`numbers` and
:func:`claims`. Pure functions of the curricula's logs and of arrays, so that tests decide
every claim without training; the runs are in :mod:`synthgrad.chapters.in_time`, which
imports what it shares from here (this module imports nothing from it).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from .. import analysis, curricula, ledger, recurrent, stats

# the methods compared at each truncation T: name on the page -> curricula.copy_curriculum's
METHODS = {"truncated BPTT": "bptt", "DNI": "dni"}
CEILING = "full BPTT"  # no truncation: the ceiling, one run per seed
ORACLE_TOL, APART = 1e-5, 1e-3  # the oracle identity: float rounding; truncated BPTT: apart
STUCK_LAST = 100  # batches: where a run ended, its error over its last batches (Table 3)

Logs = dict[tuple[str, int | None], list[dict[str, list[float]]]]  # (method, T) -> per seed
LM = dict[tuple[str, int], list[dict[str, list[float]]]]  # (method, T) -> per seed


def lm_final(lm: LM) -> dict[tuple[str, int], np.ndarray]:
    """Per (method, T), each seed's held-out bits per character at the end: the mean of its
    last :data:`synthgrad.analysis.LAST` evaluations, so that one evaluation does not decide
    (NaN: the run diverged)."""
    return {k: np.array([np.mean(g["valid_bpc"][-analysis.LAST :]) for g in v], dtype=float)
            for k, v in lm.items()}  # fmt: skip


def scores(logs: Logs, threshold: float) -> dict[tuple[str, int | None], np.ndarray]:
    """Per (method, T), each seed's longest Copy length solved (NaN: the run diverged)."""
    return {
        k: np.array([curricula.longest_solved(g, threshold) for g in v]) for k, v in logs.items()
    }


def score_table(
    score: Mapping[tuple[str, int | None], np.ndarray], p: SimpleNamespace
) -> pd.DataFrame:
    """The longest length solved, a row per T (the ceiling: no T), a column per method; each
    cell: the seeds' values."""
    rows = {}
    for T in p.truncations:
        rows[f"T = {T}"] = {m: seed_values(score[m, T]) for m in METHODS}
    rows["no truncation"] = {CEILING: seed_values(score[CEILING, None])}
    return pd.DataFrame(rows).T.fillna("")


def _diverged(log: dict[str, list[float]]) -> bool:
    """Whether a curriculum diverged: its error became NaN or inf somewhere."""
    return not np.isfinite(log["error"]).all()


def _error_at_end(log: dict[str, list[float]], last: int) -> float:
    """A curriculum's mean error over its last ``last`` batches at the length it ended on
    (NaN: the run diverged)."""
    if _diverged(log):
        return float("nan")
    end = log["n"][-1]
    return float(
        np.mean([e for n, e in zip(log["n"], log["error"], strict=True) if n == end][-last:])
    )


def _last_cosine(log: dict[str, list[float]]) -> float:
    """A DNI run's SG cosine at its last probe (NaN: none, or its sequence fit one window)."""
    return float(log["sg_cosine"][-1]) if log["sg_cosine"] else float("nan")


def _values(v: list[float], missing: str) -> str:
    return ", ".join(missing if not np.isfinite(x) else f"{x:.2f}" for x in v)


def _cosines(runs: list[dict[str, list[float]]]) -> str:
    """Each DNI seed's SG cosine at its last probe, for Table 3: "diverged" where the run
    diverged (whatever its last probe read), "n/a" where no probe crossed a window boundary."""
    return ", ".join(
        "diverged" if _diverged(g)
        else _values([_last_cosine(g)], "n/a")
        for g in runs
    )  # fmt: skip


def tie_remedy(pairs: Mapping[int, tuple[np.ndarray, np.ndarray]]) -> str:
    """What would settle a comparison of longest lengths per T (``pairs``: T -> (DNI's,
    truncated BPTT's) per seed) where the two tie on every seed: a longer budget there."""
    return "; ".join(
        f"a budget long enough for the lengths to differ at T = {T}"
        for T, (a, b) in pairs.items()
        if np.array_equal(a, b)
    )


def where_stuck(logs: Logs, last: int = STUCK_LAST) -> pd.DataFrame:
    """Where each Copy run ended and how close it came there (the diagnosis of a tie): per
    method and T (rows), each seed's length being learned at the end, the batches spent on it,
    the error (bits per sequence) over its last ``last`` batches at that length ("diverged":
    its error became NaN or inf), the longest length whose whole sequence (2n + 1 steps) fits
    in one window of T (there all three methods make the same update, so a comparison at T is
    decided at the longer lengths), and, for DNI, the SG's cosine with the true future gradient
    at its last probe ("n/a": no probe, or its sequence fit one window; "diverged": the run
    diverged)."""
    rows = {}
    for (method, T), runs in logs.items():
        if any("repeats" in g for g in runs):
            raise ValueError("Table 3 reads Copy runs: a Repeat Copy sequence is not 2n + 1 steps")
        ends = [int(g["n"][-1]) for g in runs]
        row = {
            "learning at the end": ", ".join(map(str, ends)),
            "batches there": ", ".join(str(sum(n == e for n in g["n"])) for g, e in zip(runs, ends, strict=True)),
            f"error, last {last} batches": _values([_error_at_end(g, last) for g in runs], "diverged"),
            "fits one window up to length": "any" if T is None else str((T - 1) // 2),
        }  # fmt: skip
        if method == "DNI":
            row["SG cosine, last probe"] = _cosines(runs)
        rows[method if T is None else f"{method}, T = {T}"] = row
    return pd.DataFrame(rows).T.fillna("")


def stuck_text(logs: Logs, T: int, last: int = STUCK_LAST) -> str:
    """Table 3 at truncation ``T`` in words, for the page: where each method's runs ended, the
    median seed's error there (or which seeds diverged), and the range of the SG's last cosine
    (naming seeds without one)."""
    ends = {m: [int(g["n"][-1]) for g in logs[m, T]] for m in ("DNI", "truncated BPTT")}
    if len({e for v in ends.values() for e in v}) == 1:
        where = f"every run of both methods ended learning length {ends['DNI'][0]}"
    else:
        where = "the runs ended learning lengths " + "; ".join(
            f"{', '.join(map(str, v))} ({m})" for m, v in ends.items()
        )
    errors = []
    for m in ("DNI", "truncated BPTT"):
        e = np.array([_error_at_end(g, last) for g in logs[m, T]])
        gone = np.flatnonzero(~np.isfinite(e))
        errors.append(f"{m} diverged on seed(s) {ledger.listing(gone)}" if gone.size
                      else f"{np.median(e):.2f} bits per sequence for {m}")  # fmt: skip
    dni = logs["DNI", T]
    cos = np.array([_last_cosine(g) for g in dni])
    gone = np.array([_diverged(g) for g in dni])  # a diverged seed's probe: not read
    ok = np.isfinite(cos) & ~gone
    unprobed = ~np.isfinite(cos) & ~gone
    if not ok.any():
        cosine = (
            "the SG's last probe crossed no window boundary on any seed"
            if not gone.any()
            else "no seed that did not diverge has an SG probe across a window boundary"
        )
    else:
        cosine = f"the SG's last cosine with the true future gradient ranges from {cos[ok].min():.2f} to {cos[ok].max():.2f}"
        left = (
            [f"not probed across a boundary: seed(s) {ledger.listing(np.flatnonzero(unprobed))}"]
            if unprobed.any()
            else []
        )
        left += [f"diverged: seed(s) {ledger.listing(np.flatnonzero(gone))}"] if gone.any() else []
        cosine += f" over the seeds ({'; '.join(left)})" if left else " over the seeds"
    return (f"{where}; over its last {last} batches there, the median seed's error is "
            f"{' against '.join(errors)}; {cosine}")  # fmt: skip


def seed_values(v: np.ndarray, fmt: str = ".0f") -> str:
    """Each seed's score, in seed order, for a table ("diverged": NaN)."""
    return ", ".join("diverged" if np.isnan(x) else f"{x:{fmt}}" for x in v)


def numbers(
    identity: recurrent.Identities,
    score: Mapping,
    p: SimpleNamespace,
    logs: Logs | None = None,
    bpc: Mapping[tuple[str, int], np.ndarray] | None = None,
) -> dict[str, Any]:
    """The numbers the chapter's prose quotes: the identities, the ceiling and each method's
    median length per T and this run's settings; with ``logs``, the SG's last probe at the
    shortest T (mean over seeds) and Table 3 at the longest in words (``stuck_text``); with
    ``bpc``, each method's median held-out bits per character at the shortest T."""
    out: dict[str, Any] = {
        "zero_sg": identity.zero_sg,
        "oracle": identity.oracle,
        "truncated": identity.truncated,
        "ceiling_median": float(np.median(score[CEILING, None])),
        "ceiling_min": float(np.min(score[CEILING, None])),
        "n_seeds": len(p.seeds),
        "sequences": p.sequences,
        "live_sequences": p.live_sequences,
        "probe_every": p.probe_every,
        "lm_eval_every": p.lm_eval_every,
        "lm_eval_steps": p.lm_eval_steps,
        "lm_lr": p.lm_lr,
        "bits": p.bits,
        "threshold": p.threshold,
        "identity_sequences": identity.sequences,
        "identity_steps": identity.steps,
        "identity_length": identity.length,
        "identity_hidden": identity.hidden,
        "last": analysis.LAST,
    }
    if bpc is not None:
        T = min(p.truncations)
        out["bpc_T"] = T
        out["bpc_bptt"] = float(np.median(bpc["truncated BPTT", T]))
        out["bpc_dni"] = float(np.median(bpc["DNI", T]))
    if logs is not None:  # at the shortest truncation (Figure 4 draws every T)
        out["cosine_T"] = min(p.truncations)
        out["cosine_end"] = float(np.mean(sg_cosine(logs, out["cosine_T"])[1][:, -1]))
        out["stuck_T"] = max(p.truncations)  # where each run ended: Table 3's last rows
        out["stuck_text"] = stuck_text(logs, out["stuck_T"])
    for T in p.truncations:
        for method, key in METHODS.items():
            out[f"{key}_{T}_median"] = float(np.median(score[method, T]))
    return out


def sg_cosine(logs: Logs, T: int) -> tuple[np.ndarray, np.ndarray]:
    """DNI's probes at truncation ``T``: the batches probed and, per seed (rows), the SG's
    cosine with the true future gradient there (:func:`synthgrad.recurrent.sg_alignment`)."""
    runs = logs["DNI", T]
    return np.asarray(runs[0]["probe_batch"]), np.array([g["sg_cosine"] for g in runs])


def claims(
    identity: recurrent.Identities,
    score: Mapping[tuple[str, int | None], np.ndarray],
    bpc: Mapping[tuple[str, int], np.ndarray],
    p: SimpleNamespace,
) -> list[ledger.Claim]:
    """C8.1 and C8.2 (the identities), C8.3 (Copy) and C8.4 (language modelling): DNI against
    truncated BPTT at every T, paired per seed."""
    scale_here = (
        f"book run (small version): Copy, LSTM {p.hidden}, batches of {p.batch}, "
        f"{p.sequences:,} sequences, T in {p.truncations}, {len(p.seeds)} seeds"
    )
    lower = {  # held-out bits per character: lower is better
        f"T = {T}": stats.paired(bpc["DNI", T], bpc["truncated BPTT", T], higher=False)
        for T in p.truncations
    }
    beyond = {
        f"T = {T}": stats.paired(score["DNI", T], score["truncated BPTT", T], lost="diverged")
        for T in p.truncations
    }
    return [
        ledger.Claim(
            "C8.1",
            "With the synthetic gradient's output held at zero, DNI is truncated BPTT, update for update.",
            f"largest absolute difference of any parameter after {identity.sequences} sequences of Adam, DNI with a zero SG against truncated BPTT (same seed)",
            "exactly 0",
            ledger.judge(bool(identity.zero_sg == 0.0)),
            {"max_abs_difference": identity.zero_sg},
            source="this book",
            kind="identity check",
            scale=identity.problem,
        ),
        ledger.Claim(
            "C8.2",
            "With an oracle that returns the true future gradient at each window's end, and the windows' updates accumulated, DNI's update is full BPTT's.",
            "largest difference of any gradient entry, relative to the largest, against full BPTT: DNI with the oracle, and truncated BPTT (which must differ)",
            f"at most {ORACLE_TOL:g} for the oracle, at least {APART:g} for truncated BPTT",
            ledger.judge(bool(identity.oracle <= ORACLE_TOL and identity.truncated >= APART)),
            {"oracle": identity.oracle, "truncated": identity.truncated},
            source="this book",
            kind="identity check",
            scale=identity.problem,
        ),
        ledger.Claim(
            "C8.3",
            "DNI extends the time dependencies an RNN trained with truncation T can learn beyond those truncated BPTT learns at the same T.",
            f"per seed (paired), the longest Copy length solved within {p.sequences:,} sequences: DNI minus truncated BPTT with the same T, at every T",
            "95% interval above 0 at every T",
            ledger.judge(
                beyond,
                decides=list(beyond),  # every T decides: no "in part"
                regime="DNI solves longer copies at {held}; not shown at {failed}",
                decide=tie_remedy({T: (score["DNI", T], score["truncated BPTT", T])
                                   for T in p.truncations}),  # fmt: skip
            ),
            {f"T={T}": {"dni": score["DNI", T], "bptt": score["truncated BPTT", T]}
             for T in p.truncations} | {"full_bptt": score[CEILING, None]},
            source="DNI paper",
            scale=scale_here,
        ),
        ledger.Claim(
            "C8.4",
            "On character-level language modelling, DNI's held-out bits per character are lower than truncated BPTT's with the same T.",
            f"per seed (paired), held-out bits per character (the mean of the last {analysis.LAST} evaluations) after {p.lm_chars:,} characters per stream ({p.batch} streams of {p.corpus}): truncated BPTT minus DNI with the same T, at every T",
            "95% interval above 0 at every T",
            ledger.judge(
                lower,
                decides=list(lower),
                regime="DNI lower at {held}; not shown at {failed}",
            ),
            {f"T={T}": {"dni": bpc["DNI", T], "bptt": bpc["truncated BPTT", T]} for T in p.truncations},
            source="DNI paper",
            scale=(f"book run (small version): {p.corpus}, LSTM {p.hidden}, {p.batch} streams x "
                   f"{p.lm_chars:,} characters, T in {p.truncations}, {len(p.seeds)} seeds"),
        ),
    ]  # fmt: skip
