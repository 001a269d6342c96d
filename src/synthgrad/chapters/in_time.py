"""Chapter 8: synthetic gradients in time (the DNI paper's recurrent experiments, in the small).

An LSTM learns the Copy task under a curriculum, by truncated BPTT over windows of ``T`` steps,
by DNI (truncated BPTT plus a synthetic gradient for the state at each window's end,
:mod:`synthgrad.recurrent`) and, as the ceiling, by full BPTT over the whole sequence. A run
is scored by the longest Copy length it solved within a fixed budget of sequences. Then both
methods model a book's characters (:func:`train_lm`, scored in held-out bits per character:
:func:`lm_final`). The runs (:func:`train_all`), the scores (:func:`scores`), the numbers the
prose quotes and the claims (:func:`claims`, decided on plain arrays so that tests can decide
them without training).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from .. import analysis, chapters, curricula, ledger, parallel, recurrent, stats
from .. import params as P
from ..data import text
from . import Interface, in_time_store

INTERFACE = Interface(
    defaults={"seed": 0, "n_seeds": 5, "truncations": "2,4", "sequences": 38400, "hidden": 128,
        "batch": 32, "lr": 0.01, "sg_scale": 0.1, "sg_hidden": 0, "corpus": "moby-dick",
        "lm_chars": 1500, "quick": False},
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 20),
        "truncations": P.ints(1, 64, max_len=6), "sequences": P.integer(1),
        "hidden": P.integer(2, 1024), "batch": P.integer(1, 1024), "lr": P.positive(),
        "sg_scale": P.number(0, 10), "sg_hidden": P.integer(0, 4096),
        "corpus": P.choice("moby-dick", "ptb"), "lm_chars": P.integer(10), "quick": P.flag(),
    },
    record=("seed", "n_seeds", "truncations", "sequences", "hidden", "batch", "lr", "sg_scale",
            "sg_hidden", "bits", "threshold", "probe_every", "corpus", "lm_chars", "lm_lr",
            "lm_eval_every", "lm_eval_steps"),
    settings=dict(bits=4, threshold=0.15, live_sequences=3200, probe_every=50, lm_lr=3e-3,
                  lm_eval_every=100, lm_eval_steps=100),
    quick=dict(n_seeds=2, truncations=[2, 4], sequences=1280, live_sequences=160,
               probe_every=10, lm_chars=100, lm_eval_every=20, lm_eval_steps=20),
    resolve=lambda p: _resolve(p),
)  # fmt: skip

# the methods compared at each truncation T: name on the page -> curricula.copy_curriculum's
METHODS = {"truncated BPTT": "bptt", "DNI": "dni"}
CEILING = "full BPTT"  # no truncation: the ceiling, one run per seed
BP_LAMBDA = "BP(λ), λ = 1"  # the live widget's BP(lambda): one step at a time, no T
COLOURS = {"truncated BPTT": "C0", "DNI": "C3", CEILING: "0.4", BP_LAMBDA: "C2"}
CLAIM_IDS = ("C8.1", "C8.2", "C8.3", "C8.4", "C8.3p", "C8.3p-repeat", "C8.5p")  # p: the store
IN_PART: tuple[str, ...] = ()  # C8.3 is about every T: it holds at all or not at all
PAIRED = ("C8.3", "C8.4", "C8.3p", "C8.3p-repeat", "C8.5p")
ORACLE_TOL, APART = 1e-5, 1e-3  # the oracle identity: float rounding; truncated BPTT: apart
STUCK_LAST = 100  # batches: where a run ended, its error over its last batches (Table 3)


def _resolve(p: SimpleNamespace) -> None:
    """The truncations as a sorted list without repeats; the budget at least one batch; a
    corpus the book can have (Penn Treebank: not available, said before any work)."""
    p.truncations = sorted(set(P.as_ints(p.truncations)))
    bad = []
    if p.sequences < p.batch:
        bad.append(f"sequences = {p.sequences} is less than one batch of {p.batch}")
    if p.corpus in text.NOT_HERE:
        bad.append(f"corpus = {p.corpus!r}: {text.NOT_HERE[p.corpus]}")
    if bad:
        raise P.ParameterError("invalid parameter(s): " + "; ".join(bad))


def load_corpus(p: SimpleNamespace) -> Any:
    """The corpus of section (d), fetched and verified now (before any training: a corpus
    that cannot be had stops the chapter with the loader's message), and checked to be long
    enough for ``batch`` streams of ``lm_chars`` characters and the validation streams."""
    corpus = _text(p.corpus)
    for part, have, need in (("training", len(corpus.train), p.lm_chars + 1),
                             ("validation", len(corpus.valid), p.lm_eval_steps + 1)):  # fmt: skip
        if have // p.batch < need:
            raise P.ParameterError(
                f"invalid parameter(s): the {part} text of {p.corpus} gives {p.batch} streams "
                f"of {have // p.batch} characters, {need} needed: a smaller batch or lm_chars"
            )
    return corpus


def describe(p: SimpleNamespace) -> str:
    """One line on the task, the network and the budget the chapter runs."""
    return (
        f"Copy of {p.bits}-bit vectors, curriculum from length 1 (one more once the error is "
        f"below {p.threshold} bits per sequence); LSTM {p.hidden}, linear read-out; Adam lr "
        f"{p.lr:g}, batches of {p.batch}, {p.sequences:,} sequences per run; SG "
        f"{'linear' if p.sg_hidden == 0 else f'one hidden layer of {p.sg_hidden}'}, scale "
        f"{p.sg_scale:g}; T in {p.truncations}; seeds {p.seeds}"
    )


Logs = dict[tuple[str, int | None], list[dict[str, list[float]]]]  # (method, T) -> per seed


def _copy(args: tuple) -> dict:  # a worker's task: one curriculum on one torch thread
    """One Copy curriculum: ``method`` (a name of :data:`METHODS` or :data:`CEILING`) at
    truncation ``T`` on ``seed`` with the settings ``q`` (:func:`_settings`)."""
    method, T, seed, q = args
    key = "full" if method == CEILING else METHODS[method]
    return curricula.copy_curriculum(
        key, T or 1, q["sequences"], seed=seed, hidden=q["hidden"], batch=q["batch"],
        lr=q["lr"], scale=q["sg_scale"], sg_hidden=q["sg_hidden"], threshold=q["threshold"],
        bits=q["bits"], probe_every=q["probe_every"],
    )  # fmt: skip


def run(p: SimpleNamespace, method: str, T: int | None, seed: int, sequences: int) -> dict:
    """One curriculum of ``sequences`` sequences with ``p``'s settings (the live widget's)."""
    return _copy((method, T, seed, {**_settings(p), "sequences": sequences}))


LIVE_METHODS = {**METHODS, BP_LAMBDA: "bp_lambda"}  # the live widget's methods
TASKS = {"Copy": False, "Repeat Copy": True}  # the live widget's tasks: name -> repeat?


def live_run(p: SimpleNamespace, task: str, method: str, T: int, sg_hidden: int) -> dict:
    """The live widget's run: one seed, ``p.live_sequences`` sequences of ``task`` by
    ``method`` (a name of :data:`LIVE_METHODS`; BP(lambda) learns one step at a time, with the
    registered grid's gamma and injection, so ``T`` does not apply to it)."""
    key = LIVE_METHODS[method]
    extra = ({"lam": 1.0, "gamma": in_time_store.BP_GAMMA, "scale": in_time_store.BP_SCALE}
             if key == "bp_lambda" else {"scale": p.sg_scale})  # fmt: skip
    return curricula.copy_curriculum(
        key, T, p.live_sequences, seed=p.seed, hidden=p.hidden, batch=p.batch, lr=p.lr,
        sg_hidden=sg_hidden, threshold=p.threshold, bits=p.bits, repeat=TASKS[task], **extra,
    )  # fmt: skip


def _every_seed(work: Callable[[tuple], dict], keys: list, p: SimpleNamespace) -> dict:
    """``work((*key, seed, settings))`` for every key and seed of ``p``, one run per core in
    the package's worker pool (:func:`synthgrad.parallel.pool`; each run's numbers are those
    of the same run alone): key -> the runs' results, per seed."""
    q = _settings(p)
    tasks = [(*key, s, q) for key in keys for s in p.seeds]
    with parallel.pool(min(len(tasks), os.cpu_count() or 1)) as pool:
        done = list(pool.map(work, tasks))
    n = len(p.seeds)
    return {key: done[i * n : (i + 1) * n] for i, key in enumerate(keys)}


def train_all(p: SimpleNamespace) -> Logs:
    """Every method at every T, and the ceiling, on every seed: the curricula's logs."""
    keys = [(CEILING, None)] + [(m, T) for T in p.truncations for m in METHODS]
    return _every_seed(_copy, keys, p)


LM = dict[tuple[str, int], list[dict[str, list[float]]]]  # (method, T) -> per seed


def _lm(args: tuple) -> dict:  # a worker's task: one language model on one torch thread
    corpus, method, T, seed, q = args
    return recurrent.language_model(
        METHODS[method], T, _text(corpus), q["lm_chars"], seed=seed, hidden=q["hidden"],
        batch=q["batch"], lr=q["lm_lr"], scale=q["sg_scale"], sg_hidden=q["sg_hidden"],
        eval_every=q["lm_eval_every"], eval_steps=q["lm_eval_steps"],
    )  # fmt: skip


@functools.cache
def _text(name: str) -> Any:
    return text.corpus(name)


def train_lm(p: SimpleNamespace) -> LM:
    """Character-level language models of ``p.corpus``: every method at every T on every seed
    (:func:`synthgrad.recurrent.language_model`; the corpus checked first: :func:`load_corpus`)."""
    load_corpus(p)
    keys = [(p.corpus, m, T) for T in p.truncations for m in METHODS]
    return {key[1:]: runs for key, runs in _every_seed(_lm, keys, p).items()}


def lm_final(lm: LM) -> dict[tuple[str, int], np.ndarray]:
    """Per (method, T), each seed's held-out bits per character at the end: the mean of its
    last :data:`synthgrad.analysis.LAST` evaluations, so that one evaluation does not decide
    (NaN: the run diverged)."""
    return {k: np.array([np.mean(g["valid_bpc"][-analysis.LAST :]) for g in v], dtype=float)
            for k, v in lm.items()}  # fmt: skip


def _settings(p: SimpleNamespace) -> dict[str, Any]:
    """What a run needs of ``p`` (plain values, sent to the workers)."""
    names = ("sequences", "hidden", "batch", "lr", "sg_scale", "sg_hidden", "threshold", "bits",
             "probe_every", "lm_chars", "lm_lr", "lm_eval_every", "lm_eval_steps")  # fmt: skip
    return {k: getattr(p, k) for k in names}


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
        rows[f"T = {T}"] = {m: _seeds(score[m, T]) for m in METHODS}
    rows["no truncation"] = {CEILING: _seeds(score[CEILING, None])}
    return pd.DataFrame(rows).T.fillna("")


def _error_at_end(log: dict[str, list[float]], last: int) -> float:
    """A curriculum's mean error over its last ``last`` batches at the length it ended on
    (NaN: the run diverged, its error became NaN or inf somewhere)."""
    if not np.isfinite(log["error"]).all():
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


def where_stuck(logs: Logs, last: int = STUCK_LAST) -> pd.DataFrame:
    """Where each Copy run ended and how close it came there (the diagnosis of a tie): per
    method and T (rows), each seed's length being learned at the end, the batches spent on it,
    the error (bits per sequence) over its last ``last`` batches at that length ("diverged":
    its error became NaN or inf), the longest length whose whole sequence (2n + 1 steps) fits
    in one window of T (there all three methods make the same update, so a comparison at T is
    decided at the longer lengths), and, for DNI, the SG's cosine with the true future gradient
    at its last probe ("n/a": no probe, or its sequence fit one window)."""
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
            row["SG cosine, last probe"] = _values([_last_cosine(g) for g in runs], "n/a")
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
    cos = np.array([_last_cosine(g) for g in logs["DNI", T]])
    ok = np.isfinite(cos)
    if not ok.any():
        cosine = "the SG's last probe crossed no window boundary on any seed"
    else:
        cosine = f"the SG's last cosine with the true future gradient ranges from {cos[ok].min():.2f} to {cos[ok].max():.2f}"
        if not ok.all():
            cosine += f" over the seeds probed across a boundary (not seed(s) {ledger.listing(np.flatnonzero(~ok))})"
        else:
            cosine += " over the seeds"
    return (f"{where}; over its last {last} batches there, the median seed's error is "
            f"{' against '.join(errors)}; {cosine}")  # fmt: skip


def _seeds(v: np.ndarray) -> str:
    return ", ".join("diverged" if np.isnan(x) else f"{x:.0f}" for x in v)


def numbers(
    identity: recurrent.Identities,
    score: Mapping,
    p: SimpleNamespace,
    logs: Logs | None = None,
    bpc: Mapping[tuple[str, int], np.ndarray] | None = None,
) -> dict[str, Any]:
    """The numbers the chapter's prose quotes: the identities, the ceiling and each method's
    median length per T, this run's settings and the chapter's defaults (``default_*``, for
    the settings paragraph); with ``logs``, the SG's last probe at the shortest T (mean over
    seeds) and Table 3 at the longest in words (``stuck_text``); with ``bpc``, each method's
    median held-out bits per character at the shortest T."""
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
    d, fixed = INTERFACE.defaults, INTERFACE.settings  # the settings paragraph: the defaults
    out |= {
        "default_bits": fixed["bits"], "default_hidden": d["hidden"], "default_batch": d["batch"],
        "default_lr": d["lr"], "default_truncations": ledger.listing(d["truncations"].split(",")),
        "default_sequences": f"{d['sequences']:,}",
        "default_batches": f"{d['sequences'] // d['batch']:,}",
    }  # fmt: skip
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
                decide="; ".join(
                    f"a budget long enough for the lengths to differ at T = {T}"
                    for T in p.truncations
                    if np.array_equal(score["DNI", T], score["truncated BPTT", T])
                ),
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


def finish(
    p: SimpleNamespace,
    identity: recurrent.Identities,
    score: Mapping,
    logs: Logs,
    lm: LM,
    stored: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The chapter's ledger and claims table: the book run's claims, and the registered
    store's (``stored``: :func:`.in_time_store.scores`) where every run they need is made."""
    bpc = lm_final(lm)
    every = claims(identity, score, bpc, p) + in_time_store.claims(dict(stored or {}))
    return chapters.finish(p, every, numbers(identity, score, p, logs, bpc))
