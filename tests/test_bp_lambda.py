"""BP(lambda) (chapter 8, issue 26): its lambda-return target pinned down at both ends, lambda
= 1 (the true future gradient, full BPTT's) and lambda = 0 (DNI's bootstrapping at T = 1)."""

import pytest
import torch
from test_recurrent import BATCH, HIDDEN, grads, model, problem, squared

from synthgrad import curricula as C
from synthgrad import recurrent as R
from synthgrad.bp_lambda import bp_lambda_sequence


def random_sg(seed: int = 1, hidden: int = HIDDEN) -> R.StateSG:
    """An SG whose prediction is not zero (a zero one would make lambda moot)."""
    torch.manual_seed(seed)
    sg = R.StateSG(hidden)
    with torch.no_grad():
        for p in sg.parameters():
            p.normal_(0.0, 0.3)
    return sg


def test_lambda_one_without_discount_targets_the_true_future_gradient():
    xs, ys = problem()
    _, future, _ = R.full_bptt(model(), xs, squared(ys), 1)  # windows of one step
    got = bp_lambda_sequence(model(), xs, squared(ys), random_sg(), lam=1.0, gamma=1.0)
    assert len(got["targets"]) == len(xs) - 1
    for target, true in zip(got["targets"], future[:-1], strict=True):
        for a, b in zip(target, true, strict=True):
            torch.testing.assert_close(a, BATCH * b, rtol=1e-5, atol=1e-6)
    discounted = bp_lambda_sequence(model(), xs, squared(ys), random_sg(), lam=1.0, gamma=0.5)
    assert not torch.allclose(discounted["targets"][0][0], got["targets"][0][0])  # can fail


def test_lambda_zero_is_dnis_bootstrapping_one_step_at_a_time():
    """The same model and SG gradients as DNI with windows of one step, its gradients
    accumulated, when gamma is DNI's scale; with lambda > 0 the SG's differ."""
    xs, ys = problem()
    dni, dni_sg = model(), random_sg()
    want = R.train_sequence(dni, xs, squared(ys), 1, sg=dni_sg, scale=0.3)
    bp, bp_sg = model(), random_sg()
    got = bp_lambda_sequence(bp, xs, squared(ys), bp_sg, lam=0.0, gamma=0.3, scale=0.3)
    torch.testing.assert_close(got["loss"], want["loss"])
    torch.testing.assert_close(got["sg_loss"], want["sg_loss"], rtol=1e-5, atol=1e-6)
    for a, b in zip(grads(dni) + grads(dni_sg), grads(bp) + grads(bp_sg), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    other_sg = random_sg()
    bp_lambda_sequence(model(), xs, squared(ys), other_sg, lam=0.8, gamma=0.3, scale=0.3)
    assert not all(torch.allclose(a, b) for a, b in zip(grads(other_sg), grads(bp_sg), strict=True))


def test_bp_lambda_refuses_nonsense_and_trains_a_copy_curriculum():
    xs, ys = problem()
    with pytest.raises(ValueError, match="lambda"):
        bp_lambda_sequence(model(), xs, squared(ys), random_sg(), lam=1.5)
    run = dict(sequences=8 * 3, hidden=8, batch=8, bits=3, probe_every=2, lam=0.5)
    log = C.copy_curriculum("bp_lambda", 1, **run)
    assert len(log["error"]) == 3 and len(log["sg_cosine"]) == 2
    assert repr(log) == repr(C.copy_curriculum("bp_lambda", 1, **run))  # a seed, the same run
    # BP(lambda)'s SG is injected unscaled unless told otherwise; DNI's at a tenth
    assert repr(log) == repr(C.copy_curriculum("bp_lambda", 1, scale=1.0, **run))
    assert repr(log) != repr(C.copy_curriculum("bp_lambda", 1, scale=0.1, **run))


def test_a_lambda_between_the_ends_is_the_lambda_return_by_explicit_jacobians():
    """lambda = 0.6, gamma = 0.8 on a tiny problem: the targets equal the recursion computed
    with each step's Jacobian written out as a matrix (not vector-Jacobian products)."""
    torch.manual_seed(0)
    steps, d_in, hidden = 5, 2, 3
    xs, ys = torch.randn(steps, 1, d_in), torch.randn(steps, 1, 2)
    net = R.Recurrent(d_in, hidden, 2)
    sg = random_sg(hidden=hidden)
    lam, gamma = 0.6, 0.8
    got = bp_lambda_sequence(net, xs, squared(ys), sg, lam=lam, gamma=gamma)["targets"]
    # the forward states, and per step the Jacobian of s_t = (h_t, c_t) in s_{t-1} and the
    # loss's gradient on s_t (on h: the read-out reads h)
    s, states = torch.zeros(1, 2 * hidden), []
    for t in range(steps):
        states.append(s)
        s = torch.cat(net.cell(xs[t], (s[:, :hidden], s[:, hidden:])), -1).detach()
    states.append(s)

    def step(t):
        return lambda v: torch.cat(net.cell(xs[t], (v[:, :hidden], v[:, hidden:])), -1)

    def sg_at(v):
        with torch.no_grad():
            return torch.cat(sg((v[:, :hidden], v[:, hidden:])), -1)

    G = torch.zeros(1, 2 * hidden)
    for t in range(steps - 1, 0, -1):  # states[t + 1] is s_t, states[t] is s_{t-1}
        J = torch.autograd.functional.jacobian(step(t), states[t])[0, :, 0, :]
        h = states[t + 1][:, :hidden].clone().requires_grad_(True)
        (g_h,) = torch.autograd.grad(squared(ys)(net.readout(h)[None], slice(t, t + 1)), h)
        g = torch.cat([g_h, torch.zeros_like(g_h)], -1)
        later = sg_at(states[t + 1]) if t < steps - 1 else torch.zeros_like(g)
        G = (g + gamma * ((1 - lam) * later + lam * G)) @ J
        torch.testing.assert_close(torch.cat(got[t - 1], -1), G, rtol=1e-4, atol=1e-6)
