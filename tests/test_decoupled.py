"""Decoupled (multi-process) training: the distributed schedules compute the package's
algorithms, DNI runs ahead and records its staleness, failures are reported and cleaned up,
and the cost model behaves. Every run is tiny (widths (32, 32, 32), batch 32, a few steps);
none depends on the machine's speed."""

import dataclasses
import math
import multiprocessing
import time

import numpy as np
import pytest
import torch

from synthgrad import decoupled as dc
from synthgrad import models, rules, train
from synthgrad.data import mnist

WIDTHS = (32, 32, 32)


@pytest.fixture(scope="module")
def data():
    return mnist("small", limit=512)


def _config(**kw) -> dc.Config:
    base = dict(hidden=WIDTHS, steps=6, batch_size=32, lr=1e-3, eval_every=3, timeout_s=30.0)
    return dc.Config(**{**base, **kw})


def _package_run(config: dc.Config, data, rule: str):
    """The same training in one process with the package's own loop."""
    net = models.mlp(data.d_in, config.hidden, data.d_out, [config.seed])
    if rule == "sg":
        learner = rules.make_rule(
            "sg", net, [config.seed], d_context=10, positions=dc.sg_positions(config)
        )
    else:
        learner = rules.make_rule("backprop", net, [config.seed])
    history = train.train(
        net,
        learner,
        data,
        [config.seed],
        steps=config.steps,
        lr=config.lr,
        batch_size=config.batch_size,
        sg_lr=config.sg_lr,
        optimizer="adam",
        eval_every=config.eval_every,
        progress=False,
    )
    return net, learner, history


def _assert_states_close(expected: dict, got: dict, atol: float) -> None:
    assert set(expected) == set(got)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, atol=atol, rtol=0, msg=name)


@pytest.mark.processes
def test_dni_sync_computes_the_package_sg_rule(data):
    """Three stages (a middle one too), cDNI: every parameter of the model and of both SGs,
    and every step's loss, equal the single-process SG rule with the SGs at the stage ends."""
    config = _config(schedule="dni_sync", K=3, sg_lr=3e-3)
    result = dc.run(config, data)
    net, rule, history = _package_run(config, data, "sg")
    _assert_states_close(net.state_dict(), result.net_state, atol=1e-5)
    assert len(result.sg_states) == 2
    for sg, state in zip(rule.sgs, result.sg_states, strict=True):
        _assert_states_close(sg.state_dict(), state, atol=1e-5)
    np.testing.assert_allclose(result.losses, history.train["loss"][:, 0], atol=1e-5)
    np.testing.assert_allclose(result.trace["test_acc"], history.evals["test_acc"][:, 0], atol=1e-6)
    assert all((s == 0).all() and len(s) == config.steps for s in result.staleness)
    first = result.trace.iloc[0]  # step 0: every accuracy up to it counts as reached there
    assert (
        result.seconds_to_accuracy(first.test_acc) == first.seconds
        and result.steps_to_accuracy(0.0) == 0
    )
    assert math.isinf(result.seconds_to_accuracy(1.01)) and math.isinf(
        result.steps_to_accuracy(1.01)
    )
    assert result.diverged_at == -1
    result.losses[3:] = np.nan  # as a run whose loss became NaN at step 4
    assert result.diverged_at == 4


@pytest.mark.processes
def test_gpipe_equals_backprop(data):
    """Pipelined backprop is backprop: the mean of the microbatches' mean-loss gradients is
    the minibatch gradient, up to rounding. (``1f1b`` runs the same stage code with another
    torch schedule class; with one microbatch GPipe gives the same numbers bit for bit.)"""
    config = _config(schedule="gpipe", K=2, microbatches=2)
    result = dc.run(config, data)
    net, _, history = _package_run(config, data, "backprop")
    _assert_states_close(net.state_dict(), result.net_state, atol=1e-5)
    np.testing.assert_allclose(result.losses, history.train["loss"][:, 0], atol=1e-5)
    assert result.busy_s.shape == (2,) and (result.busy_s > 0).all()
    assert (result.wait_s >= 0).all()


def test_backprop_schedule_is_the_package_loop(data):
    """The baseline's stage program (run here, in-process, to save a process start: the
    spawning is tested by the other runs) trains exactly as ``train.train``."""
    config = _config(schedule="backprop", K=1)
    threads = torch.get_num_threads()
    try:
        payload = dc.stages.backprop_stage(0, 1, config, data)
    finally:
        torch.set_num_threads(threads)
    result = dc.launch.assemble(config, data, [payload])
    net, _, history = _package_run(config, data, "backprop")
    _assert_states_close(net.state_dict(), result.net_state, atol=1e-6)
    np.testing.assert_allclose(result.trace["test_acc"], history.evals["test_acc"][:, 0], atol=1e-6)
    assert result.busy_s.shape == (1,) and result.seconds > 0


@pytest.mark.processes
def test_async_dni_runs_ahead_and_learns(data):
    config = _config(schedule="dni", K=3, steps=40, eval_every=10, max_lag=3, lr=3e-3)
    result = dc.run(config, data)
    assert list(result.trace["step"]) == [0, 10, 20, 30, 40]
    assert len(result.trace) == len(config.eval_steps)
    assert (np.diff(result.trace["seconds"]) >= 0).all()
    assert result.trace["test_acc"].between(0, 1).all()
    assert len(result.staleness) == 2
    for stale in result.staleness:  # every step's target trains the SG once, within the lag
        assert len(stale) == config.steps
        assert (stale >= 0).all() and (stale <= config.max_lag).all()
    assert result.staleness_counts().sum() == 2 * config.steps
    assert result.losses.shape == (config.steps,)
    assert result.losses[-10:].mean() < math.log(10)
    assert result.examples_per_s > 0 and result.seconds > 0


def _no_stage_left() -> None:
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("synthgrad-")]
    psutil = pytest.importorskip("psutil")
    left = [
        c
        for c in psutil.Process().children(recursive=True)
        if c.is_running()
        and not any(
            helper in " ".join(c.cmdline()) for helper in ("resource_tracker", "forkserver")
        )
    ]
    assert not left, left


@pytest.mark.processes
def test_killed_stage_is_named_and_nothing_is_left(data):
    config = _config(schedule="dni", K=2, steps=50, fail_at=(1, 3, "kill"))
    t = time.monotonic()
    with pytest.raises(dc.StageFailed, match=r"stage 1 of 2 \(dni\) exited with code -9") as err:
        dc.run(config, data)
    assert time.monotonic() - t < 30
    assert err.value.stage == 1 and err.value.exitcode == -9
    _no_stage_left()


@pytest.mark.processes
def test_raising_stage_sends_its_traceback(data):
    config = _config(schedule="backprop", K=1, fail_at=(0, 2, "raise"))
    with pytest.raises(dc.StageFailed, match=r"(?s)stage 0 of 1 \(backprop\) failed.*injected"):
        dc.run(config, data)
    _no_stage_left()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(schedule="sync"), "unknown schedule 'sync'"),
        (dict(K=5), "K=5 stages but the network has only 4 blocks"),
        (dict(K=0, schedule="backprop"), "K .* must be >= 1"),
        (dict(K=1, schedule="dni"), "needs K >= 2"),
        (dict(schedule="gpipe", microbatches=3), "microbatches=3 does not divide batch_size=32"),
        (dict(schedule="1f1b", K=3, microbatches=2), "1f1b needs microbatches >= K"),
        (dict(lr=0.0), "learning rates must be > 0"),
        (dict(max_lag=-1), "max_lag must be >= 0"),
        (dict(timeout_s=0), "timeout_s must be > 0"),
        (dict(steps=0), "steps must be >= 1"),
        (dict(fail_at=(2, 1, "kill")), "fail_at must be"),
    ],
)
def test_bad_configs_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        _config(**kw)


def test_bad_data_is_refused(data):
    with pytest.raises(ValueError, match="batch_size=1024 is larger than the 512"):
        dc.run(_config(batch_size=1024), data)


def test_split_blocks_is_even_and_later_stages_take_the_rest():
    assert dc.split_blocks(5, 2) == [(0, 2), (2, 5)]
    assert dc.split_blocks(4, 4) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert dc.split_blocks(17, 4) == [(0, 4), (4, 8), (8, 12), (12, 17)]
    assert dc.sg_positions(_config(K=3)) == [0, 1]
    with pytest.raises(ValueError, match="K <= 4"):
        dc.split_blocks(4, 5)


def _costs(n: int = 16, overhead: float = 0.0, latency: float = 1e-5) -> dc.Costs:
    """Made-up costs: every block 1 ms forward, 2 ms backward at batch 128, linear in the
    batch (plus a per-call overhead), SGs half a block."""
    sizes = (128, 16)

    def table(seconds: float) -> np.ndarray:
        return np.tile([overhead + seconds, overhead + seconds * 16 / 128], (n, 1))

    return dc.Costs(
        batch=128,
        sizes=sizes,
        widths=[256] * (n - 1) + [10],
        forward=table(1e-3),
        backward=table(2e-3),
        sg_forward=table(2.5e-4),
        sg_backward=table(2.5e-4),
        update=np.full(n, 1e-4),
        sg_update=np.full(n, 5e-5),
        latency_s=latency,
        bytes_per_s=1e9,
    )


def test_predict_is_sane():
    costs = _costs()
    gpipe = [dc.predict(costs, 4, "gpipe", m) for m in (1, 2, 4, 8, 16)]
    assert all(a < b for a, b in zip(gpipe, gpipe[1:], strict=False))  # a smaller bubble
    assert dc.predict(costs, 4, "1f1b", 8) == pytest.approx(dc.predict(costs, 4, "gpipe", 8))
    for k in (2, 4, 8, 16):
        dni = dc.predict(costs, k, "dni")
        assert dni >= dc.predict(costs, k, "gpipe", 8)
        assert dni >= dc.predict(costs, k, "dni_sync")
    dni = [dc.predict(costs, k, "dni") for k in (1, 2, 4, 8, 16)]
    assert all(a < b for a, b in zip(dni[1:], dni[2:], strict=False))  # more stages, faster
    assert dc.predict(costs, 1, "backprop") == pytest.approx(128 / (16 * 3.1e-3))
    # per-call overhead makes many microbatches a loss
    slow = _costs(overhead=1e-3)
    assert dc.predict(slow, 4, "gpipe", 32) < dc.predict(slow, 4, "gpipe", 4)
    with pytest.raises(ValueError, match="unknown schedule"):
        dc.predict(costs, 2, "pipedream")


def test_measure_costs_gives_positive_times_per_block(data):
    config = _config(hidden=(16, 16))
    costs = dc.measure_costs(config, data, reps=2, comm=False)
    assert costs.forward.shape == (3, 2) and (costs.forward > 0).all()
    assert (costs.backward > 0).all() and (costs.update > 0).all()
    assert (costs.sg_forward[:-1] > 0).all() and (costs.sg_forward[-1] == 0).all()
    for schedule in dc.SCHEDULES:
        assert 0 < dc.predict(costs, 3 if schedule != "backprop" else 1, schedule, 4) < math.inf


def test_configs_are_plain_dataclasses():
    config = _config(hidden=[64, 64])
    assert config.hidden == (64, 64) and config.n_blocks == 3
    assert dataclasses.replace(config, schedule="backprop").processes == 1
    assert config.eval_steps == [0, 3, 6]


@pytest.mark.processes
def test_chapter_7s_identity_check_finds_the_two_implementations_equal(data):
    """The chapter's section (a), at its own size: synchronous DNI on two processes against the
    package's SG rule in this one."""
    from types import SimpleNamespace

    from synthgrad.chapters import update_unlocking

    identity = update_unlocking.identity_check(data, SimpleNamespace(K=2, seed=0, timeout_s=60.0))
    assert identity.tensors > 0 and identity.n_sgs == 1
    assert identity.max_abs_difference <= 1e-5
