"""Sequence tasks for chapter 8, generated from a seed: Copy and Repeat Copy (Graves et al.
2014, the tasks of the DNI paper's section 3.1), in the layout the public reimplementations use.

Copy: ``n`` random binary vectors of ``bits`` bits, then a delimiter; then the model must
output the ``n`` vectors in order. Repeat Copy: the same, with the number of repeats ``R`` given
with the delimiter (``R / 10`` on a channel of its own), the sequence to be output ``R`` times,
then an end marker. Inputs have ``bits + 2`` channels (the bits, the delimiter, the repeat
count), targets ``bits + 1`` (the bits, the end marker); the loss counts only where ``mask`` is
set: the output phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Sequences:
    """A batch of sequences: inputs ``xs`` (steps, batch, bits + 2), targets ``ys`` (steps,
    batch, bits + 1) and ``mask`` (steps, batch), 1 where the output is scored; of the target
    channels, the first ``scored``."""

    xs: torch.Tensor
    ys: torch.Tensor
    mask: torch.Tensor
    scored: int  # the target channels scored: the bits, and the end marker in Repeat Copy


def copy_task(
    n: int, batch: int, repeats: int | None = None, bits: int = 8, seed: int = 0
) -> Sequences:
    """Copy (``repeats=None``) or Repeat Copy of ``n`` vectors, ``batch`` sequences drawn from
    ``seed``. Copy has ``2n + 1`` steps; Repeat Copy ``n + 1 + n R + 1``."""
    if n < 1 or batch < 1 or bits < 1 or (repeats is not None and repeats < 1):
        raise ValueError(
            f"need n >= 1, batch >= 1, bits >= 1 and repeats >= 1 (or None); "
            f"got n={n}, batch={batch}, bits={bits}, repeats={repeats}"
        )
    g = torch.Generator().manual_seed(seed)
    pattern = torch.randint(0, 2, (n, batch, bits), generator=g).float()
    times = 1 if repeats is None else repeats
    marker = 0 if repeats is None else 1
    steps = n + 1 + n * times + marker
    xs = torch.zeros(steps, batch, bits + 2)
    ys = torch.zeros(steps, batch, bits + 1)
    mask = torch.zeros(steps, batch)
    xs[:n, :, :bits] = pattern
    xs[n, :, bits] = 1.0  # the delimiter
    if repeats is not None:
        xs[n, :, bits + 1] = repeats / 10
    out = n + 1
    ys[out : out + n * times, :, :bits] = pattern.repeat(times, 1, 1)
    if repeats is not None:
        ys[-1, :, bits] = 1.0  # the end marker
    mask[out:] = 1.0
    return Sequences(xs, ys, mask, bits + marker)


def bits_per_sequence(logits: torch.Tensor, task: Sequences) -> torch.Tensor:
    """The binary cross-entropy of the output phase in bits, summed over its steps and scored
    channels, mean over the batch: the error the curriculum reads."""
    k = task.scored
    each = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[..., :k], task.ys[..., :k], reduction="none"
    )
    return (each.sum(-1) * task.mask).sum(0).mean() / math.log(2)
