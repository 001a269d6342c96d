"""Chapter 8: synthetic gradients in time (the DNI paper's recurrent experiments, in the small).

An LSTM learns the Copy task under a curriculum, by truncated BPTT over windows of ``T`` steps,
by DNI (truncated BPTT plus a synthetic gradient for the state at each window's end,
:mod:`synthgrad.recurrent`) and, as the ceiling, by full BPTT over the whole sequence. A run
is scored by the longest Copy length it solved within a fixed budget of sequences. Then both
methods model a book's characters (:func:`train_lm`, scored in held-out bits per character:
:func:`lm_final`). The runs are here (:func:`train_all`, :func:`train_lm`); the scores
(:func:`scores`), the numbers the prose quotes and the claims (:func:`claims`) are in
:mod:`synthgrad.chapters.in_time_claims`, decided on plain arrays so that tests can decide them
without training.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import pandas as pd

from .. import chapters, curricula, ledger, parallel, recurrent, store
from .. import params as P
from ..data import text
from . import Interface, in_time_lm_store, in_time_store
from .in_time_claims import (  # noqa: F401 (the notebook's and the tests' names)
    CEILING,
    LM,
    METHODS,
    Logs,
    claims,
    lm_final,
    numbers,
    score_table,
    scores,
    sg_cosine,
    stuck_text,
    where_stuck,
)

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

BP_LAMBDA = "BP(λ), λ = 1"  # the live widget's BP(lambda): one step at a time, no T
COLOURS = {"truncated BPTT": "C0", "DNI": "C3", CEILING: "0.4", BP_LAMBDA: "C2"}
CLAIM_IDS = ("C8.1", "C8.2", "C8.3", "C8.4", "C8.3p", "C8.3p-repeat", "C8.4p", "C8.5p")  # p: store
IN_PART: tuple[str, ...] = ()  # C8.3 is about every T: it holds at all or not at all
PAIRED = ("C8.3", "C8.4", "C8.3p", "C8.3p-repeat", "C8.4p", "C8.5p")


def _resolve(p: SimpleNamespace) -> None:
    """The truncations as a sorted list without repeats; the budget at least one batch."""
    p.truncations = sorted(set(P.as_ints(p.truncations)))
    bad = []
    if p.sequences < p.batch:
        bad.append(f"sequences = {p.sequences} is less than one batch of {p.batch}")
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


def _settings(p: SimpleNamespace) -> dict[str, Any]:
    """What a run needs of ``p`` (plain values, sent to the workers)."""
    names = ("sequences", "hidden", "batch", "lr", "sg_scale", "sg_hidden", "threshold", "bits",
             "probe_every", "lm_chars", "lm_lr", "lm_eval_every", "lm_eval_steps")  # fmt: skip
    return {k: getattr(p, k) for k in names}


def finish(
    p: SimpleNamespace,
    identity: recurrent.Identities,
    score: Mapping,
    logs: Logs,
    lm: LM,
    paper: store.Stored,
    lm_paper: store.Stored,
) -> pd.DataFrame:
    """The chapter's ledger and claims table: the book run's claims, and the registered
    store's (``paper``: its grid as loaded; ``lm_paper``: its language models) where every run
    they need is made."""
    bpc = lm_final(lm)
    every = [*claims(identity, score, bpc, p), *in_time_store.claims(in_time_store.scores(paper)),
             *in_time_lm_store.claims(in_time_lm_store.finals(lm_paper))]  # fmt: skip
    n = (numbers(identity, score, p, logs, bpc) | in_time_store.numbers(paper)
         | in_time_lm_store.numbers(lm_paper) | _defaults())  # fmt: skip
    return chapters.finish(p, every, n)


def _defaults() -> dict[str, Any]:
    """The chapter's defaults, for the settings paragraph (``default_*``)."""
    d, fixed = INTERFACE.defaults, INTERFACE.settings
    return {
        "default_bits": fixed["bits"], "default_hidden": d["hidden"], "default_batch": d["batch"],
        "default_lr": d["lr"], "default_truncations": ledger.listing(d["truncations"].split(",")),
        "default_sequences": f"{d['sequences']:,}",
        "default_batches": f"{d['sequences'] // d['batch']:,}",
    }  # fmt: skip
