"""Chapter 7's diagnosis of the asynchronous stall: the probe of a DNI run's final state
measures what it says (on a tiny run and on constructed states), and the words are computed
from the record, naming what the stalled seeds do differently."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from synthgrad import decoupled as dc
from synthgrad.chapters import update_unlocking as uu
from synthgrad.chapters import update_unlocking_stall as stall
from synthgrad.data import mnist


@pytest.fixture(scope="module")
def tiny():
    data = mnist("small", limit=256)
    config = dc.Config(hidden=(16, 16, 16), K=2, schedule="dni_sync", steps=12, batch_size=32,
                       eval_every=6, timeout_s=30.0)  # fmt: skip
    return config, dc.run(config, data), data


def test_the_probe_reads_a_dni_runs_final_state(tiny):
    config, result, data = tiny
    got = stall.probe(config, result, data, n=128)
    assert -1 <= got["cosine"] <= 1 and -1 <= got["cosine_per_image"] <= 1
    assert got["norm_ratio"] > 0 and got["act_norm"] > 0
    assert len(got["dead"]) == 3 and all(0 <= d <= 1 for d in got["dead"])
    assert len(got["loss_means"]) == 1  # 12 steps: one window of up to 100
    assert got["loss_means"][0] == pytest.approx(float(np.mean(result.losses)))
    assert 0 <= got["final_acc"] <= 1


def test_the_probe_sees_a_dead_layer_and_an_sg_that_points_the_wrong_way(tiny):
    config, result, data = tiny
    state = {k: v.clone() for k, v in result.net_state.items()}
    state["blocks.0.0.bias"].fill_(-1e6)  # the first hidden layer: no unit on for any image
    sg_state = {k: -v for k, v in result.sg_states[0].items()}  # the SG's prediction negated
    flipped = dc.Result(**{**result.__dict__, "net_state": state, "sg_states": [sg_state]})
    got = stall.probe(config, flipped, data, n=128)
    assert got["dead"][0] == 1.0
    base = stall.probe(config, result, data, n=128)
    assert base["cosine"] == pytest.approx(-stall.probe(
        config, dc.Result(**{**result.__dict__, "sg_states": [sg_state]}), data, n=128)["cosine"], abs=1e-5)  # fmt: skip


def test_the_probe_compares_the_sg_at_the_stages_own_scale(tiny):
    """The stage steps on its SG's prediction over its batch, against the gradient of the
    batch-mean loss: doubling the SG doubles the ratio, and a run whose SG is zero has none."""
    config, result, data = tiny
    base = stall.probe(config, result, data, n=128)
    double = {k: 2 * v for k, v in result.sg_states[0].items()}
    twice = stall.probe(
        config, dc.Result(**{**result.__dict__, "sg_states": [double]}), data, n=128
    )
    assert twice["norm_ratio"] == pytest.approx(2 * base["norm_ratio"], rel=1e-4)
    assert twice["cosine"] == pytest.approx(base["cosine"], abs=1e-5)
    zero = {k: 0 * v for k, v in result.sg_states[0].items()}
    none = stall.probe(config, dc.Result(**{**result.__dict__, "sg_states": [zero]}), data, n=128)
    assert none["norm_ratio"] == 0.0


def test_a_schedule_without_an_sg_is_refused_with_a_message(tiny):
    config, result, data = tiny
    with pytest.raises(ValueError, match="no SG to probe"):
        stall.probe(config, dc.Result(**{**result.__dict__, "sg_states": []}), data, n=64)


def record(**change):
    """Five asynchronous seeds (3 and 4 stalled) and the synchronous runs: the shape of the
    grid of record's probe."""

    def run(norm, dead, cos, ratio, rise, acc):
        means = [1.2, 0.5, 0.5 + rise, 0.4, 0.3]
        return {"cosine": cos, "cosine_per_image": cos, "norm_ratio": ratio, "act_norm": norm,
                "dead": [0.01, dead, 0.05, 0.1], "loss_means": means, "final_acc": acc}  # fmt: skip

    runs = {f"{uu.DNI}/{s}": run(10.0 + s, 0.01, 0.43, 0.5, -0.1, 0.978) for s in (0, 1, 2)}
    runs |= {f"{uu.DNI}/3": run(307.0, 0.72, 0.18, 2.1, 0.4, 0.91),
             f"{uu.DNI}/4": run(657.0, 0.76, 0.06, 7.2, 0.45, 0.88)}  # fmt: skip
    runs |= {f"{uu.SYNC}/{s}": run(6.5, 0.0, 0.4, 0.44, -0.1, 0.98) for s in range(5)}
    return {"runs": runs | change, "steps": 1400, "provenance": {}}


def test_the_words_contrast_the_stalled_seeds_with_the_others():
    words = stall.text(record(), [3, 4])
    assert words.startswith("on the stalled seeds (3, 4), the activations the SG is fed")
    assert "mean norm of 307 to 657 per image, against 10 to 12 on the other seeds and 6" in words
    assert "72% to 76% of the units of hidden layer 2 (the cut's)" in words
    assert "5% of hidden layer 3's (the first above it), against 5% and 5%" in words
    assert (
        "agrees less with the true gradient (cosine 0.06 to 0.18, against 0.43 and 0.40)" in words
    )
    same = record(**{f"{uu.DNI}/3": {**record()["runs"][f"{uu.DNI}/3"], "cosine": 0.5}})
    assert "agrees no less with" in stall.text(same, [3, 4])
    assert "2.1 to 7.2 times its size" in words
    assert (
        "rose by up to 0.40 to 0.45 nats in those runs (a window ending at step 300 of 1,400)"
        in words
    )
    assert "at most 0.00 in the others" in words
    assert stall.cut_layer() == 2  # 5 blocks in 2 stages: the cut after hidden layer 2


def test_the_words_say_when_there_is_nothing_to_diagnose_or_the_probe_is_missing():
    assert "not in the store here" in stall.text(None, [3, 4])
    assert "stalled on no seed" in stall.text(record(), [])
    partial = record()
    del partial["runs"][f"{uu.SYNC}/3"], partial["runs"][f"{uu.SYNC}/4"]
    assert "does not hold the runs" in stall.text(partial, [3, 4])
    assert stall.text(record(), None).startswith("the grid of record is not read here")


def test_the_table_and_the_loss_rise_are_read_from_the_record(tmp_path):
    t = stall.table(record())
    assert t.loc[f"{uu.DNI}/4", "largest loss rise"] == pytest.approx(0.45)
    assert t.loc[f"{uu.DNI}/4", "rise ends at step"] == 300  # windows 2 -> 3: steps 201-300
    assert t.loc[f"{uu.DNI}/0", "largest loss rise"] == pytest.approx(0.0)  # it never rose
    assert stall._rise([1.0]) == (0.0, 0) and stall._rise([]) == (0.0, 0)
    assert stall.read(tmp_path) is None
    (tmp_path / "07_stall").mkdir()
    (tmp_path / stall.FILE).write_text(json.dumps(record()))
    assert stall.read(tmp_path)["steps"] == 1400


def test_making_the_probe_needs_the_grids_budget(tmp_path):
    with pytest.raises(RuntimeError, match="budget is not fixed"):
        stall.make(tmp_path)


def test_the_stalled_seeds_and_the_reruns_agreement_are_read_from_the_grid():
    import pandas as pd

    inf, nan = float("inf"), float("nan")
    reach = pd.DataFrame({uu.DNI: [8.0, 9.0, 8.5, inf, inf], uu.SYNC: [7.0] * 5})
    acc = pd.DataFrame({uu.DNI: [0.978, 0.978, 0.978, 0.91, 0.88], uu.SYNC: [0.98] * 5})
    t = SimpleNamespace(reach_s=reach, final_acc=acc, steps=1400)
    assert stall.stalled(t) == [3, 4] and stall.stalled(None) is None
    lost = SimpleNamespace(
        reach_s=reach.assign(**{uu.DNI: [8.0, nan, 8.5, inf, 9.0]}), final_acc=acc
    )
    assert stall.stalled(lost) == [3]  # a diverged seed is not a stall
    assert stall.rerun_gap(record(), t) == pytest.approx(0.0)  # the reruns give the same
    other = SimpleNamespace(
        reach_s=reach,
        final_acc=acc.assign(**{uu.SYNC: [0.98, 0.98, 0.975, 0.98, 0.98]}),
        steps=1400,
    )
    assert stall.rerun_gap(record(), other) == pytest.approx(0.5)  # points
    assert np.isnan(stall.rerun_gap(None, t)) and np.isnan(stall.rerun_gap(record(), None))
    got = stall.numbers(record(), t)
    assert got["stall_probe"].startswith("on the stalled seeds (3, 4)")
    assert got["stall_rerun"] == (
        "The reruns' final accuracies differ from the stored ones by at most 0.00 percentage points"
    )
    # a probe that does not describe the grid: refused, with why
    t.steps = 1400
    off = stall.numbers(record(), other)  # 0.5 points from the stored runs
    assert (
        "0.50 points from the stored ones: the probe does not describe the grid"
        in off["stall_rerun"]
    )
    assert off["stall_probe"] == "not read here, the probe not describing the grid"
    longer = stall.numbers({**record(), "steps": 2800}, t)
    assert "The probe ran 2,800 steps and the grid 1,400" in longer["stall_rerun"]
    # the grid not read (stale or missing): said, not "stalled on no seed"
    unread = stall.numbers(record(), None)
    assert unread["stall_probe"].startswith("the grid of record is not read here")
    assert unread["stall_rerun"] == "The reruns are not compared with the stored runs here"
    assert stall.numbers(None, t)["stall_probe"].startswith("the probe is not in the store here")
    assert (got["stall_sample"], got["stall_window"]) == ("2,048", 100)
