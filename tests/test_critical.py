import pytest
import torch

from synthgrad import critical as C
from synthgrad import data, losses, optima

MSE, LOG_LOSS = losses.squared_error_elementwise, losses.log_loss_elementwise  # of one unit


def _xy(d):
    return d.x_train.double(), d.y_train.double().reshape(-1)


@pytest.fixture(scope="module")
def logistic():
    return _xy(data.noisy_linear_labels(n=400, d=2, flip=0.05, scales=[1.0, 0.1], seed=0))


def test_logistic_optimum_is_a_backprop_critical_point(logistic):
    x, y = logistic
    w = optima.logistic_optimum(x, y)
    assert C.backprop_field(w, x, y, LOG_LOSS).norm() < 1e-12
    sep = _xy(data.noisy_linear_labels(n=200, d=2, flip=0.0, margin=0.5))
    with pytest.raises(ValueError, match="separable"):
        optima.logistic_optimum(*sep)


def test_linear_label_conditioned_sg_is_exact_for_a_linear_gradient():
    # MSE above h: g = h - y is linear in (h, y), so the cDNI linear SG equals backprop everywhere
    x, y = _xy(data.linear_regression(n=300, d=2, noise=0.5))
    for w in (torch.tensor([0.3, -2.0]), torch.tensor([4.0, 1.0])):
        w = w.double()
        torch.testing.assert_close(C.sg_field(w, x, y, MSE, "h,y"), C.backprop_field(w, x, y, MSE))
    assert C.sg_field(optima.least_squares_optimum(x, y), x, y, MSE, "h,y").norm() < 1e-10


def test_zero_loss_point_is_a_fixed_point_of_every_sg_class():
    d = data.tanh_teacher(n=300, w=(1.5, -2.0), noise=0.0, scales=[1.0, 0.3])
    x, y = _xy(d)
    w_true = torch.tensor([1.5, -2.0], dtype=torch.float64)
    for kind, width in (("h", 0), ("h,y", 0), ("relu", 16)):
        assert C.sg_field(w_true, x, y, C.tanh_mse, kind, width).norm() < 1e-10
    noisy = _xy(data.tanh_teacher(n=300, w=(1.5, -2.0), noise=0.2, scales=[1.0, 0.3]))
    assert C.sg_field(w_true, *noisy, C.tanh_mse, "h,y").norm() > 1e-4


def test_log_loss_optimum_is_not_a_fixed_point_of_the_linear_cdni_sg(logistic):
    x, y = logistic
    w = optima.logistic_optimum(x, y)
    assert C.sg_field(w, x, y, LOG_LOSS, "h,y").norm() > 1e-4  # a linear SG cannot be exact
    z = C.find_zeros(lambda v: C.sg_field(v, x, y, LOG_LOSS, "h,y"), w[None] * 1.1)
    assert len(z) == 1 and (z[0] - w).norm() > 0.01 * w.norm()


def test_random_feature_classes_are_nested():
    g = torch.Generator().manual_seed(0)
    h, y = (
        torch.randn(200, generator=g, dtype=torch.float64),
        (torch.rand(200, generator=g) > 0.5).double(),
    )
    target = torch.sigmoid(3 * h) - y
    small = C.sg_features(h, y, "relu", 8, seed=1)
    big = C.sg_features(h, y, "relu", 32, seed=1)
    torch.testing.assert_close(big[:, : small.shape[1]], small)
    residual = [
        (C.best_sg(C.sg_features(h, y, "relu", k, seed=1), target) - target).pow(2).mean()
        for k in (0, 8, 32, 128)
    ]
    assert all(a >= b - 1e-12 for a, b in zip(residual, residual[1:], strict=False))
    assert residual[-1] < 0.05 * residual[0]


def test_find_zeros_merges_and_reports_only_zeros():
    c = torch.tensor([1.0, -2.0], dtype=torch.float64)
    z = C.find_zeros(lambda w: (w - c) * (w - c).norm(), torch.randn(5, 2, dtype=torch.float64))
    assert len(z) == 1 and (z[0] - c).norm() < 1e-3
    none = C.find_zeros(lambda w: w * 0 + 1.0, torch.zeros(2, 2, dtype=torch.float64))
    assert none.shape == (0, 2)


def test_joint_training_ends_at_the_exact_fixed_point(logistic):
    x, y = logistic
    d = data.noisy_linear_labels(n=400, d=2, flip=0.05, scales=[1.0, 0.1], seed=0)
    w = optima.logistic_optimum(x, y)
    z = C.find_zeros(lambda v: C.sg_field(v, x, y, LOG_LOSS, "h,y"), w[None] * 1.1)[0]
    ends, hist = C.joint_training(
        d, C.grid((-2, -4), (2, 4), 2), "none", (1, 0), steps=2500, lr=0.05
    )
    assert not hist.diverged.any()
    assert ((ends - z).norm(dim=1) < 0.01 * w.norm()).all()
    bp, _ = C.joint_training(d, C.grid((-2, -4), (2, 4), 2), "none", None, steps=2500, lr=0.05)
    assert ((bp - w).norm(dim=1) < 0.01 * w.norm()).all()


def test_relative_update_is_float_noise_at_a_fixed_point_and_order_one_elsewhere():
    d = data.tanh_teacher(n=300, noise=0.0, seed=0)
    x, y = _xy(d)
    w_true = torch.tensor([1.5, -2.0], dtype=torch.float64)
    field = C.update_field(x, y, C.tanh_mse, "h,y")
    assert C.relative_update(field, w_true) < 1e-5  # zero to the float32 data's precision
    assert C.relative_update(field, w_true + torch.tensor([0.3, 0.2], dtype=torch.float64)) > 0.05


def test_fixed_point_shift_is_the_linear_sg_shift_and_falls_with_capacity(logistic):
    x, y = logistic
    w = optima.logistic_optimum(x, y)
    shift = C.fixed_point_shift(x, y, w)
    assert shift == C.linear_sg_shift(x, y, x, y)["shift"]
    assert shift > 1e-3
    assert C.fixed_point_shift(x, y, w, "relu", 64) < shift


def test_under_the_squared_error_the_linear_sg_fixed_point_is_the_optimum():
    """What chapter 3 relies on for linear regression: the gradient h - y is linear in (h, y),
    a linear cDNI SG fits it exactly, and SG learning's fixed point is the least-squares one."""
    from synthgrad import convergence as cv
    from synthgrad.losses import squared_error_elementwise

    problem = cv.make_problem("mse", 2, n=300, seed=0)
    x, y = problem.data.x_train.double(), problem.data.y_train[:, 0].double()
    w_star = problem.w_star[:, 0].double()
    found = C.sg_fixed_points(x, y, squared_error_elementwise, "h,y", w_star[None] * 1.05)
    assert len(found) == 1
    assert torch.allclose(found[0], torch.linalg.lstsq(x, y[:, None]).solution[:, 0], atol=1e-8)


def test_joint_training_at_several_rates_is_each_rate_run_on_its_own():
    """Chapter 2 trains an SG class at its three learning rates as one run: each rate's end
    points are those of a run of its own to float rounding."""
    d = data.noisy_linear_labels(n=200, d=2, flip=0.05, scales=(1.0, 0.3), seed=0)
    starts = C.grid((-1.0, -1.0), (1.0, 1.0), 3)
    rates = [0.01, 0.2]
    ends, h = C.joint_training(d, starts, "none", (1, 8), 200, rates)
    assert ends.shape == (2 * len(starts), 2) and not h.diverged.any()
    for j, r in enumerate(rates):
        alone, _ = C.joint_training(d, starts, "none", (1, 8), 200, r)
        # float rounding that differs with the batch's shape (AVX2 and AVX-512 kernels sum in
        # other orders) grows along a trajectory at the large rate: 5e-4 at one start on AVX2
        torch.testing.assert_close(ends[j * 9 : (j + 1) * 9], alone, rtol=1e-3, atol=1e-3)
    assert not torch.allclose(ends[:9], ends[9:])


def test_chapter_2s_live_rerun_draws_a_copy_and_leaves_the_trained_runs_alone():
    """The live widget's shorter rerun of one point is drawn from a copy: the chapter's own
    runs, which its figures and claims read, stay as trained."""
    from synthgrad import chapters
    from synthgrad.chapters import critical_points as cp

    spec = chapters.interface("02_critical_points")
    p = chapters.setup("02_critical_points", dict(spec.defaults, quick=True))
    prob = cp.problems(p)
    name, key = next(iter(prob.classes)), (next(iter(prob.classes)), 0.05)
    kept = torch.full((len(prob.starts), 2), 7.0, dtype=torch.float64)
    a = cp.Logistic([0.05], {key: kept}, {key: 0}, {}, *[torch.zeros(1)] * 3, {})
    shown = cp.rerun(a, prob, p, 0.05, name)
    assert list(a.runs) == [key] and a.runs[key] is kept and a.diverged == {key: 0}
    assert shown.runs[key].shape == kept.shape and not torch.equal(shown.runs[key], kept)


def test_a_fixed_point_found_twice_is_the_same_to_the_last_bit():
    """Determinism: Newton's least-squares steps use a LAPACK driver that gives one answer
    (torch's default on the CPU, gelsy, varies in the last bits from call to call in 100-D)."""
    from synthgrad import convergence as cv
    from synthgrad import shallow

    problem = cv.make_problem("log", 100, n=500, seed=[0])
    first, again = shallow.fixed_points(problem), shallow.fixed_points(problem)
    assert torch.isfinite(first).all() and torch.equal(first, again)
