"""Chapter 6: one language for SG, Feedback Alignment, DFA and Kickback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from .. import analysis, chapters, compare, ledger, models, plots, stats, sweep, train
from .. import params as P
from ..data import Dataset
from ..models import Net
from ..train import History
from . import MNIST_QUICK, Interface

INTERFACE = Interface(
    defaults={"seed": 0, "n_seeds": 3, "steps": 800, "batch_size": 128, "lr": 0.001,
        "width": 128, "depth": 3, "align_examples": 256, "scale": "small", "eval_every": 50,
        "quick": False},
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 20), "steps": P.integer(2),
        "batch_size": P.integer(1, 60000), "lr": P.positive(), "width": P.integer(2),
        "depth": P.integer(3, 20), "align_examples": P.integer(1, 8000),
        "scale": P.choice("small", "full"), "eval_every": P.integer(1), "quick": P.flag(),
    },
    record=("seed", "n_seeds", "steps", "batch_size", "lr", "width", "depth",
            "align_examples", "scale", "eval_every"),
    settings=dict(limit=None, widget_steps=300, live_steps=200),
    quick=dict(MNIST_QUICK, widget_steps=30, live_steps=10),
)  # fmt: skip

# the rules compared: name on the page -> learning rule and its options
RULES = {
    "backprop": dict(rule="backprop"),
    "FA": dict(rule="fa"),
    "DFA": dict(rule="dfa"),
    "Kickback": dict(rule="kickback"),
    "SG every layer, DNI": dict(rule="sg_every"),
    "SG every layer, cDNI": dict(rule="sg_every", conditioned=True),
    "learned error SG": dict(rule="error_sg"),
}
COLOURS = plots.method_colours(RULES)
# the rules trained again on the one-output parity task
PARITY_RULES = ("backprop", "FA", "DFA", "Kickback", "SG every layer, cDNI", "learned error SG")
# each identity claim: the rule whose trained networks it is checked on
TRAINED_BY = {"C6.1": "DFA", "C6.2": "Kickback", "C6.3": "FA"}
# identities: largest relative difference of the two implementations, and how far the rule's
# own updates must be from backprop's on the fresh network (so that they do not hold trivially)
TOL, APART = 1e-5, 1e-2
# C6.4: the learned proxies against the fixed random ones, per layer, paired by seed
LEARNED = ("learned error SG", "SG every layer, cDNI")
FIXED = ("FA", "DFA")
CDNI = "SG every layer, cDNI"
CLAIM_IDS = ("C6.1", "C6.2", "C6.3", "C6.4", "C6.4p")
IN_PART = ("C6.4", "C6.4p")  # claims that can hold in part
PAIRED = ("C6.4", "C6.4p")  # claims decided on seed-paired intervals (BOOK.md section 6)

# the widgets: each rule against backprop, at three learning rates (the live one: fixed rates)
WIDGET_LABELS = {"rule": "learning rule", "lr": "learning rate"}
LIVE_GRID = {"rule": list(RULES), "lr": [3e-4, 1e-3, 3e-3]}


def common(p: SimpleNamespace) -> dict[str, Any]:
    """The network and minibatch settings every run of the chapter shares."""
    return dict(
        hidden=[p.width] * p.depth,
        batch_size=p.batch_size,
        eval_every=p.eval_every,
        align_examples=p.align_examples,
    )


def describe(mnist: Dataset, p: SimpleNamespace) -> str:
    """One line on the data, the network and the training the chapter runs."""
    return (
        f"MNIST ({mnist.description}): {len(mnist.x_train)} training, {len(mnist.x_test)} held-out images; "
        f"MLP {p.depth} x {p.width} ReLU, no batch norm; {p.steps} Adam steps of batch {p.batch_size}, lr {p.lr:g}; "
        f"seeds {p.seeds}"
    )


def train_rules(
    trained: train.Runs, mnist: Dataset, p: SimpleNamespace
) -> tuple[dict[str, Net], dict[str, History]]:
    """Every rule of :data:`RULES` on the chapter's seeds (same initial networks and
    minibatches): the trained networks (for the identities) and the runs."""
    nets, runs = {}, {}
    for name, cfg in RULES.items():
        nets[name], runs[name] = trained.fit_net(
            mnist, p.seeds, lr=p.lr, steps=p.steps, desc=name, **cfg, **common(p)
        )
    return nets, runs


def train_parity(
    trained: train.Runs, odd: Dataset, p: SimpleNamespace
) -> dict[str, tuple[Net, History]]:
    """The rules of :data:`PARITY_RULES` on the one-output task ``odd``: network and run."""
    return {
        name: trained.fit_net(
            odd, p.seeds, lr=p.lr, steps=p.steps, desc=name, **RULES[name], **common(p)
        )
        for name in PARITY_RULES
    }


def check_identities(
    mnist: Dataset,
    odd: Dataset,
    nets: Mapping[str, Net],
    odd_nets: Mapping[str, tuple[Net, History]],
    p: SimpleNamespace,
) -> pd.DataFrame:
    """The identities C6.1 to C6.3 (:func:`synthgrad.compare.identities`) on a fresh network
    and on the networks each rule trained on the ten-class and the parity task."""
    fresh = models.mlp(mnist.d_in, [p.width] * p.depth, mnist.d_out, p.seeds)
    return compare.identities(
        {
            claim: [
                ("fresh", fresh, mnist),
                (f"trained by {by}, 10 classes", nets[by], mnist),
                (f"trained by {by}, parity", odd_nets[by][0], odd),
            ]
            for claim, by in TRAINED_BY.items()
        },
        p.seeds,
    )


def widget_grid(p: SimpleNamespace) -> dict[str, list[Any]]:
    """The precomputed widget's grid: every rule, at the chapter's learning rate and a third
    and three times it."""
    return {"rule": list(RULES), "lr": [p.lr / 3, p.lr, 3 * p.lr]}


def train_widget(
    trained: train.Runs, mnist: Dataset, p: SimpleNamespace
) -> dict[tuple[str, float], History]:
    """The widget's runs, for the first ``widget_steps`` steps (at most ``steps``): each point
    of :func:`widget_grid`, keyed ``(rule, lr)``."""
    short = dict(common(p), steps=min(p.widget_steps, p.steps))
    return {
        (g["rule"], g["lr"]): trained.fit(mnist, p.seeds, lr=g["lr"], **RULES[g["rule"]], **short)
        for g in sweep.grid(**widget_grid(p))
    }


def late_alignment(runs: Mapping[str, History], p: SimpleNamespace) -> dict[str, np.ndarray]:
    """Per rule, each seed's and hidden layer's cosine with the true gradient, mean over the
    evaluations of the second half of training: (S, L). A diverged seed's NaNs stay."""
    return {
        name: np.stack([h.evals[f"align_{k}"] for k in range(p.depth)], -1)[
            h.eval_steps > p.steps / 2
        ].mean(0)
        for name, h in runs.items()
    }


def final_accuracy(runs: Mapping[str, History]) -> dict[str, np.ndarray]:
    """Per rule, each seed's held-out accuracy at the end of training (the mean over its last
    5 evaluations: :func:`synthgrad.analysis.end_value`)."""
    return {name: analysis.end_value(h) for name, h in runs.items()}


def _cdni_minus(late: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The cDNI SG's alignment minus each fixed proxy's, per seed and layer: (S, L)."""
    return {rule: late[CDNI] - late[rule] for rule in FIXED}


def _beats_both(late: Mapping[str, np.ndarray]) -> dict[int, stats.Joint]:
    """Per hidden layer (1 is the lowest): the cDNI SG better aligned than FA and than DFA,
    each paired by seed (a seed where the SG's alignment is NaN or infinite fails it)."""
    return {
        k + 1: stats.all_of(**{r: stats.paired(late[CDNI][:, k], late[r][:, k]) for r in FIXED})
        for k in range(late[CDNI].shape[1])
    }


def _margin(late: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each learned proxy's alignment minus the better of FA and DFA, paired by seed: (S, L)."""
    return {name: late[name] - np.maximum(late["FA"], late["DFA"]) for name in LEARNED}


def numbers(
    acc: Mapping[str, np.ndarray],
    odd_acc: Mapping[str, np.ndarray],
    late: Mapping[str, np.ndarray],
    late_odd: Mapping[str, np.ndarray],
    identities: pd.DataFrame,
    n_align: int,
) -> dict[str, Any]:
    """The numbers the chapter's prose quotes, from each rule's final held-out accuracy per
    seed on both tasks (``acc``, ``odd_acc``), its late alignment (``late``, ``late_odd``:
    :func:`late_alignment`), the identities table and the number of alignment images."""
    mean = {name: float(np.asarray(v).mean()) for name, v in acc.items()}
    odd_mean = {name: float(np.asarray(v).mean()) for name, v in odd_acc.items()}
    margin = _margin(late)
    beats = _cdni_minus(late)  # where the cDNI SG beat both on every seed (the prose's number)
    wins = [k + 1 for k in range(late[CDNI].shape[1])
            if all(ledger.every(beats[r][:, k], beats[r][:, k] > 0) for r in FIXED)]  # fmt: skip
    return {
        "n_align": n_align,
        "acc_bp": mean["backprop"],
        "acc_fa": mean["FA"],
        "acc_dfa": mean["DFA"],
        "acc_kb": mean["Kickback"],
        "acc_sg": mean[CDNI],
        "acc_sg_dni": mean["SG every layer, DNI"],
        "acc_esg": mean["learned error SG"],
        "odd_bp": odd_mean["backprop"],
        "odd_kb": odd_mean["Kickback"],
        "al_esg": float(late["learned error SG"][:, 0].mean()),
        "al_sg": float(late[CDNI][:, 0].mean()),
        "al_fa": float(late["FA"][:, 0].mean()),
        "al_dfa": float(late["DFA"][:, 0].mean()),
        "al_kb": float(late["Kickback"][:, 0].mean()),
        "odd_al_kb": float(late_odd["Kickback"][:, 0].mean()),
        "max_identity": float(identities["relative difference"].max()),
        "min_apart": float(identities.xs("fresh", level="network")["rule vs backprop"].min()),
        "n_margin_esg": int((margin["learned error SG"] > 0).sum()),
        "n_margin_sg": int((margin[CDNI] > 0).sum()),
        "n_cells": int(margin["learned error SG"].size),
        "cdni_wins": ledger.listing(wins),
        "cdni_vs_dfa_low": float(_cdni_minus(late)["DFA"][:, 0].mean()),
    }


# Kickback is defined for one output: on ten classes its signal ascends the loss and the network
# collapses to chance, and two implementations agreeing on a collapsed network check nothing
OUT_OF_DOMAIN = {"C6.2": "trained by Kickback, 10 classes"}


def _identity(claim: str, identities: pd.DataFrame) -> ledger.Verdict:
    """An identity's verdict over every network it was checked on, except the one the rule
    itself trained outside its domain (:data:`OUT_OF_DOMAIN`)."""
    kept = (
        identities.drop(index=(claim, OUT_OF_DOMAIN[claim]), errors="ignore")
        if claim in OUT_OF_DOMAIN
        else identities
    )
    return ledger.judge(compare.identity_holds(kept, claim, TOL, APART))


def claims(late: Mapping[str, np.ndarray], identities: pd.DataFrame) -> list[ledger.Claim]:
    """The chapter's claims from the identities table (:func:`check_identities`: one row per
    claim C6.1 to C6.3 and network) and each rule's late alignment per seed and layer
    (``late``: :func:`late_alignment`, keyed as :data:`RULES`)."""
    return [
        ledger.Claim(
            "C6.1",
            "DFA is a fixed, untrained, error-conditioned linear SG: identical updates.",
            "DFA direct vs ErrorSG(learned=False): largest update difference relative to the largest update; fresh network and the networks DFA trained (10 classes, parity); all seeds",
            f"at most {TOL:g} on every network, while DFA's updates differ from backprop's by at least {APART:g} on the fresh network",
            _identity("C6.1", identities),
            identities.loc["C6.1"].to_dict(orient="index"),
            kind="identity check",
        ),
        ledger.Claim(
            "C6.2",
            "Kickback is a fixed SG of the form the paper gives: identical updates.",
            "Kickback direct (hand-written kickbacks) vs KickbackSG (beta 1^T dh_{k+1}/dh_k by autograd), as for C6.1, except the 10-class network Kickback itself trained (outside its one-output domain it ascends and collapses: an identity there checks nothing)",
            f"at most {TOL:g} on every network, while Kickback's updates differ from backprop's by at least {APART:g} on the fresh network",
            _identity("C6.2", identities),
            identities.loc["C6.2"].to_dict(orient="index"),
            kind="identity check",
        ),
        ledger.Claim(
            "C6.3",
            "FA with feedback matrices equal to the forward weights' transposes is backprop.",
            "FA.transposed vs Backprop, as for C6.1",
            f"at most {TOL:g} on every network, while FA with random feedback differs from backprop by at least {APART:g} on the fresh network",
            _identity("C6.3", identities),
            identities.loc["C6.3"].to_dict(orient="index"),
            source="this book",
            kind="identity check",
        ),
        claim_alignment(late, "C6.4"),
    ]


def claim_alignment(late: Mapping[str, np.ndarray], claim: str, scale: str = "") -> ledger.Claim:
    """C6.4 (and its verdict of record C6.4p, on the store's runs at ``scale``): per hidden
    layer, the cDNI SG's late alignment against FA's and DFA's, paired by seed (``late``:
    :func:`late_alignment`)."""
    depth = late[CDNI].shape[1]
    where = f" ({scale})" if scale else ""
    return ledger.Claim(
        claim,
        f"A learned SG's proxy is better aligned with the true gradient than the fixed random proxies (FA, DFA) at the same layer{where}.",
        "cosine with the true gradient per hidden layer, mean over the second half of training: the cDNI SG of every layer (trained on bootstrapped targets) against FA and against DFA, paired by seed (the learned error SG, trained on the true gradient, is better by construction and reported beside it)",
        "95% intervals of the cDNI SG's cosine minus FA's and minus DFA's (paired per seed) above 0, at every layer",
        ledger.judge(
            _beats_both(late),
            regime="{depth} hidden layers, 1 the lowest; the cDNI SG beats both at {held}; worse than one at {reversed}; undecided at {undecided}",
            none="none",
            depth=depth,
        ),
        {
            "alignment": {name: late[name] for name in [*LEARNED, *FIXED]},
            "cdni_minus": _cdni_minus(late),
            "learned_error_sg_margin": _margin(late)["learned error SG"],
        },
        source="this book",
        scale=scale,
    )


def finish(
    p: SimpleNamespace,
    runs: Mapping[str, History],
    odd_runs: Mapping[str, History],
    identities: pd.DataFrame,
    stored: Sequence[ledger.Claim] = (),
    stored_numbers: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The chapter's last cell: its claims and numbers from the runs on both tasks and the
    identities table, and the store's verdicts of record and numbers (``stored``,
    ``stored_numbers``: :func:`.unified_view_store.claims`, :func:`.unified_view_store.numbers`),
    the ledger written and every number glued; returns the claims table."""
    late, late_odd = late_alignment(runs, p), late_alignment(odd_runs, p)
    return chapters.finish(
        p,
        [*claims(late, identities), *stored],
        dict(stored_numbers or {})
        | numbers(
            final_accuracy(runs),
            final_accuracy(odd_runs),
            late,
            late_odd,
            identities,
            p.align_examples,
        ),
    )
