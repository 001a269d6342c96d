"""Chapter 8's language models in the results store (issue 26): the registered plan, the runner
that keeps them, and C8.4p decided from them (holds, fails, meets a diverged seed, waits for its
runs)."""

import numpy as np
import pytest
import torch

from synthgrad import language, paper, store
from synthgrad.chapters import in_time_lm_store as L
from synthgrad.data.text import Text
from synthgrad.sweep import Task, run_task
from synthgrad.train import History

BASE = np.array([2.40, 2.42, 2.38, 2.41, 2.39])


def final(dni=None, bptt=None, drop=()):
    """Constructed scores of every run of the grid: by default DNI 0.05 to 0.1 bits per
    character below truncated BPTT on every seed at every T."""
    out = {}
    for T in L.TRUNCATIONS:
        out[L.label(L.BPTT, T)] = np.array((bptt or {}).get(T, BASE))
        out[L.label(L.DNI, T)] = np.array(
            (dni or {}).get(T, BASE - [0.05, 0.1, 0.07, 0.06, 0.08]))  # fmt: skip
    out[L.label(L.BPTT, L.CEILING_T)] = BASE - 0.3
    return {k: v for k, v in out.items() if k not in drop}


def verdict(score):
    got = {c.id: c for c in L.claims(score)}
    assert set(got) <= {"C8.4p"}
    return got.get("C8.4p")


@pytest.mark.claim("C8.4p", "holds")
def test_c8_4p_holds_where_dni_is_lower_at_every_t():
    got = verdict(final())
    assert got.status == "holds" and got.source == "DNI paper"
    assert got.regime == "DNI lower at T = 2, T = 3, T = 4, T = 5, T = 8"
    assert got.evidence[f"bptt_T{L.CEILING_T}"].tolist() == pytest.approx((BASE - 0.3).tolist())
    # it waits for every truncated run; the ceiling is reported, not needed
    assert verdict(final(drop=[L.label(L.DNI, 8)])) is None
    assert verdict(final(drop=[L.label(L.BPTT, L.CEILING_T)])).status == "holds"


@pytest.mark.claim("C8.4p", "fails")
def test_c8_4p_fails_where_dni_is_higher_at_one_t():
    got = verdict(final(dni={8: BASE + [0.05, 0.1, 0.07, 0.06, 0.08]}))
    assert got.status == "does not hold" and "not shown at T = 8" in got.regime


@pytest.mark.claim("C8.4p", "diverged")
def test_c8_4p_a_diverged_dni_seed_counts_against_it():
    lost = BASE - [0.05, 0.1, 0.07, 0.06, np.nan]
    got = verdict(final(dni={2: lost}))
    assert got.status == "does not hold" and "diverged on seed(s) 4" in got.interval


@pytest.mark.claim("C8.4p", "inconclusive")
def test_c8_4p_is_inconclusive_where_the_seeds_disagree():
    mixed = BASE + [-0.1, 0.1, -0.1, 0.1, -0.05]
    got = verdict(final(dni={3: mixed}))
    assert got.status == "inconclusive"


def test_the_table_and_numbers_say_what_is_not_made():
    score = final(drop=[L.label(L.DNI, 2)])
    t = L.table(score)
    assert t.loc["T = 2", L.DNI] == "not made"
    assert t.loc["T = 8", L.BPTT] == "2.400, 2.420, 2.380, 2.410, 2.390"
    assert t.loc[f"T = {L.CEILING_T} (ceiling)", L.BPTT] == "2.100, 2.120, 2.080, 2.110, 2.090"
    n = L.numbers(stored_runs(score))
    assert n["store_lm_dni_lo"] == "not yet made" and n["store_lm_bptt_lo"] == "2.400"
    assert n["store_lm_s_bptt_lo"] == "30" and n["store_lm_s_dni_lo"] == "not yet made"
    # the ceiling's updates, and truncated BPTT at T = 2 at its first evaluation after as many
    assert n["store_lm_ceiling_updates"] == "625" and n["store_lm_lo_updates"] == "1,000"
    assert n["store_lm_lo_windows"] == "10,000"
    assert n["store_lm_bptt_lo_then"] == "3.400"


def test_the_ceiling_and_the_end_of_the_budget_are_put_in_words_from_the_runs():
    score = final()  # the ceiling 0.3 below every truncated run, and no run still falling
    n = L.numbers(stored_runs(score))
    assert n["store_lm_ceiling_text"].startswith("below every truncated run, as a ceiling should")
    assert (
        "Per update the long window is ahead (truncated BPTT at T = 2 stood at 3.400"
        in n["store_lm_ceiling_text"]
    )
    assert n["store_lm_ceiling_text"].endswith(
        "per character, in this budget, the long windows win"
    )
    assert n["store_lm_falling"].startswith(
        "no run's held-out bits per character were still falling"
    )
    # the ceiling above every truncated run, the scores rising with T for truncated BPTT only
    rising = {T: BASE + 0.01 * i for i, T in enumerate(L.TRUNCATIONS)}
    score = final(bptt=rising) | {L.label(L.BPTT, L.CEILING_T): BASE + 1.0}
    words = L.numbers(stored_runs(score))["store_lm_ceiling_text"]
    assert words.startswith("above every truncated run, so at this budget it is no ceiling")
    assert "rise with every step of T for truncated BPTT" in words
    assert "are not higher at T = 8 than at T = 2 for DNI" in words
    assert words.endswith("many short updates win")
    # between the truncated runs; and the median seed of one run diverged
    score = final() | {L.label(L.BPTT, L.CEILING_T): BASE - 0.01}
    assert (
        "above the best truncated run's 2.320"
        in L.numbers(stored_runs(score))["store_lm_ceiling_text"]
    )
    lost = final(dni={2: BASE + [0, 0, np.nan, np.nan, np.nan]})
    assert (
        "the median seed diverged (T 2/DNI)"
        in L.numbers(stored_runs(lost))["store_lm_ceiling_text"]
    )
    # every run still falling over its last evaluations: named as not converged
    falling = stored_runs(final())
    for h in falling.runs.values():
        v = h.evals["valid_bpc"]
        k = min(L.analysis.LAST, len(v))
        v[-k:] += np.linspace(0.05, 0.0, k)[:, None]
    got = L.numbers(falling)["store_lm_falling"]
    assert got.startswith(
        "every run's held-out bits per character were still falling (the median seed's by 0.050 to 0.050"
    )
    assert "neither method had converged" in got
    one = stored_runs(final())
    one.runs[L.label(L.DNI, 4)].evals["valid_bpc"][-L.analysis.LAST] += 0.02
    assert L.numbers(one)["store_lm_falling"].startswith(
        "the held-out bits per character of T 4/DNI were still falling"
    )
    # until every run is made, no words
    assert (
        L.numbers(stored_runs(final(drop=[L.label(L.DNI, 5)])))["store_lm_falling"]
        == "not yet made"
    )


def stored_runs(score):
    """Stored histories whose last evaluations give ``score``: T windows of T characters, an
    evaluation every 500 windows (the shortest T's) ending on ``score``, 30 s of training."""
    runs = {}
    for name, v in score.items():
        T = int(name.split("/")[0].removeprefix("T "))
        windows = L.CHARS // T
        at = np.unique([*range(0, windows, 500), windows])
        bpc = np.tile(np.asarray(v, float), (len(at), 1))
        bpc[: max(len(at) - L.analysis.LAST, 0)] += 1.0  # before the last evaluations: higher
        runs[name] = History(
            seeds=list(L.SEEDS), steps=np.arange(1, windows + 1), train={},
            eval_steps=at, evals={"valid_bpc": bpc, "seconds": np.full((len(at), 5), 30.0),
                                  "chars_seen": np.zeros((len(at), 5))},
            diverged_at=np.full(5, -1),
        )  # fmt: skip
    return store.Stored(L.EXPERIMENT, runs, dict.fromkeys(runs, "ok"), {})


def test_the_plan_is_registered_and_make_paper_knows_it():
    assert (store.store_dir() / L.PLAN_FILE).read_text() == L.plan_text()
    assert paper.BUILDERS[L.NAME]() is L.EXPERIMENT
    runs = L.EXPERIMENT.runs
    assert len(runs) == 2 * len(L.TRUNCATIONS) + 1
    assert {t.runner for t in runs.values()} == {"lm"} and {t.dataset for t in runs.values()} == {
        "moby-dick"
    }
    common = [
        {k: v for k, v in t.fit.items() if k not in ("method", "length")} for t in runs.values()
    ]
    assert all(c == common[0] for c in common) and common[0]["seeds"] == list(L.SEEDS)


def tiny_text(name: str = "tiny") -> Text:
    ids = torch.arange(2000) % 7
    return Text(name, "abcdef", ids, ids[:400], ids[:200], "a tiny text")


def test_the_lm_runner_keeps_every_seeds_curve_as_one_history(monkeypatch):
    monkeypatch.setattr(language.text, "corpus", lambda name: tiny_text(name))
    fit = dict(seeds=[0, 1], method="dni", length=3, steps=40, lr=3e-3, eval_every=20,
               eval_steps=10, hidden=8, batch=4)  # fmt: skip
    h = run_task(Task("moby-dick", fit, runner="lm"))
    assert h.seeds == [0, 1] and h.train["bpc"].shape == (14, 2)  # ceil(40 / 3) windows
    assert h.eval_steps.tolist() == [0, 7, 14]  # after the window that passed 20 characters
    assert h.evals["chars_seen"][:, 0].tolist() == [0.0, 4 * 21, 4 * 40]
    assert np.isfinite(h.evals["valid_bpc"]).all() and (h.diverged_at == -1).all()
    one = language.fit_lm("tiny", **{**fit, "seeds": [1]})
    assert np.array_equal(one.evals["valid_bpc"][:, 0], h.evals["valid_bpc"][:, 1])  # a seed alone
    stored = store.Stored(L.EXPERIMENT, {"T 3/DNI": h}, {"T 3/DNI": "ok"}, {})
    assert L.finals(stored)["T 3/DNI"].tolist() == pytest.approx(
        h.evals["valid_bpc"].mean(0).tolist()
    )
