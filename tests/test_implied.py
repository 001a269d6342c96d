import numpy as np
import torch
from test_rules import _exact_linear_sg

from synthgrad import data, implied, models, rules


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
