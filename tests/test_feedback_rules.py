"""FA, DFA, Kickback and the error-conditioned SG: the exact identities of chapter 6."""

import copy

import pytest
import torch

from synthgrad import losses, models, rules

SEEDS = [0, 1]


def _problem(batch_norm: bool, n: int = 32):
    g = torch.Generator().manual_seed(3)
    x = models.broadcast_seeds(torch.randn(n, 6, generator=g), len(SEEDS))
    y = torch.randint(0, 4, (n,), generator=g)
    net = models.mlp(6, [7, 5, 6], 4, SEEDS, batch_norm=batch_norm)
    return net, x, y, torch.nn.functional.one_hot(y, 4).float()


def _grads_under(rule_factory, net, x, y, ctx, loss_fn=losses.cross_entropy):
    net = copy.deepcopy(net)
    rule = rule_factory(net)
    net.zero_grad(set_to_none=True)
    rule.backward(net, x, y, ctx, loss_fn)
    return [p.grad.clone() for p in net.parameters()]


def _assert_same(a, b):
    for ga, gb in zip(a, b, strict=True):
        torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-7)


def _hidden_weights_differ(a, b, net):
    # the first hidden layer's weight gradient: far from the output, where proxies differ most
    return not torch.allclose(a[0], b[0], rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_dfa_as_a_fixed_error_conditioned_sg_gives_the_direct_dfa_updates(batch_norm):
    net, x, y, ctx = _problem(batch_norm)
    direct = _grads_under(lambda n: rules.DirectFeedbackAlignment(n, SEEDS), net, x, y, ctx)
    as_sg = _grads_under(lambda n: rules.ErrorSG(n, SEEDS, learned=False), net, x, y, ctx)
    _assert_same(direct, as_sg)
    bp = _grads_under(lambda n: rules.Backprop(), net, x, y, ctx)
    assert _hidden_weights_differ(direct, bp, net)  # DFA is not backprop
    _assert_same(direct[-2:], bp[-2:])  # ...but its output layer learns from the true gradient


@pytest.mark.parametrize("batch_norm", [False, True])
def test_fa_with_transposed_forward_weights_is_backprop(batch_norm):
    net, x, y, ctx = _problem(batch_norm)

    bp = _grads_under(lambda n: rules.Backprop(), net, x, y, ctx)
    _assert_same(
        _grads_under(lambda n: rules.FeedbackAlignment.transposed(n, SEEDS), net, x, y, ctx), bp
    )
    same = rules.updates(
        rules.FeedbackAlignment.transposed(net, SEEDS), net, x, y, ctx, losses.cross_entropy
    )
    assert rules.relative_difference(same, bp) < 1e-6
    fa = _grads_under(lambda n: rules.FeedbackAlignment(n, SEEDS), net, x, y, ctx)
    assert _hidden_weights_differ(fa, bp, net)  # random feedback is not backprop
    assert rules.relative_difference(fa, bp) > 1e-2
    assert all(p.grad is None for p in net.parameters())  # updates() works on a copy
    # and the forward pass is untouched by FA: the network's output is the same afterwards
    assert all(lin.feedback is None for lin in net.linears())


def test_backprop_through_the_rule_interface_matches_plain_autograd():
    net, x, y, ctx = _problem(batch_norm=False)
    got = _grads_under(lambda n: rules.Backprop(), net, x, y, ctx)
    params = list(net.parameters())
    for s in range(len(SEEDS)):
        logits = net(x)[s]
        loss = torch.nn.functional.cross_entropy(logits, y)
        want = torch.autograd.grad(loss, params)
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g[s], w[s], rtol=1e-5, atol=1e-7)


def test_received_signals_are_what_each_rule_sends():
    net, x, y, ctx = _problem(batch_norm=False)
    truth = rules.true_gradients(net, x, y, losses.cross_entropy)
    got = rules.received(rules.Backprop(), net, x, y, ctx, losses.cross_entropy)
    for a, b in zip(got, truth, strict=True):
        torch.testing.assert_close(a, b)
    dfa = rules.DirectFeedbackAlignment(net, SEEDS)
    got = rules.received(dfa, net, x, y, ctx, losses.cross_entropy)
    e = rules.output_error(net(x), y, losses.cross_entropy)
    torch.testing.assert_close(e, torch.softmax(net(x), -1) - ctx)
    for a, b in zip(got, dfa.feedback, strict=True):
        torch.testing.assert_close(a, torch.bmm(e, b), rtol=1e-5, atol=1e-7)
    cos = rules.alignment(rules.Backprop(), net, x, y, ctx, losses.cross_entropy)
    torch.testing.assert_close(cos, torch.ones(len(SEEDS), net.n_hidden))
    cos = rules.alignment(dfa, net, x, y, ctx, losses.cross_entropy)
    assert cos.shape == (2, 3) and (cos.abs() < 0.9).all()
    # an example with a zero true gradient (every unit above off) has no direction: left out
    dead = rules.true_gradients(net, x, y, losses.cross_entropy)[0].norm(dim=-1) == 0
    assert dead.any(), "the test problem should have such examples"


def test_learned_error_sg_aligns_with_the_true_gradient():
    net, x, y, ctx = _problem(batch_norm=False, n=64)
    rule = rules.ErrorSG(net, SEEDS, learned=True)
    before = rules.alignment(rule, net, x, y, ctx, losses.cross_entropy)
    opt = torch.optim.Adam(rule.parameters(), lr=1e-2)  # the network stays fixed
    for _ in range(300):
        opt.zero_grad()
        rule.backward(net, x, y, ctx, losses.cross_entropy)
        opt.step()
    after = rules.alignment(rule, net, x, y, ctx, losses.cross_entropy)
    assert (after > before).all(), (before, after)
    # the top hidden layer's true gradient is e W_out^T, linear in the error: learnable exactly
    assert (after[:, -1] > 0.99).all() and (before[:, -1] < 0.9).all()
    fixed = rules.ErrorSG(net, SEEDS, learned=False)
    assert not list(p for p in fixed.parameters() if p.requires_grad)


def test_kickback_as_the_papers_fixed_sg_gives_the_direct_kickback_updates():
    net, x, y, ctx = _problem(batch_norm=False)
    direct = _grads_under(lambda n: rules.Kickback(n), net, x, y, ctx)
    as_sg = _grads_under(lambda n: rules.KickbackSG(), net, x, y, ctx)
    _assert_same(direct, as_sg)
    bp = _grads_under(lambda n: rules.Backprop(), net, x, y, ctx)
    assert _hidden_weights_differ(direct, bp, net)
    _assert_same(direct[-2:], bp[-2:])  # the output layer learns from the true gradient


def test_kickback_signal_is_the_scalar_error_times_the_kickbacks():
    # one output (regression): tau_j = sum of j's outgoing weights to the active units above
    g = torch.Generator().manual_seed(0)
    net = models.mlp(3, [4, 5], 1, [0])
    x = models.broadcast_seeds(torch.randn(8, 3, generator=g), 1)
    y = torch.randn(8, 1, generator=g)
    got = rules.received(rules.Kickback(net), net, x, y, y, losses.squared_error)
    a1 = net.blocks[1][0](net.blocks[0](x))  # pre-activation of the second hidden layer
    beta = net(x) - y  # the error of the single output (squared error)
    w1, w_out = net.blocks[1][0].weight[0], net.blocks[2][0].weight[0]
    tau0 = (a1[0] > 0).float() @ w1.T  # (B, 4)
    torch.testing.assert_close(got[0][0], beta[0] * tau0, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(got[1][0], beta[0] * w_out.T.expand(8, -1), rtol=1e-5, atol=1e-7)
    # with a single output and one hidden layer, Kickback is backprop
    shallow = models.mlp(3, [4], 1, [0])
    kb = _grads_under(lambda n: rules.Kickback(n), shallow, x, y, y, losses.squared_error)
    bp = _grads_under(lambda n: rules.Backprop(), shallow, x, y, y, losses.squared_error)
    _assert_same(kb, bp)


def test_kickback_refuses_what_it_is_not_defined_for():
    with pytest.raises(ValueError, match="linear \\+ ReLU"):
        rules.Kickback(models.mlp(3, [4], 2, [0], batch_norm=True))
    e = torch.randn(1, 5, 3)
    with pytest.raises(ValueError, match="one output"):
        rules.kickback_error(e, torch.randn(5, 3))
    assert rules.kickback_error(e, torch.tensor([0, 1, 2, 0, 1])).shape == (1, 5, 1)


@pytest.mark.parametrize(
    "kind", ["backprop", "fa", "dfa", "dfa_as_sg", "error_sg", "kickback", "kickback_as_sg"]
)
def test_every_rule_trains_through_the_one_loop(kind):
    from synthgrad import data, train

    d = data.two_moons(n=256, seed=0)
    net = models.mlp(d.d_in, [16, 16, 16], d.d_out, SEEDS)
    rule = rules.make_rule(kind, net, SEEDS)
    h = train.train(net, rule, d, SEEDS, steps=60, lr=1e-2, batch_size=64, align_examples=32)
    assert h.train["loss"][-10:].mean() < h.train["loss"][:10].mean()
    assert {"align_0", "align_1", "align_2"} <= set(h.evals)
    with pytest.raises(ValueError, match="unknown rule 'nope'; known: backprop, fa"):
        rules.make_rule("nope", net, SEEDS)
