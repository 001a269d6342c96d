"""What a trained network's layers look like (chapter 5).

:func:`rdm` (representational dissimilarity matrices), :func:`rdm_similarity` (how alike two
layers' RDMs are), :func:`effective_weights` and :func:`weight_norms` (per-layer weight size,
batch norm folded in), :func:`layer_rdms` (every layer's RDM and its similarity to the
output's; :func:`rdm_metrics` records that during training), :func:`weight_change` (how far
weights moved from initialisation), :func:`linear_probe` (what a linear read-out of a layer can
classify; :func:`pixel_probe` on the pixels), :func:`slope` (whether a per-layer quantity rises
or falls with depth), and :func:`layer_measures`, all of them for every layer at once.
Everything takes a leading batch dimension (seeds, or seeds x layers), as the models do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .data import Dataset
from .models import BatchedLinear, Net, broadcast_seeds, effective_weights, generators


def class_sorted(labels: torch.Tensor, per_class: int) -> torch.Tensor:
    """Indices of the first ``per_class`` examples of each class, class 0 first: the fixed
    ordering of an RDM's rows, so that same-class blocks lie on the diagonal."""
    out = []
    for c in range(int(labels.max()) + 1):
        idx = torch.nonzero(labels == c).flatten()[:per_class]
        if len(idx) < per_class:
            raise ValueError(f"class {c} has {len(idx)} examples, fewer than {per_class}")
        out.append(idx)
    return torch.cat(out)


def rdm(activations: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Representational dissimilarity matrix: ``1 - Pearson correlation`` between the activation
    vectors of every pair of examples (rows of ``activations``, shape (..., N, d)) -> (..., N, N).

    Symmetric, zero on the diagonal, in [0, 2], and unchanged when the activations are scaled or
    shifted per example. An example whose activation vector is constant (e.g. every ReLU off)
    correlates with nothing: its row is 1 off the diagonal."""
    a = activations - activations.mean(-1, keepdim=True)
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(eps)
    d = (1.0 - a @ a.transpose(-1, -2)).clamp(0.0, 2.0)
    return d * (1.0 - torch.eye(d.shape[-1], dtype=d.dtype, device=d.device))


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks along the last dimension, ties given their mean rank (as Spearman's rho needs)."""
    flat = x.reshape(-1, x.shape[-1]).cpu().numpy()
    ranks = pd.DataFrame(flat).rank(axis=1, method="average").to_numpy()
    return torch.tensor(ranks).reshape(x.shape)


def rdm_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation between the upper triangles of two RDMs (..., N, N) -> (...):
    1 when ``a`` orders the pairs of examples exactly as ``b`` does. The usual comparison of
    RDMs in representational similarity analysis (Kriegeskorte et al. 2008)."""
    n = a.shape[-1]
    iu = torch.triu_indices(n, n, offset=1)
    ra = _ranks(a[..., iu[0], iu[1]].double())
    rb = _ranks(b[..., iu[0], iu[1]].double())
    ra = ra - ra.mean(-1, keepdim=True)
    rb = rb - rb.mean(-1, keepdim=True)
    den = (ra.norm(dim=-1) * rb.norm(dim=-1)).clamp_min(1e-12)
    return ((ra * rb).sum(-1) / den).float()


@torch.no_grad()
def weight_norms(net: Net) -> np.ndarray:
    """Frobenius norm of every block's effective weight, shape (S, blocks): hidden blocks first,
    the output layer last."""
    norms = [w.flatten(1).norm(dim=1) for w in effective_weights(net)]
    return torch.stack(norms, 1).cpu().numpy()


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    n_classes: int,
    steps: int = 150,
    lr: float = 0.1,
    weight_decay: float = 1e-4,
) -> np.ndarray:
    """Held-out accuracy of a linear softmax classifier trained on frozen features.

    ``train_x`` (P, N, d) and ``test_x`` (P, M, d) hold P independent probes (e.g. layers x
    seeds) trained at once; labels (N,) and (M,) are shared. Features are standardised with the
    training set's statistics, then full-batch Adam minimises cross-entropy (plus a little
    weight decay, so that separable features still give a finite solution). Returns (P,).

    Subnormal floats are flushed to zero while it trains (``torch.set_flush_denormal``, then
    torch's default again): a probe's softmax saturates, its gradients fill with subnormal
    numbers, and on x86 each costs about a hundred times a normal one (a probe on 1,000
    images: 4 s -> 0.25 s, the same accuracies)."""
    flushes = torch.set_flush_denormal(True)
    try:
        return _train_probe(train_x, train_y, test_x, test_y, n_classes, steps, lr, weight_decay)
    finally:
        if flushes:
            torch.set_flush_denormal(False)


def _train_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    n_classes: int,
    steps: int,
    lr: float,
    weight_decay: float,
) -> np.ndarray:
    mean = train_x.mean(1, keepdim=True)
    std = train_x.std(1, keepdim=True).clamp_min(1e-6)
    tr, te = (train_x - mean) / std, (test_x - mean) / std
    probe = BatchedLinear(tr.shape[-1], n_classes, generators(range(tr.shape[0]), 4), zero=True)
    probe.to(tr.device)
    opt = torch.optim.Adam(probe.parameters(), lr=lr, weight_decay=weight_decay)
    target = train_y.expand(tr.shape[0], -1)
    for _ in range(steps):
        opt.zero_grad()
        logits = probe(tr)
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (probe(te).argmax(-1) == test_y).float().mean(-1).cpu().numpy()


def pixel_probe(data: Dataset, n_train: int = 1000) -> float:
    """Held-out accuracy of a :func:`linear_probe` on the raw pixels (the first ``n_train``
    training images): what a layer's probe is compared against."""
    return float(
        linear_probe(
            data.x_train[None, :n_train],
            data.y_train[:n_train],
            data.x_test[None],
            data.y_test,
            data.n_classes,
        )[0]
    )


def slope(values: np.ndarray) -> np.ndarray:
    """Least-squares slope of each row of (S, L) against the layer index 0..L-1: the sign says
    whether a per-layer quantity rises (+) or falls (-) towards the output."""
    # by hand rather than np.polyfit: polyfit (least squares by SVD) differs in the last bits,
    # and by far more (1e-6 relative) for a small slope of large values, where the sign counts
    v = np.asarray(values, dtype=float)
    x = np.arange(v.shape[-1], dtype=float)
    x = x - x.mean()
    if math.isclose(float((x**2).sum()), 0.0):
        raise ValueError("a slope needs at least two layers")
    return ((v - v.mean(-1, keepdims=True)) * x).sum(-1) / (x**2).sum()


@torch.no_grad()
def weight_change(net: Net, start: Net) -> np.ndarray:
    """How far each block's raw weight matrix moved from ``start`` (the same seeds' network at
    initialisation): ``|W - W_0|_F / |W_0|_F``, shape (S, blocks)."""
    out = []
    for a, b in zip(net.linears(), start.linears(), strict=True):
        w0 = b.weight.to(a.weight.device)
        out.append((a.weight - w0).flatten(1).norm(dim=1) / w0.flatten(1).norm(dim=1))
    return torch.stack(out, 1).cpu().numpy()


@torch.no_grad()
def layer_rdms(net: Net, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The RDM of every layer on the examples ``x`` (N, d_in), shared by the seeds: (S, L+1,
    N, N), hidden layers first and the output last; and each hidden layer's
    :func:`rdm_similarity` to the output's, (S, L). In the network's current mode."""
    rdms = torch.stack([rdm(a) for a in net.activations(broadcast_seeds(x, net.n_seeds))], 1)
    hidden = rdms[:, :-1]
    return rdms, rdm_similarity(hidden, rdms[:, -1:].expand_as(hidden))


def rdm_metrics(data: Dataset, per_class: int = 10) -> Callable[[Net], dict[str, torch.Tensor]]:
    """A :func:`synthgrad.train.train` ``metrics`` callback (called in evaluation mode): per
    seed, ``rdm_sim_<k>``, hidden layer k's RDM similarity to the output layer on the first
    ``per_class`` held-out examples of each class, as :func:`layer_measures` measures it."""
    idx = class_sorted(data.y_test, per_class)

    def measure(net: Net) -> dict[str, torch.Tensor]:
        x = data.x_test[idx].to(next(net.parameters()).device)
        similarity = layer_rdms(net, x)[1]
        return {f"rdm_sim_{k}": similarity[:, k] for k in range(similarity.shape[1])}

    return measure


@dataclass
class LayerMeasures:
    """What every layer of a trained network (all seeds) looks like; L hidden layers.

    ``rdms`` (S, L+1, N, N): the RDM of each hidden layer and of the output (last) on the
    class-sorted examples ``examples``; ``similarity`` (S, L): each hidden layer's RDM against
    the output's (:func:`rdm_similarity`); ``norms`` (S, L+1): :func:`weight_norms`;
    ``probes`` (S, L): held-out accuracy of a :func:`linear_probe` on each hidden layer (NaN
    where they were not measured: ``layer_measures(..., probes=False)``)."""

    examples: np.ndarray
    rdms: np.ndarray
    similarity: np.ndarray
    norms: np.ndarray
    probes: np.ndarray


def layer_measures(
    net: Net,
    data: Dataset,
    per_class: int = 10,
    probe_train: int = 1000,
    probe_steps: int = 150,
    probes: bool = True,
) -> LayerMeasures:
    """RDMs, RDM similarity to the output, weight norms and linear probes of every layer, in
    evaluation mode. RDMs use the first ``per_class`` held-out examples of each class; probes
    train on the first ``probe_train`` training examples and are scored on the held-out set
    (``probes=False``: no probes, the slowest part)."""
    was_training = net.training
    net.eval()
    s = net.n_seeds
    idx = class_sorted(data.y_test, per_class)
    data = data.to(next(net.parameters()).device)
    with torch.no_grad():
        rdms, similarity = layer_rdms(net, data.x_test[idx])
        if probes:
            train_acts = net.activations(broadcast_seeds(data.x_train[:probe_train], s))[:-1]
            test_acts = net.activations(broadcast_seeds(data.x_test, s))[:-1]
    net.train(was_training)
    accuracy = np.full((s, net.n_hidden), np.nan)
    if not probes:
        return LayerMeasures(
            idx.numpy(), rdms.cpu().numpy(), similarity.cpu().numpy(), weight_norms(net), accuracy
        )
    by_width: dict[int, list[int]] = {}
    for k, a in enumerate(train_acts):
        by_width.setdefault(a.shape[-1], []).append(k)
    for layers in by_width.values():  # one batch of probes per width: layers x seeds
        acc = linear_probe(
            torch.cat([train_acts[k] for k in layers]),
            data.y_train[:probe_train],
            torch.cat([test_acts[k] for k in layers]),
            data.y_test,
            data.n_classes,
            steps=probe_steps,
        )
        accuracy[:, layers] = acc.reshape(len(layers), s).T
    return LayerMeasures(
        idx.numpy(), rdms.cpu().numpy(), similarity.cpu().numpy(), weight_norms(net), accuracy
    )
