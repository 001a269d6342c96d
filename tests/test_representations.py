import numpy as np
import pytest
import torch

from synthgrad import analysis, models, params, representations, train


def test_rdm_is_symmetric_zero_diagonal_and_scale_invariant():
    a = torch.randn(3, 12, 7)
    d = representations.rdm(a)
    assert d.shape == (3, 12, 12)
    torch.testing.assert_close(d, d.transpose(1, 2))
    assert torch.all(torch.diagonal(d, dim1=1, dim2=2) == 0)
    assert d.min() >= 0 and d.max() <= 2
    scaled = a * torch.tensor([0.1, 5.0, 300.0]).reshape(3, 1, 1) + 2.0
    torch.testing.assert_close(representations.rdm(scaled), d, atol=1e-5, rtol=0)


def test_rdm_values_are_one_minus_correlation():
    a = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.1], [3.0, 2.0, 1.0], [0.0, 0.0, 0.0]])
    d = representations.rdm(a)
    assert d[0, 1] == pytest.approx(1 - np.corrcoef([1, 2, 3], [2, 4, 6.1])[0, 1], abs=1e-6)
    assert d[0, 2] == pytest.approx(2.0, abs=1e-6)  # perfectly anti-correlated
    assert d[3, 0] == pytest.approx(1.0) and d[3, 3] == 0  # a dead example correlates with none


def test_rdm_similarity_is_spearman_of_upper_triangles():
    a = representations.rdm(torch.randn(20, 5))
    assert representations.rdm_similarity(a, a).item() == pytest.approx(1.0)
    # a monotone transform of the dissimilarities keeps the ranks: still 1
    assert representations.rdm_similarity(a, a**3).item() == pytest.approx(1.0)
    # reversing the order of the pairs gives -1
    assert representations.rdm_similarity(a, 2 - a).item() == pytest.approx(-1.0)
    b = representations.rdm(torch.randn(20, 5))
    assert abs(representations.rdm_similarity(a, b).item()) < 0.5
    # ties get their mean rank, as in the textbook definition
    x = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 2.0], [1.0, 2.0, 0.0]])
    y = torch.tensor([[0.0, 1.0, 3.0], [1.0, 0.0, 2.0], [3.0, 2.0, 0.0]])
    # upper triangles (1, 1, 2) and (1, 3, 2): ranks (1.5, 1.5, 3) and (1, 3, 2)
    ra, rb = np.array([1.5, 1.5, 3.0]), np.array([1.0, 3.0, 2.0])
    want = np.corrcoef(ra, rb)[0, 1]
    assert representations.rdm_similarity(x, y).item() == pytest.approx(want, abs=1e-6)


def test_class_sorted_orders_examples_by_class():
    labels = torch.tensor([2, 0, 1, 0, 2, 1, 1, 0, 2])
    idx = representations.class_sorted(labels, 2)
    assert labels[idx].tolist() == [0, 0, 1, 1, 2, 2]
    assert idx.tolist() == [1, 3, 2, 5, 0, 4]
    with pytest.raises(ValueError, match="class 0 has 3 examples"):
        representations.class_sorted(labels, 4)


def test_effective_weight_reproduces_the_block_in_eval_mode():
    net = models.mlp(6, [5, 4], 3, seeds=[0, 1], batch_norm=True)
    net.train()
    for _ in range(5):  # move the running statistics and the BN affine parameters
        net(torch.randn(2, 32, 6) * 3 + 1)
    with torch.no_grad():
        for block in net.blocks[:-1]:
            bn = block[1].bn
            bn.weight.uniform_(0.5, 2.0)
    net.eval()
    x = torch.randn(2, 10, 6)
    w_eff = representations.effective_weights(net)
    assert [tuple(w.shape) for w in w_eff] == [(2, 6, 5), (2, 5, 4), (2, 4, 3)]
    with torch.no_grad():
        pre = net.blocks[0][1](net.blocks[0][0](x))  # linear then batch norm
        const = pre - x @ w_eff[0]  # what is left must not depend on x: a bias per feature
    torch.testing.assert_close(const - const[:, :1], torch.zeros_like(const), atol=1e-5, rtol=0)
    # without batch norm the effective weight is the weight itself
    plain = models.mlp(6, [5], 3, seeds=[0])
    torch.testing.assert_close(
        representations.effective_weights(plain)[0], plain.linears()[0].weight
    )
    norms = representations.weight_norms(net)
    assert norms.shape == (2, 3)
    assert norms[1, 2] == pytest.approx(net.linears()[-1].weight[1].norm().item(), rel=1e-6)


def test_linear_probe_separable_features_reach_100_percent():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 8, generator=g) * 4
    y_tr, y_te = torch.randint(0, 4, (400,), generator=g), torch.randint(0, 4, (200,), generator=g)
    x_tr = centres[y_tr] + 0.3 * torch.randn(400, 8, generator=g)
    x_te = centres[y_te] + 0.3 * torch.randn(200, 8, generator=g)
    noise_tr, noise_te = torch.randn(400, 8, generator=g), torch.randn(200, 8, generator=g)
    acc = representations.linear_probe(
        torch.stack([x_tr, noise_tr]), y_tr, torch.stack([x_te, noise_te]), y_te, 4
    )
    assert acc[0] == 1.0
    assert acc[1] < 0.45  # pure noise: near chance (0.25)


def test_a_probe_flushes_subnormals_while_it_trains_and_only_then():
    """Flushing subnormal floats (the speed of a saturated probe) leaves its accuracies as they
    were, on features whose softmax saturates; torch's default is back after the probe."""
    g = torch.Generator().manual_seed(1)
    centres = torch.randn(10, 64, generator=g) * 6
    y_tr, y_te = (
        torch.randint(0, 10, (300,), generator=g),
        torch.randint(0, 10, (300,), generator=g),
    )
    x_tr = (centres[y_tr] + torch.randn(300, 64, generator=g))[None].repeat(2, 1, 1)
    x_te = (centres[y_te] + 3 * torch.randn(300, 64, generator=g))[None].repeat(2, 1, 1)
    x_tr[1] += torch.randn(300, 64, generator=g)
    args = (x_tr, y_tr, x_te, y_te, 10, 300, 0.1, 1e-4)
    flushed = representations.linear_probe(*args)
    assert (torch.tensor([1e-38]) / 100).item() != 0.0  # subnormals are kept again
    assert np.array_equal(flushed, representations._train_probe(*args))  # without flushing


def test_steps_to_threshold_per_seed():
    loss = np.array([[3.0, 3.0], [2.0, 3.0], [1.0, 3.0], [0.5, 3.0], [0.2, 2.0]])
    h = train.History(
        [0, 1], np.arange(1, 6), {"loss": loss}, np.array([0]), {}, np.array([-1, -1])
    )
    got = analysis.steps_to(h, "loss", 1.0, smooth=1)
    assert got[0] == 3 and np.isinf(got[1])
    # a running mean over 2 steps: seed 0 gets there at step 4 ((1.0 + 0.5) / 2 <= 1)
    assert analysis.steps_to(h, "loss", 1.0, smooth=2)[0] == 4


def test_slope_sign():
    rising = np.array([[1.0, 2.0, 3.0], [0.0, 0.5, 2.0]])
    assert np.all(representations.slope(rising) > 0) and np.all(representations.slope(-rising) < 0)
    assert representations.slope(rising)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        representations.slope(np.array([[1.0]]))


def test_layer_lists_parameter():
    spec = params.ints(2, 50, max_len=8)
    assert spec.ok("3,6,12,20") and spec.ok([3, 50]) and spec.ok(20) and spec.ok(" 3, 6 ")
    for bad in ("3,3", "1,4", "3,60", "a,b", "", 1, [3.0], "3;6", "2,3,4,5,6,7,8,9,10"):
        assert not spec.ok(bad), bad
    assert params.as_ints("3, 6,12") == [3, 6, 12]
    with pytest.raises(params.ParameterError, match="depths = '3,x' is not allowed"):
        params.validate({"depths": "3,x"}, {"depths": spec})


def test_eval_at_takes_the_first_evaluation_at_or_after_each_seeds_step():
    h = train.History(
        seeds=[0, 1, 2],
        steps=np.arange(1, 11),
        train={"loss": np.ones((10, 3))},
        eval_steps=np.array([0, 5, 10]),
        evals={"test_acc": np.array([[0.1, 0.2, 0.3], [0.5, 0.6, 0.7], [0.8, 0.9, 1.0]])},
        diverged_at=np.full(3, -1),
    )
    got = analysis.eval_at(h, "test_acc", np.array([3.0, 10.0, np.inf]))
    np.testing.assert_array_equal(got[:2], [0.5, 0.9])
    assert np.isnan(got[2])
