"""Optima computed independently of any training run, and distances to them.

:func:`logistic_optimum` (Newton's method, for the log loss) and :func:`least_squares_optimum`
(closed form, for the squared error) are the references chapters 2 and 3 measure SG learning
against; :func:`relative_distance` measures how far points lie from one.
"""

from __future__ import annotations

import torch


def logistic_optimum(x: torch.Tensor, y: torch.Tensor, iters: int = 100) -> torch.Tensor:
    """The minimiser of mean log loss of h = x w (no bias) by Newton's method, to machine
    precision; raises if the data are separable (no finite optimum)."""
    x, y = x.to(torch.float64), y.to(torch.float64).reshape(-1)
    w = torch.zeros(x.shape[1], dtype=torch.float64)
    for _ in range(iters):
        p = torch.sigmoid(x @ w)
        grad = x.T @ (p - y) / len(y)
        if grad.norm() < 1e-13:
            if ((x @ w > 0).to(y.dtype) == y).all():  # every point right: w can always grow
                break
            return w
        hess = (x * (p * (1 - p))[:, None]).T @ x / len(y)
        w = w - torch.linalg.solve(hess, grad)
        if w.norm() > 1e3:  # the loss keeps falling as w grows: no finite minimiser
            break
    raise ValueError("logistic regression did not converge: are the data separable?")


def least_squares_optimum(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The minimiser of mean squared error of x W against y (no bias), in closed form."""
    x, y = x.to(torch.float64), y.to(torch.float64)
    return torch.linalg.lstsq(x, y).solution


def relative_distance(points: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """|point - ref| / |ref| for every row of ``points``."""
    return (points - ref).norm(dim=-1) / ref.norm()
