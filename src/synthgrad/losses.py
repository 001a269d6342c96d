"""Losses of model outputs (S, B, k) against targets: per example (S, B) and batch means (S,);
and elementwise losses ``l(h, y)`` of a single unit ``h`` (any shape), for chapter 2."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def squared_error_each(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """0.5 * ||out - y||^2 per example (so its gradient is out - y): (S, B)."""
    return 0.5 * (out - y).pow(2).sum(-1)


def log_loss_each(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the logits against 0/1 targets, per example: (S, B)."""
    return F.binary_cross_entropy_with_logits(out, y.expand_as(out), reduction="none").sum(-1)


def cross_entropy_each(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy against class indices (S, B) or (B,), per example: (S, B)."""
    y = y.expand(out.shape[:-1])
    return F.cross_entropy(out.transpose(1, 2), y, reduction="none")


def squared_error(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Batch mean of :func:`squared_error_each`: (S,)."""
    return squared_error_each(out, y).mean(-1)


def log_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Batch mean of :func:`log_loss_each`: (S,)."""
    return log_loss_each(out, y).mean(-1)


def cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Batch mean of :func:`cross_entropy_each`: (S,)."""
    return cross_entropy_each(out, y).mean(-1)


def squared_error_elementwise(h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """0.5 (h - y)^2 for every entry: the squared error of one unit h, per example."""
    return 0.5 * (h - y) ** 2


def log_loss_elementwise(h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the logit h against y in {0, 1}, for every entry: the log loss
    of one unit h, per example (computed as ``softplus(h) - y h``)."""
    return F.softplus(h) - y * h


PER_EXAMPLE: dict[str, LossFn] = {
    "regression": squared_error_each,
    "binary": log_loss_each,
    "classification": cross_entropy_each,
}
LOSSES: dict[str, LossFn] = {
    "regression": squared_error,
    "binary": log_loss,
    "classification": cross_entropy,
}


def accuracy(out: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor | None:
    """Per-seed accuracy for classification and binary tasks, None for regression."""
    if task == "classification":
        return (out.argmax(-1) == y).float().mean(-1)
    if task == "binary":
        return ((out > 0).float() == y).float().mean((-1, -2))
    return None
