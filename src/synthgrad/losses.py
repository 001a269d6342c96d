"""Per-seed losses: each takes model outputs (S, B, k) and targets, returns (S,) batch means."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def squared_error(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """0.5 * ||out - y||^2 per example (so its gradient is out - y), averaged over the batch."""
    return 0.5 * (out - y).pow(2).sum(-1).mean(-1)


def log_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of one logit per output against 0/1 targets."""
    return (
        F.binary_cross_entropy_with_logits(out, y.expand_as(out), reduction="none").sum(-1).mean(-1)
    )


def cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy against class indices (S, B) or (B,)."""
    y = y.expand(out.shape[:-1])
    return F.cross_entropy(out.transpose(1, 2), y, reduction="none").mean(-1)


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
