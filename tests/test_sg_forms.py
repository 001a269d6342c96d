import torch

from synthgrad import data, losses, models, rules, sg


def test_loss_matched_sg_represents_the_log_loss_gradient_exactly():
    seeds = [0, 1]
    d = data.noisy_linear_labels(n=64, d=3, flip=0.1, seed=0)
    net = models.mlp(3, [4], 1, seeds, activation="linear")
    x = models.broadcast_seeds(d.x_train, 2)
    module = sg.LossMatchedSG(4, 1, models.generators(seeds, 1))
    out = net.blocks[-1][0]
    with torch.no_grad():
        module.inner.weight.copy_(out.weight)
        module.inner.bias.copy_(out.bias)
        module.outer.weight.copy_(out.weight.transpose(1, 2))
    h = net.run(x, 0, 1).detach().requires_grad_(True)
    loss = losses.log_loss(net.run(h, 1), d.y_train)
    (true,) = torch.autograd.grad(loss.sum(), h)
    torch.testing.assert_close(module(h, d.y_train), true * x.shape[1])


def test_loss_matched_sg_starts_at_zero_and_plugs_into_the_sg_rule():
    seeds = [0]
    d = data.noisy_linear_labels(n=32, d=2, seed=1)
    net = models.mlp(2, [3], 1, seeds, activation="linear")
    rule = rules.SyntheticGradients(net, [0], seeds, d_context=1)
    rule.sgs[0] = sg.LossMatchedSG(3, 1, models.generators(seeds, 1))
    x = models.broadcast_seeds(d.x_train, 1)
    assert torch.count_nonzero(rule.sgs[0](x[:, :, :2] @ torch.ones(1, 2, 3), d.y_train)) == 0
    sig = rule.signals(net, x, d.y_train, d.context(d.y_train), losses.log_loss)
    assert sig.sg_losses[0].item() > 0 and rule.sgs[0].outer.weight.grad.abs().sum() > 0


def _grads(module):
    return [p.grad.clone() for p in module.parameters()]


def test_controlled_error_zero_is_backprop_and_error_has_the_requested_size():
    seeds = [0, 1]
    d = data.linear_regression(n=32, d=4, d_out=2, seed=0)
    x, y = models.broadcast_seeds(d.x_train, 2), d.y_train
    bp, ce = (models.mlp(4, [5, 6], 2, seeds) for _ in range(2))
    rules.Backprop().backward(bp, x, y, d.context(y), losses.squared_error)
    rules.ControlledError(ce, 1, seeds, 0.0).backward(ce, x, y, d.context(y), losses.squared_error)
    for a, b in zip(_grads(bp), _grads(ce), strict=True):
        torch.testing.assert_close(a, b)
    rule = rules.ControlledError(ce, 1, seeds, 0.3)
    g = torch.randn(2, 32, 6)
    err = (rule.perturb(g) - g).norm(dim=-1) / g.norm(dim=-1)
    torch.testing.assert_close(err, torch.full_like(err, 0.3))
    assert not torch.equal(rule.perturb(g), rule.perturb(g))  # a fresh direction each call


def test_conditioned_sg_is_one_map_over_the_activation_and_label():
    """The cDNI SG's first map, kept in two parts, is the map over the concatenation [h, y]
    whose matrix was drawn whole (same generators, same numbers)."""
    gens = models.generators([0, 1], 1)
    module = sg.SyntheticGradient(5, gens, d_context=3, hidden=4)
    whole = models.BatchedLinear(8, 4, models.generators([0, 1], 1), std=(2.0 / 8) ** 0.5)
    first = module.net[0]
    torch.testing.assert_close(torch.cat([first.weight, first.context_weight], 1), whole.weight)
    h, y = torch.randn(2, 7, 5), torch.randn(7, 3)
    torch.testing.assert_close(
        first(h, y.expand(2, 7, 3)), whole(torch.cat([h, y.expand(2, 7, 3)], -1))
    )
