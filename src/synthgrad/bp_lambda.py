"""BP(lambda): the state's synthetic gradient learned from lambda-returns (Pemberton and Costa,
TMLR 2024; code neuralml/bp_lambda), beside DNI's bootstrapping (:mod:`synthgrad.recurrent`).

The LSTM learns one step at a time: each step is a window of its own, whose loss and the SG's
prediction at its end state (scaled by ``scale``) are back-propagated through that step only.
What differs from DNI is how the SG learns. At the end state ``s_t`` of step ``t`` it should
predict the gradient of every later loss; its target is the lambda-return

    G_t = (g_{t+1} + gamma ((1 - lambda) SG(s_{t+1}) + lambda G_{t+1})) ds_{t+1}/ds_t,

where ``g_{t+1}`` is the gradient the loss at step ``t + 1`` sends to ``s_{t+1}`` and the
product is a vector-Jacobian product through one step (``G`` and ``SG`` are zero after the last
step). ``lambda = 0`` is one-step bootstrapping, DNI's own target at ``T = 1`` with ``gamma``
as its scale (tested: the same updates); ``lambda = 1`` with ``gamma = 1`` is the true gradient
of every later loss, full BPTT's (tested). The reference code learns the same target online,
with eligibility traces; with the SG's weights fixed over a sequence, as there (one optimiser
step per sequence), the traces' summed update is this target's (the forward view of
TD(lambda); exact without the reference's clipping of each SG update to norm 1, which is not
done here), computed here by one backward sweep of vector-Jacobian products. The reference's
LSTM also learns from one-step derivatives (its eligibility vectors decayed to zero) with the
SG's prediction added; its copy configuration's settings taken as defaults here: ``gamma =
0.9``, the SG's output injected unscaled.
"""

from __future__ import annotations

import torch

from .recurrent import Loss, Recurrent, State, StateSG, _leaf


def _zeros(state: State) -> State:
    return tuple(torch.zeros_like(s) for s in state)  # type: ignore[return-value]


def bp_lambda_sequence(
    model: Recurrent,
    xs: torch.Tensor,
    loss: Loss,
    sg: StateSG,
    lam: float,
    gamma: float = 0.9,
    scale: float = 1.0,
) -> dict[str, torch.Tensor]:
    """One sequence (steps, batch, ...) by BP(lambda): fills the model's gradients (one step
    at a time, the SG's prediction times ``scale`` injected at each step's end but the last)
    and the SG's (regressing the lambda-return at every step's end but the last; the module's
    docstring), accumulated over the sequence for one optimiser step by the caller. ``loss``
    is a batch mean, as in :func:`synthgrad.recurrent.train_sequence`; the SG predicts each
    example's gradient. Returns the sequence's loss, the SG's regression loss at each step's
    end, and the targets (each example's, per step's end but the last)."""
    if not 0.0 <= lam <= 1.0 or not 0.0 <= gamma <= 1.0:
        raise ValueError(f"BP(lambda) needs lambda and gamma in [0, 1], got {lam}, {gamma}")
    steps, batch = len(xs), xs.shape[1]
    state = model.initial(batch)
    starts, ends, nows, losses = [], [], [], []
    for t in range(steps):
        start = _leaf(state)
        out, end = model.run(xs[t : t + 1], start)
        step_loss = loss(out, slice(t, t + 1))
        # the loss reads the state through h alone: its gradient there, none on c (a gradient
        # taken on c too would count the path c -> h twice in the vector-Jacobian products)
        (now,) = torch.autograd.grad(step_loss, end[0], retain_graph=True)
        nows.append((batch * now, torch.zeros_like(end[1])))
        if t < steps - 1:
            with torch.no_grad():
                inject = tuple(scale * g / batch for g in sg(tuple(s.detach() for s in end)))
            torch.autograd.backward([step_loss, *end], [None, *inject], retain_graph=True)
        else:
            step_loss.backward(retain_graph=True)
        starts.append(start)
        ends.append(end)
        losses.append(step_loss.detach())
        state = tuple(s.detach() for s in end)
    # the lambda-returns, from the last step back: G_{t-1} = (g_t + gamma (...)) ds_t/ds_{t-1}
    targets: list[State] = [None] * (steps - 1)  # type: ignore[list-item]
    later, returned = _zeros(state), _zeros(state)  # SG(s_t) and G_t after the last step: zero
    for t in range(steps - 1, 0, -1):
        v = tuple(g + gamma * ((1.0 - lam) * p + lam * r)
                  for g, p, r in zip(nows[t], later, returned, strict=True))  # fmt: skip
        returned = torch.autograd.grad(ends[t], starts[t], grad_outputs=v, retain_graph=True)
        targets[t - 1] = tuple(r.detach() for r in returned)
        with torch.no_grad():
            later = sg(tuple(s.detach() for s in ends[t - 1]))
    sg_losses = []
    for t in range(steps - 1):
        pred = sg(tuple(s.detach() for s in ends[t]))
        sg_loss = sum(0.5 * (p - y).pow(2).sum(-1).mean()
                      for p, y in zip(pred, targets[t], strict=True))  # fmt: skip
        sg_loss.backward()
        sg_losses.append(sg_loss.detach())
    return {
        "loss": torch.stack(losses).sum(),
        "sg_loss": torch.stack(sg_losses) if sg_losses else torch.zeros(0),
        "targets": targets,
    }
