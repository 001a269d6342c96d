import numpy as np
import pytest
import torch
from test_rules import _exact_linear_sg

from synthgrad import data, implied, losses, models, rules, sg


def test_quadratic_field_implies_the_quadratic():
    a = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)

    def q(h):
        return 0.5 * ((h @ a) * h).sum(-1)

    h0, h1 = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    got = implied.path_integral(lambda h: h @ a, implied.line(h0, h1))
    torch.testing.assert_close(got, q(h1) - q(h0))
    imp, true = implied.along_line(lambda h: h @ a, q, h0, h1 - h0, np.array([0.5, 1.0]))
    torch.testing.assert_close(imp, true)
    agree = implied.agreement(imp[-1], true[-1])
    assert agree["corr"] > 1 - 1e-9 and agree["rel_error"] < 1e-9


def test_integral_does_not_depend_on_the_parametrisation():
    def rotate(h):  # a field that is no gradient: the result depends on the path, not its speed
        return torch.stack([-(h[..., 1] ** 2), h[..., 0]], -1)

    h0, h1 = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    straight = implied.path_integral(rotate, implied.line(h0, h1))
    slow_start = implied.path_integral(rotate, lambda t: (h0 + t**2 * (h1 - h0), 2 * t * (h1 - h0)))
    torch.testing.assert_close(straight, slow_start)


def _exact_setup(n, seed):
    """A deep linear net with a linear cDNI SG at layer 1 set to the exact gradient map."""
    d = data.linear_regression(n=n, d=3, d_out=2, seed=seed)
    net = models.mlp(3, [4, 5], 2, [0], activation="linear")
    rule = rules.SyntheticGradients(net, [1], [0], d_context=2)
    _exact_linear_sg(net, rule.sgs[0])  # the exact gradient map of 0.5|hW + b - y|^2
    return d, net, rule


def test_agreement_is_perfect_for_an_exact_sg_and_poor_for_a_zero_one():
    d, net, rule = _exact_setup(n=64, seed=0)
    ctx = d.context(d.y_train)
    m = implied.layer_agreement(net, rule, d.x_train, d.y_train, ctx, "regression")
    assert m["1_random_corr"].min() > 0.999 and m["1_descent_rel_error"].max() < 1e-4
    # the control: the first-order prediction on the same paths, good but not exact on a
    # quadratic loss (the exact SG integrates its curvature, the control holds the gradient)
    assert 0.5 < m["1_descent_corr_first_order"].item() < m["1_descent_corr"].item()
    zero = rules.SyntheticGradients(net, [1], [0], d_context=2)
    m0 = implied.layer_agreement(net, zero, d.x_train, d.y_train, ctx, "regression")
    torch.testing.assert_close(m0["1_random_rel_error"], torch.ones(1))  # implies no change at all


def test_layer_slices_of_an_exact_sg_coincide():
    d, net, rule = _exact_setup(n=16, seed=1)
    radii = np.linspace(0, 0.5, 6)
    imp, true = implied.layer_slices(
        net, rule, d.x_train, d.y_train, d.context(d.y_train), "regression", radii
    )[1]
    assert imp.shape == (6, 1, 16)
    torch.testing.assert_close(imp, true, rtol=1e-4, atol=1e-5)
    assert (true[1] < 0).all()  # a small step along the descent direction lowers the true loss


def test_quadratic_implied_loss_has_the_sg_as_gradient():
    gens = models.generators([0, 1], 1)
    module = sg.SyntheticGradient(3, gens, d_context=2)
    lin = module.output_layer
    with torch.no_grad():
        w = torch.randn(2, 3, 3)
        lin.weight.copy_(w + w.transpose(1, 2))  # a symmetric W: a gradient field
        lin.context_weight.normal_()
        lin.bias.normal_()
    q = implied.quadratic(module)
    assert q.asymmetry.max() < 1e-6
    h = torch.randn(2, 5, 3, requires_grad=True)
    y = torch.randn(5, 2)
    (grad,) = torch.autograd.grad(q(h, y).sum(), h)
    torch.testing.assert_close(grad, module(h, y).detach())
    # one unit: the path integral from 0 gives the same loss
    one = sg.SyntheticGradient(1, gens, d_context=1)
    with torch.no_grad():
        for prm in one.parameters():
            prm.normal_()
    h1, y1 = torch.randn(2, 7, 1), torch.rand(7, 1)
    torch.testing.assert_close(implied.implied_loss_1d(one, h1, y1), implied.quadratic(one)(h1, y1))
    with pytest.raises(ValueError, match="linear, label-conditioned"):
        implied.quadratic(sg.SyntheticGradient(3, gens, d_context=0))


def test_exact_loss_matched_sg_implies_the_log_loss():
    module = sg.LossMatchedSG(1, 1, models.generators([0], 1))
    with torch.no_grad():
        module.inner.weight.fill_(1.0)
        module.outer.weight.fill_(1.0)  # s(h, y) = sigmoid(h) - y, the log loss's gradient
    h, y = torch.linspace(-6, 6, 25).reshape(1, 25, 1), (torch.arange(25) % 2).float()[:, None]
    true = losses.log_loss_each(h, y) - losses.log_loss_each(torch.zeros_like(h), y)
    torch.testing.assert_close(implied.implied_loss_1d(module, h, y), true, atol=1e-5, rtol=0)
