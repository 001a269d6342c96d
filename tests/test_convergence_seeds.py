"""Chapter 3's shallow models at eight seeds in the results store (``03_eight_seeds``), registered
before any run: its plan, its runs at the chapter's settings, the runner's numbers against the
chapter's, and no verdict from part of the grid."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from synthgrad import convergence as cv
from synthgrad import paper, shallow, store
from synthgrad.chapters import convergence as chapter
from synthgrad.chapters import convergence_seeds as S


def test_the_registered_plan_is_the_one_the_code_runs_and_make_paper_knows_it():
    assert (store.store_dir() / S.PLAN_FILE).read_text() == S.plan_text()
    assert paper.BUILDERS[S.NAME]() is S.EXPERIMENT
    assert S.EXPERIMENT.plan == S.PLAN_FILE and S.EXPERIMENT.chapter == "03_convergence"


def test_every_run_has_the_chapter_s_settings_on_eight_seeds():
    defaults = {**chapter.INTERFACE.defaults, **chapter.INTERFACE.settings}
    runs = S.EXPERIMENT.runs
    assert len(runs) == 2 * 3 + 3 * len(defaults["errors"]) + len(defaults["phase_lrs"]) ** 2
    for label, task in runs.items():
        assert task.fit["seeds"] == list(range(8)), label
        assert task.dataset_kwargs["seed"] == list(range(8)), label
        assert task.dataset_kwargs["n"] == defaults["n_points"], label
        if label.startswith("logistic/"):
            assert (task.fit["steps"], task.fit["lr"]) == (defaults["steps"], defaults["lr"])
            assert task.fit["eval_every"] == chapter.eval_every(SimpleNamespace(**defaults))
        else:
            assert task.fit["steps"] == defaults["sgd_steps"], label
    cells = [tuple(t.fit["cells"][0]) for k, t in runs.items() if k.startswith("phase/")]
    assert cells == [(m, s) for m in defaults["phase_lrs"] for s in defaults["phase_lrs"]]
    sizes = [t.fit["errors"][0] for k, t in runs.items() if k.startswith("tracking/rotated/")]
    assert (
        sizes == defaults["errors"] and runs["tracking/biased/0.5"].fit["lr"] == defaults["sgd_lr"]
    )


def test_the_fixed_point_run_trains_as_the_chapter_s_linear_sg_and_measures_its_ends():
    """The store's linear-SG run is the chapter's (:func:`synthgrad.convergence.train_on`), step
    for step, and its recorded distances are those of the chapter's table (computed from the
    trained weights) at the end."""
    seeds = [0, 1, 2]
    problem = cv.make_problem("log", 2, n=500, seed=seeds)
    ours = shallow.fixed_point_run(problem, seeds, steps=40, lr=3e-3, eval_every=20)
    net, _, theirs = cv.train_model(problem, 0, 16, "linear SG", seeds, 40, 3e-3, eval_every=20)
    np.testing.assert_array_equal(ours.train["loss"], theirs.train["loss"])
    np.testing.assert_array_equal(ours.evals["distance"], theirs.evals["distance"])
    table = chapter.fixed_points({("log", 2): problem, ("log", 100): problem},
                                 {("logistic regression", d, "linear SG"): (net, None)
                                  for d in (2, 100)}, seeds)  # fmt: skip
    ends, stored = table[table.dim == 2], S.ends(2, ours)
    assert list(ends.seed) == list(stored.seed) == seeds
    for k in ("to_optimum", "to_fixed_point", "fixed_point_from_optimum"):
        np.testing.assert_allclose(stored[k], ends[k].to_numpy(), rtol=1e-12)
    # a seed that diverged went to neither point, whatever its last evaluation recorded
    ours.diverged_at[1] = 30
    lost = S.ends(2, ours)
    assert lost.to_optimum.isna().tolist() == [False, True, False]
    assert lost.to_fixed_point.isna().tolist() == [False, True, False]


def test_the_runner_refuses_an_unknown_section():
    with pytest.raises(ValueError, match="section must be one of"):
        shallow.run(cv.make_problem("mse", 2, n=50, seed=[0]), "tracks", seeds=[0], steps=1)


def test_no_measures_and_no_eight_seed_claims_until_every_run_is_made(tmp_path):
    assert S.measure(tmp_path) is None
    from test_claims_convergence import judged, measures

    found = judged(measures(), eight=S.measure(tmp_path))
    assert not {"C3.2p", "C3.4p", "C3.5p", "C3.6p"} & set(found) and "C3.2" in found
    text = S.page_text(tmp_path)
    assert (
        f"**Made so far**: 0 of {len(S.EXPERIMENT.runs)} runs" in text
        and "store/03_eight_seeds/PLAN.md" in text
        and text.startswith("**Registered plan** (chapter 3's claims on shallow models")
    )


def test_the_store_s_measures_are_decided_by_the_chapter_s_rules():
    """Once the grid is made: the eight-seed claims, every seed in them."""
    eight = S.measure()
    if eight is None:
        pytest.skip("the store does not hold 03_eight_seeds yet (make paper)")
    assert set(eight.fixed.seed) == set(range(8)) and len(eight.fixed) == 16
    assert isinstance(eight.phase, pd.DataFrame) and len(eight.phase) == 36
    assert set(eight.tracking.seed) == set(range(8))
    assert eight.scale.startswith("results store: chapter 3's settings, 8 seeds, registered")


def test_a_run_per_cell_or_size_has_the_numbers_of_the_chapter_s_blocks():
    """The store makes (b) and (c) a run per error size and per cell; the chapter trains them as
    blocks of one run. Each gives the other's numbers, bit for bit (an unstable cell too)."""
    p = SimpleNamespace(seeds=[0, 1], width=16, sgd_steps=300, sgd_lr=0.5, errors=[0.5, 2.0],
                        phase_lrs=[0.1, 3.0])  # fmt: skip
    problems = {("mse", 2): cv.make_problem("mse", 2, n=200, seed=p.seeds)}
    phase = chapter.train_phase(problems, p)
    for cell in shallow.phase_cells(p.phase_lrs):
        alone = chapter.phase_table(
            shallow.phase_run(problems["mse", 2], p.seeds, [cell], p.width, p.sgd_steps),
            len(p.seeds), [cell],
        )  # fmt: skip
        row = phase[(phase["model lr"] == cell[0]) & (phase["SG lr"] == cell[1])]
        pd.testing.assert_frame_equal(alone, row.reset_index(drop=True))
    assert phase.diverged.sum() > 0
    together = chapter.train_tracking(problems, p)
    for (mode, error), run in together.items():
        alone = shallow.tracking_run(problems["mse", 2], p.seeds, [error], mode, p.sgd_steps,
                                     p.sgd_lr)  # fmt: skip
        np.testing.assert_array_equal(run.diverged_at, alone.diverged_at)
        for name in alone.evals:
            np.testing.assert_array_equal(run.evals[name], alone.evals[name], err_msg=name)
