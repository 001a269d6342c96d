"""Chapter 5 (RQ3): how do SG-trained networks represent data?"""

from __future__ import annotations

from types import SimpleNamespace

from .. import params as P
from ..params import ParameterError
from . import MNIST_QUICK, Interface


def _resolve(p: SimpleNamespace) -> None:
    """Chapter 5: a GPU that exists, the depths as a sorted list, the RDM depth one of them
    (the deepest by default)."""
    if p.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ParameterError(
                "invalid parameter(s): device = 'cuda' is not allowed: torch sees no CUDA GPU "
                "on this machine"
            )
    p.depths = sorted(P.as_ints(p.depths))
    if p.rdm_depth is not None and p.rdm_depth not in p.depths:
        raise ParameterError(
            f"invalid parameter(s): rdm_depth = {p.rdm_depth!r} is not allowed: must be one of "
            f"depths {p.depths} (or None)"
        )
    p.rdm_depth = p.rdm_depth or max(p.depths)


INTERFACE = Interface(
    specs={
        "seed": P.integer(0), "n_seeds": P.integer(1, 20),
        "depths": P.ints(3, 50, max_len=8), "width": P.integer(2),
        "activation": P.choice("relu", "tanh"), "steps": P.integer(30),
        "batch_size": P.integer(1, 60000), "lr": P.positive(), "sg_hidden": P.integer(0),
        "conditioned": P.flag(), "loss_threshold": P.positive(),
        "rdm_depth": P.integer(3, 50, optional=True), "rdm_per_class": P.integer(1, 100),
        "widget": P.flag(), "device": P.choice("cpu", "cuda"),
        "scale": P.choice("small", "full"), "eval_every": P.integer(1),
        "wide_width": P.integer(2), "wide_depth": P.integer(3, 50),
        "wide_steps": P.integer(30), "quick": P.flag(),
    },
    record=("seed", "n_seeds", "depths", "width", "activation", "steps", "batch_size", "lr",
            "sg_hidden", "conditioned", "loss_threshold", "rdm_depth", "rdm_per_class",
            "widget", "scale", "eval_every", "device", "wide_width", "wide_depth",
            "wide_steps"),
    settings=dict(limit=None, widget_steps=300, live_steps=200),
    quick=dict(MNIST_QUICK, depths=[3, 4], rdm_depth=None, widget_steps=30, live_steps=10,
               wide_width=16, wide_depth=3, wide_steps=30),
    resolve=_resolve,
)  # fmt: skip
