"""Chapter 8's character-level language models as the results store keeps them
(``runner="lm"``): :func:`synthgrad.recurrent.language_model` on each seed, as one History."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .data import text
from .recurrent import language_model
from .train import History


def fit_lm(
    corpus: str, seeds: Sequence[int], method: str, length: int, steps: int, **settings: Any
) -> History:
    """``method`` (``"bptt"`` or ``"dni"``) with windows of ``length`` characters on the text
    ``corpus`` (a name of :data:`synthgrad.data.text.CORPORA`), ``steps`` training characters
    per stream, each seed in turn: per step (a window) the training bits per character
    (``bpc``); per evaluation, at the window it followed, the held-out bits per character
    (``valid_bpc``), the characters seen (``chars_seen``, all streams) and the ``seconds`` of
    training. ``settings`` go to :func:`~synthgrad.recurrent.language_model` (``lr``,
    ``hidden``, ``batch``, ``scale``, ``eval_every``, ...). A seed whose training loss stops being finite is marked diverged at that window
    (its later numbers are NaN or inf, as it computed them)."""
    start = time.perf_counter()
    corpus_text = text.corpus(corpus)
    logs = [language_model(method, length, corpus_text, steps, seed=s, **settings) for s in seeds]
    bpc = np.array([g["train_bpc"] for g in logs], dtype=float).T  # windows x seeds
    bad = ~np.isfinite(bpc)
    return History(
        seeds=list(seeds),
        steps=np.arange(1, len(bpc) + 1),
        train={"bpc": bpc},
        eval_steps=np.array(logs[0]["windows"], dtype=int),
        evals={
            name: np.array([g[name] for g in logs], dtype=float).T
            for name in ("valid_bpc", "chars_seen", "seconds")
        },  # fmt: skip
        diverged_at=np.where(bad.any(0), bad.argmax(0) + 1, -1),
        settings={"seconds": time.perf_counter() - start},
    )
