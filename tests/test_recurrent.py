"""Synthetic gradients in time (chapter 8): truncated BPTT, DNI on the recurrent state, and the
two identities that pin DNI down."""

import math

import pytest
import torch

from synthgrad import curricula as C
from synthgrad import recurrent as R

STEPS, BATCH, D_IN, HIDDEN, D_OUT, T = 12, 4, 3, 8, 2, 4


def squared(ys: torch.Tensor):
    """A window's squared error, summed over its steps and outputs, mean over the batch."""
    return lambda out, cut: (out - ys[cut]).pow(2).sum((0, 2)).mean()


def problem(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(STEPS, BATCH, D_IN, generator=g)
    ys = torch.randn(STEPS, BATCH, D_OUT, generator=g)
    return xs, ys


def model(seed: int = 0) -> R.Recurrent:
    torch.manual_seed(seed)
    return R.Recurrent(D_IN, HIDDEN, D_OUT)


def grads(m: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in m.parameters()]


def test_windows_cut_the_sequence_and_refuse_nonsense():
    assert R.windows(10, 4) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert R.windows(3, 5) == [slice(0, 3)]
    with pytest.raises(ValueError, match="window"):
        R.windows(10, 0)


def test_dni_with_its_output_held_at_zero_is_truncated_bptt_update_for_update():
    xs, ys = problem()
    bptt, dni = model(), model()
    sg = R.StateSG(HIDDEN)  # zero-initialised; never stepped, so it stays at zero
    opt_a = torch.optim.Adam(bptt.parameters(), lr=1e-2)
    opt_b = torch.optim.Adam(dni.parameters(), lr=1e-2)

    def stepper(opt):
        def step():
            opt.step()
            opt.zero_grad()
            sg.zero_grad()

        return step

    for _ in range(3):
        a = R.train_sequence(bptt, xs, squared(ys), T, stepper(opt_a))
        b = R.train_sequence(dni, xs, squared(ys), T, stepper(opt_b), sg=sg)
        assert torch.equal(a["loss"], b["loss"])
    for p, q in zip(bptt.parameters(), dni.parameters(), strict=True):
        assert torch.equal(p, q)
    assert len(b["sg_loss"]) == len(R.windows(STEPS, T)) - 1  # it did regress its targets


def test_dni_with_an_oracle_and_one_update_is_full_bptt():
    """An oracle SG returning the true gradient of every later loss at each window's end, and
    the windows' gradients accumulated: the same gradient as full BPTT (to float rounding);
    truncated BPTT's differs (the test can fail)."""
    xs, ys = problem()
    full = model()
    total, future, _ = R.full_bptt(full, xs, squared(ys), T)
    oracle, truncated = model(), model()
    got = R.train_sequence(oracle, xs, squared(ys), T, oracle=lambda w: future[w])
    R.train_sequence(truncated, xs, squared(ys), T)
    torch.testing.assert_close(got["loss"], total)
    for a, b in zip(grads(full), grads(oracle), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    differs = [
        not torch.allclose(a, b, atol=1e-4)
        for a, b in zip(grads(full), grads(truncated), strict=True)
    ]
    assert any(differs)


def test_the_sg_regresses_the_gradient_that_reaches_the_next_window():
    """After one sequence, the SG's regression loss at each boundary is half the squared
    error between its prediction (zero: it starts at zero) and each example's gradient at the
    next window's start: for the last boundary, the true gradient of the last window's loss."""
    xs, ys = problem()
    m, sg = model(), R.StateSG(HIDDEN)
    out = R.train_sequence(m, xs, squared(ys), T, sg=sg)
    # the last window's loss alone, from the state where the last window starts
    cuts = R.windows(STEPS, T)
    state = m.initial(BATCH)
    with torch.no_grad():
        for cut in cuts[:-1]:
            _, state = m.run(xs[cut], state)
    start = tuple(s.clone().requires_grad_(True) for s in state)
    o, _ = m.run(xs[cuts[-1]], start)
    squared(ys)(o, cuts[-1]).backward()
    expected = sum(0.5 * (BATCH * s.grad).pow(2).sum(-1).mean() for s in start)
    torch.testing.assert_close(out["sg_loss"][-1], expected)


def test_the_sg_scale_multiplies_what_is_injected():
    """An SG that predicts a constant: at scale 0 the update is truncated BPTT's; at scale 1
    it is not."""
    xs, ys = problem()
    sg = R.StateSG(HIDDEN)
    torch.nn.init.ones_(sg.net.bias)
    runs = {}
    for name, kw in {"bptt": {}, "zero": {"sg": sg, "scale": 0.0}, "one": {"sg": sg}}.items():
        m = model()
        R.train_sequence(m, xs, squared(ys), T, **kw)
        runs[name] = grads(m)
    assert all(torch.equal(a, b) for a, b in zip(runs["bptt"], runs["zero"], strict=True))
    assert not all(torch.allclose(a, b) for a, b in zip(runs["bptt"], runs["one"], strict=True))


def test_the_curriculum_lengthens_the_task_below_the_threshold():
    assert C.next_length(4, 0.1) == 5 and C.next_length(4, 0.2) == 4
    assert C.next_length(4, 0.15) == 4  # (strictly below)
    log = C.copy_curriculum("dni", 2, sequences=8 * 4, hidden=8, batch=8)
    assert log["n"] == [1, 1, 1, 1] and len(log["error"]) == 4
    assert C.longest_solved({"n": [1, 2, 2, 3], "error": [0.1, 0.3, 0.1, 0.2]}) == 2
    assert C.longest_solved(log) == 0
    with pytest.raises(ValueError, match="method"):
        C.copy_curriculum("rtrl", 2, sequences=8)


def test_repeat_copys_curriculum_adds_repeats_up_to_the_vectors_then_a_vector():
    steps, state = [], (1, 1)
    for _ in range(5):
        state = C.next_repeat(*state, error=0.1)
        steps.append(state)
    assert steps == [(2, 1), (2, 2), (3, 2), (3, 3), (4, 3)]
    assert C.next_repeat(3, 2, 0.15) == (3, 2) and C.next_repeat(3, 2, float("nan")) == (3, 2)
    # scored by the output's length, vectors times repeats
    log = {"n": [1, 2, 2, 3], "repeats": [1, 1, 2, 2], "error": [0.1, 0.1, 0.1, 0.3]}
    assert C.longest_solved(log) == 4
    assert math.isnan(C.longest_solved({**log, "error": [0.1, 0.1, float("inf"), 0.1]}))
    got = C.copy_curriculum("dni", 2, sequences=8 * 3, hidden=8, batch=8, bits=3, repeat=True)
    assert got["repeats"] == [1, 1, 1] and got["n"] == [1, 1, 1]  # nothing solved in 3 batches
    again = C.copy_curriculum("dni", 2, sequences=8 * 3, hidden=8, batch=8, bits=3, repeat=True)
    assert again == got  # a seed gives the same run
    assert "repeats" not in C.copy_curriculum("bptt", 2, sequences=8, hidden=8, batch=8)


def test_the_identities_the_chapter_reports():
    """What chapter 8 quotes: DNI with a zero SG is truncated BPTT exactly; the oracle's
    gradient is full BPTT's to float rounding, truncated BPTT's is not."""
    got = R.check_identities()
    assert got.zero_sg == 0.0
    assert got.oracle < 1e-5
    assert got.truncated > 1e-2


def test_a_diverged_curriculum_scores_nan():
    assert math.isnan(C.longest_solved({"n": [1, 2, 2], "error": [0.1, float("nan"), 0.2]}))
    assert math.isnan(C.longest_solved({"n": [1, 2], "error": [0.1, float("inf")]}))


def test_the_sg_alignment_probe_is_one_for_an_sg_that_predicts_the_true_future_gradient():
    """A zero SG has cosine 0 with anything (by the eps convention); the probe leaves no
    gradient behind; an SG whose prediction is exactly the true future gradient scores 1."""
    xs, ys = problem()
    m, sg = model(), R.StateSG(HIDDEN)
    assert R.sg_alignment(m, sg, xs, squared(ys), T) == 0.0
    assert all(p.grad is None or not p.grad.any() for p in m.parameters())
    _, future, _ = R.full_bptt(model(), xs, squared(ys), T)

    class Oracle(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = 0

        def forward(self, state):
            g = future[self.w]
            self.w += 1
            return g

    assert R.sg_alignment(m, Oracle(), xs, squared(ys), T) == pytest.approx(1.0, abs=1e-6)
    assert math.isnan(R.sg_alignment(m, sg, xs, squared(ys), STEPS))  # one window
    log = C.copy_curriculum("dni", 2, sequences=8 * 4, hidden=8, batch=8, probe_every=2)
    assert log["probe_batch"] == [0, 2] and len(log["sg_cosine"]) == 2


def test_probing_the_sg_does_not_change_the_training():
    kw = dict(sequences=8 * 4, hidden=8, batch=8)
    plain = C.copy_curriculum("dni", 2, **kw)
    probed = C.copy_curriculum("dni", 2, probe_every=1, **kw)
    assert plain["error"] == probed["error"] and len(probed["sg_cosine"]) == 4


def test_the_language_model_reads_streams_and_evaluates_on_a_fixed_clock():
    """A tiny text: the runs see every character once per stream, evaluate at the start, every
    eval_every characters and at the end; a text too short for the streams is a clear error."""
    from synthgrad.data.text import Text

    ids = torch.arange(400) % 5
    text = Text("tiny", "abcd", ids, ids[:200], ids[:50], "a pattern")
    for method, T in (("bptt", 5), ("dni", 2)):  # windows that end at every 10 characters
        log = R.language_model(method, T, text, 30, hidden=8, batch=4, eval_every=10,
                               eval_steps=8)  # fmt: skip
        assert log["chars_seen"] == [0.0, 40.0, 80.0, 120.0]
        assert len(log["valid_bpc"]) == 4 and log["seconds"][0] == 0.0
        assert log["valid_bpc"][-1] < log["valid_bpc"][0]  # a pattern of period 5 is learnt
    with pytest.raises(ValueError, match="streams of 100 characters; 101 are needed"):
        R.language_model("bptt", 2, text, 100, batch=4)
