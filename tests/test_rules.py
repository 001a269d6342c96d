import pytest
import torch

from synthgrad import data, losses, models, rules, sg


def _grads(module):
    return [p.grad.clone() for p in module.parameters()]


def _exact_linear_sg(net, sg_module):
    """Set a linear cDNI SG to the exact gradient map of 0.5||h W + b - y||^2: h W W^T - y W^T + b W^T."""
    out = net.blocks[-1][0]
    w, b = out.weight, out.bias
    lin = sg_module.output_layer
    with torch.no_grad():
        lin.weight.copy_(w @ w.transpose(1, 2))
        lin.context_weight.copy_(-w.transpose(1, 2))
        lin.bias.copy_(b @ w.transpose(1, 2))


def test_exact_sg_reproduces_backprop_updates():
    seeds = [0, 1]
    d = data.linear_regression(n=64, d=4, d_out=3, seed=1)
    x, y = models.broadcast_seeds(d.x_train, 2), d.y_train
    bp_net = models.mlp(4, [5, 6], 3, seeds, activation="linear")
    sg_net = models.mlp(4, [5, 6], 3, seeds, activation="linear")
    rules.Backprop().backward(bp_net, x, y, d.context(y), losses.squared_error)
    rule = rules.SyntheticGradients(sg_net, [1], seeds, d_context=3)
    _exact_linear_sg(sg_net, rule.sgs[0])
    sig = rule.signals(sg_net, x, y, d.context(y), losses.squared_error)
    for a, b in zip(_grads(bp_net), _grads(sg_net), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert sig.sg_losses[0].max() < 1e-10


def test_zero_initialised_sg_gives_no_update_below():
    seeds = [0]
    net = models.mlp(3, [4, 4], 2, seeds)
    rule = rules.SyntheticGradients(net, [0], seeds, d_context=2, hidden=8)
    d = data.linear_regression(n=16, d=3, d_out=2)
    x = models.broadcast_seeds(d.x_train, 1)
    rule.signals(net, x, d.y_train, d.context(d.y_train), losses.squared_error)
    assert torch.count_nonzero(net.blocks[0][0].weight.grad) == 0
    assert torch.count_nonzero(net.blocks[1][0].weight.grad) > 0
    # ...and the SG learns (its output layer gets a non-zero gradient)
    assert torch.count_nonzero(rule.sgs[0].output_layer.weight.grad) > 0


def test_linear_sg_learns_the_exact_gradient_map():
    seeds = [0]
    d = data.linear_regression(n=512, d=4, d_out=2, noise=0.3, seed=2)
    net = models.mlp(4, [3], 2, seeds, activation="linear")
    rule = rules.SyntheticGradients(net, [0], seeds, d_context=2)
    opt = torch.optim.Adam(rule.parameters(), lr=1e-2)  # the model stays fixed
    x = models.broadcast_seeds(d.x_train, 1)
    for _ in range(3000):
        opt.zero_grad()
        rule.signals(net, x, d.y_train, d.context(d.y_train), losses.squared_error)
        opt.step()
    out = net.blocks[-1][0]
    w = out.weight
    lin = rule.sgs[0].output_layer
    torch.testing.assert_close(lin.weight, w @ w.transpose(1, 2), atol=2e-3, rtol=0)
    torch.testing.assert_close(lin.context_weight, -w.transpose(1, 2), atol=2e-3, rtol=0)
    torch.testing.assert_close(lin.bias, out.bias @ w.transpose(1, 2), atol=2e-3, rtol=0)


def test_bootstrapped_target_is_next_sg_backpropagated_through_one_block():
    seeds = [0, 1]
    d = data.two_moons(n=40, seed=0)
    net = models.mlp(2, [6, 5, 4], 1, seeds)
    rule = rules.SyntheticGradients(net, [0, 1, 2], seeds, d_context=1, hidden=7)
    for p in rule.parameters():  # make every SG non-zero
        torch.nn.init.normal_(p, std=0.3)
    x = models.broadcast_seeds(d.x_train, 2)
    ctx = d.context(d.y_train)
    sig = rule.signals(net, x, d.y_train, ctx, losses.log_loss)
    for i in range(2):
        h = sig.activations[i].clone().requires_grad_(True)
        above = net.run(h, i + 1, i + 2)  # one block
        (manual,) = torch.autograd.grad(above, h, sig.predictions[i + 1])
        torch.testing.assert_close(sig.targets[i], manual)
    # the top SG regresses the true per-example gradient of the loss
    h = sig.activations[2].clone().requires_grad_(True)
    loss = losses.log_loss(net.run(h, 3), d.y_train)
    (true,) = torch.autograd.grad(loss.sum(), h)
    torch.testing.assert_close(sig.targets[2], true * x.shape[1])


def test_sg_rule_rejects_bad_positions_and_needs_context():
    net = models.mlp(2, [4, 4], 1, [0])
    for bad in ([], [3], [-1]):
        with pytest.raises(ValueError):
            rules.SyntheticGradients(net, bad, [0])
    module = sg.SyntheticGradient(4, models.generators([0], 1), d_context=2)
    with pytest.raises(ValueError, match="context"):
        module(torch.zeros(1, 3, 4))


def test_middle_position():
    for n_hidden, expected in ((1, 0), (3, 1), (4, 1), (5, 2)):
        net = models.mlp(2, [3] * n_hidden, 1, [0])
        assert rules.make_rule("sg_middle", net, [0]).positions == [expected]


def test_make_rule_builds_every_sg_form_and_the_controlled_error():
    net = models.mlp(2, [3, 3], 1, [0])
    assert rules.make_rule("sg", net, [0], positions=[2]).positions == [2]  # at the output
    matched = rules.make_rule("sg", net, [0], d_context=1, positions=[0], form="matched")
    assert isinstance(matched.sgs[0], sg.LossMatchedSG)
    ce = rules.make_rule("controlled_error", net, [0], positions=[1], error=0.5, mode="opposing")
    assert isinstance(ce, rules.ControlledError) and (ce.position, ce.error) == (1, 0.5)
    with pytest.raises(ValueError, match="positions"):
        rules.make_rule("sg", net, [0])
    with pytest.raises(ValueError, match="one position"):
        rules.make_rule("controlled_error", net, [0], positions=[0, 1])
    with pytest.raises(ValueError, match="places its own"):
        rules.make_rule("sg_middle", net, [0], positions=[0])
    with pytest.raises(ValueError, match="unknown rule"):
        rules.make_rule("magic", net, [0])


def test_sg_parameter_gradients_are_those_of_the_sg_loss():
    """The hand-written SG-loss gradient equals autograd's of 0.5 |prediction - target|^2,
    averaged over the batch, for every SG (bootstrapped targets included)."""
    seeds = [0, 1]
    d = data.two_moons(n=40, seed=0)
    net = models.mlp(2, [6, 5, 4], 1, seeds)
    rule = rules.SyntheticGradients(net, [0, 1, 2], seeds, d_context=1, hidden=7)
    for p in rule.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x, ctx = models.broadcast_seeds(d.x_train, 2), d.context(d.y_train)
    sig = rule.signals(net, x, d.y_train, ctx, losses.log_loss)
    for module, h, target, sg_loss in zip(
        rule.sgs, sig.activations, sig.targets, sig.sg_losses, strict=True
    ):
        expected = 0.5 * (module(h, ctx) - target).pow(2).sum(-1).mean(-1)
        torch.testing.assert_close(sg_loss, expected.detach())
        manual = torch.autograd.grad(expected.sum(), list(module.parameters()))
        for p, g in zip(module.parameters(), manual, strict=True):
            torch.testing.assert_close(p.grad, g)
