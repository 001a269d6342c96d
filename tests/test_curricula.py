"""Chapter 8's curricula as stored runs (synthgrad.curricula): the History a curriculum
becomes, its score read from the evaluations, and the store's runner and spot check."""

import math

import numpy as np
import pytest

from synthgrad import curricula as C
from synthgrad import store, sweep


def log(errors, n, probes=(), repeats=None):
    out = {"n": list(n), "error": list(errors), "sg_loss": [0.0] * len(n),
           "probe_batch": [k for k, _ in probes], "sg_cosine": [c for _, c in probes]}  # fmt: skip
    return out | ({"repeats": list(repeats)} if repeats is not None else {})


def test_a_curriculum_becomes_a_history_scored_at_every_evaluation():
    a = log([0.1, 0.3, 0.1, 0.2, 0.1], [1, 2, 2, 3, 3], probes=[(2, 0.5), (4, 0.7)])
    b = log([0.3, 0.1, 0.3, float("nan"), 0.1], [1, 1, 2, 2, 2], probes=[(2, 0.1), (4, 0.2)])
    h = C.history([a, b], [0, 1], eval_every=2, threshold=0.15)
    assert list(h.eval_steps) == [2, 4, 5] and h.train["loss"].shape == (5, 2)
    # after 2 batches seed 0 solved length 1 and seed 1 length 1; after 4, seed 0 length 2,
    # seed 1 diverged at batch 4 (NaN from there on, counted against it)
    np.testing.assert_array_equal(h.evals["solved"][:, 0], [1, 2, 3])
    assert h.evals["solved"][0, 1] == 1 and np.isnan(h.evals["solved"][1:, 1]).all()
    np.testing.assert_array_equal(h.evals["length"][:, 0], [2, 3, 3])
    # the probe taken after 2 batches is the cosine at evaluation 2; none at the end
    np.testing.assert_array_equal(h.evals["sg_cosine"][:2, 0], [0.5, 0.7])
    assert np.isnan(h.evals["sg_cosine"][2]).all()
    assert list(h.diverged_at) == [-1, 4]
    assert math.isnan(C.scores(h)[1]) and C.scores(h)[0] == 3
    repeat = C.history([log([0.1, 0.1], [1, 2], repeats=[1, 1])], [0], 1, 0.15)
    assert list(repeat.evals["solved"][:, 0]) == [1, 2] and "repeats" in repeat.train


def test_the_copy_runner_makes_a_stored_run_that_reads_back_and_spot_checks(tmp_path):
    task = sweep.Task("repeat_copy", {"seeds": [0, 1], "method": "dni", "length": 2,
                                      "steps": 6, "lr": 0.01, "batch": 4, "hidden": 8,
                                      "bits": 3, "eval_every": 3}, runner="copy")  # fmt: skip
    h = sweep.run_task(task)
    assert h.train["loss"].shape == (6, 2) and list(h.eval_steps) == [3, 6]
    assert h.settings["seconds"] > 0 and "repeats" in h.train
    exp = store.Experiment("08_test", "08_in_time", "a test", "6 batches", {"dni": task})
    store.save(exp, "dni", h, "cpu", tmp_path)
    back = store.load(exp, tmp_path).runs["dni"]
    np.testing.assert_array_equal(back.evals["solved"], h.evals["solved"])
    np.testing.assert_allclose(back.train["loss"], h.train["loss"], rtol=1e-6)
    short = sweep.run_task(task, steps=2)  # what the store's spot check re-runs
    np.testing.assert_array_equal(short.train["loss"], h.train["loss"][:2])
    with pytest.raises(ValueError, match="dataset"):
        sweep.Task("mnist", dict(task.fit), runner="copy")
    with pytest.raises(ValueError, match="steps"):
        C.fit_copy([0], "bptt", 2, steps=0, lr=0.01)


def test_make_paper_trains_copy_runs_on_the_cpu_whatever_the_device(tmp_path, monkeypatch):
    """On a GPU machine (``--device cuda``) the copy runner's runs still go to the CPU pool
    and are recorded as made on the CPU."""
    from concurrent.futures import ThreadPoolExecutor

    from synthgrad import making

    task = sweep.Task("copy", {"seeds": [0], "method": "bptt", "length": 2, "steps": 2,
                               "lr": 0.01, "batch": 2, "hidden": 4, "bits": 2}, runner="copy")  # fmt: skip
    exp = store.Experiment("08_test", "08_in_time", "a test", "2 batches", {"bptt": task})
    monkeypatch.setattr(making, "_device_name", lambda device: "a GPU")
    making.make([exp], device="cuda:0", executor=ThreadPoolExecutor(1), root=tmp_path,
                log=lambda _: None)  # fmt: skip
    entry = store.read_manifest("08_test", tmp_path)["runs"]["bptt"]
    assert entry["provenance"]["device"] == making.cpu_name()
