import torch

from synthgrad import data, models, rules, train


def test_batched_linear_matches_per_seed_matmul():
    lin = models.BatchedLinear(4, 3, models.generators([0, 1], 0))
    x = torch.randn(2, 5, 4)
    out = lin(x)
    for s in range(2):
        torch.testing.assert_close(out[s], x[s] @ lin.weight[s] + lin.bias[s])


def test_seed_gets_same_network_alone_or_batched():
    both = models.mlp(5, [7, 7], 2, seeds=[3, 4])
    alone = models.mlp(5, [7, 7], 2, seeds=[4])
    for a, b in zip(both.linears(), alone.linears(), strict=True):
        torch.testing.assert_close(a.weight[1], b.weight[0])
    other = models.mlp(5, [7, 7], 2, seeds=[5])
    assert not torch.equal(other.linears()[0].weight[0], alone.linears()[0].weight[0])


def test_batch_norm_is_per_seed():
    bn = models.BatchedBatchNorm(2, 3)
    x = torch.randn(2, 50, 3)
    x[1] = x[1] * 10 + 5
    y = bn(x)
    torch.testing.assert_close(y.mean(1), torch.zeros(2, 3), atol=1e-5, rtol=0)
    ref = torch.nn.functional.batch_norm(x[1], None, None, training=True)
    torch.testing.assert_close(y[1], ref, atol=1e-5, rtol=1e-5)


def test_activations_are_every_block_output():
    net = models.mlp(5, [7, 6, 4], 2, seeds=[0])
    x = torch.randn(1, 3, 5)
    acts = net.activations(x)
    assert [a.shape[-1] for a in acts] == [7, 6, 4, 2]
    torch.testing.assert_close(acts[-1], net(x))
    torch.testing.assert_close(net.run(acts[0], 1), net(x))


def _run(seeds, kind, optimizer="adam"):
    d = data.two_moons(n=300, n_test=100, seed=0)
    net = models.mlp(2, [16, 16, 16], 1, seeds, batch_norm=True)
    rule = rules.make_rule(kind, net, seeds, d_context=d.d_context)
    lr = 1e-2 if optimizer == "adam" else 0.1
    return train.train(
        net,
        rule,
        d,
        seeds,
        steps=25,
        lr=lr,
        batch_size=32,
        eval_every=5,
        optimizer=optimizer,
        progress=False,
    )


def test_batched_run_equals_seeds_run_one_by_one():
    # Equal up to float rounding (a batched matmul may round differently). Adam turns the
    # rounding noise of gradients that are zero in expectation (an SG bias below batch norm)
    # into full-size steps, so the SG rule is compared under SGD.
    for kind, optimizer in (("backprop", "adam"), ("sg_every", "sgd"), ("sg_middle", "sgd")):
        together = _run([0, 1, 2], kind, optimizer)
        for j, s in enumerate([0, 1, 2]):
            alone = _run([s], kind, optimizer)
            for name in ("loss", "sg_loss") if kind != "backprop" else ("loss",):
                torch.testing.assert_close(
                    torch.from_numpy(together.train[name][:, j]),
                    torch.from_numpy(alone.train[name][:, 0]),
                    rtol=1e-5,
                    atol=1e-6,
                )
            torch.testing.assert_close(
                torch.from_numpy(together.evals["test_loss"][:, j]),
                torch.from_numpy(alone.evals["test_loss"][:, 0]),
                rtol=1e-5,
                atol=1e-6,
            )


def test_same_seed_same_numbers():
    a, b = _run([7, 8], "sg_middle"), _run([7, 8], "sg_middle")
    for name in a.train:
        assert (a.train[name] == b.train[name]).all()
