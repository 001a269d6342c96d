"""Chapter 8's claims decided on constructed identities and scores (no training)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from synthgrad import chapters, params, recurrent
from synthgrad import curricula as C
from synthgrad.chapters import in_time as it
from synthgrad.data import idx, text
from synthgrad.data.text import Text

NAN, INF = float("nan"), float("inf")
P = SimpleNamespace(
    truncations=[2, 4], sequences=25600, hidden=128, batch=32, seeds=[0, 1, 2, 3, 4],
    live_sequences=1600, probe_every=50, lm_chars=1500, corpus="moby-dick", lm_eval_every=100,
    lm_lr=3e-3, lm_eval_steps=100, bits=4, threshold=0.15,
)  # fmt: skip


def identities(zero_sg, oracle, truncated):
    """Constructed identity checks on check_identities' problem."""
    problem = dict(sequences=3, steps=12, length=4, hidden=8, batch=4)
    return recurrent.Identities(zero_sg, oracle, truncated, **problem)


EXACT = identities(zero_sg=0.0, oracle=1e-7, truncated=3e-2)


def score(dni=None, bptt=None, ceiling=None):
    """Per (method, T): by default DNI solves 2 to 3 lengths more than truncated BPTT at every
    T on every seed; the ceiling longer still."""
    base = np.array([1.0, 1.0, 2.0, 1.0, 1.0])
    out = {(it.CEILING, None): np.array(ceiling if ceiling is not None else [5.0] * 5)}
    for T in P.truncations:
        out["truncated BPTT", T] = np.array((bptt or {}).get(T, base))
        out["DNI", T] = np.array((dni or {}).get(T, base + np.array([2.0, 3.0, 2.0, 2.0, 3.0])))
    return out


def bpc(dni=None, bptt=None):
    """Per (method, T): by default DNI 0.05 to 0.1 bits per character below truncated BPTT on
    every seed at every T."""
    base = np.array([3.40, 3.42, 3.38, 3.41, 3.39])
    out = {}
    for T in P.truncations:
        out["truncated BPTT", T] = np.array((bptt or {}).get(T, base))
        out["DNI", T] = np.array((dni or {}).get(T, base - [0.05, 0.1, 0.07, 0.06, 0.08]))
    return out


def verdicts(identity=EXACT, s=None, p=P, b=None):
    return {c.id: c for c in it.claims(identity, s or score(), b or bpc(), p)}


@pytest.mark.claim("C8.1", "holds")
@pytest.mark.claim("C8.2", "holds")
@pytest.mark.claim("C8.3", "holds")
@pytest.mark.claim("C8.4", "holds")
def test_every_claim_holds_where_its_evidence_meets_it():
    got = verdicts()
    assert list(got) == [c for c in it.CLAIM_IDS if not c.endswith("p") and "p-" not in c]
    assert {k: c.status for k, c in got.items()} == dict.fromkeys(got, "holds")
    assert got["C8.3"].regime == "DNI solves longer copies at T = 2, T = 4"
    assert got["C8.3"].source == "DNI paper" and got["C8.1"].kind == "identity check"
    n = it.numbers(EXACT, score(), P)
    assert (n["dni_2_median"], n["bptt_4_median"], n["ceiling_median"]) == (4.0, 1.0, 5.0)


@pytest.mark.claim("C8.1", "fails")
def test_c8_1_is_exact_equality():
    assert verdicts(identities(1e-9, 1e-7, 3e-2))["C8.1"].status == "does not hold"


@pytest.mark.claim("C8.1", "diverged")
@pytest.mark.claim("C8.2", "diverged")
def test_the_identities_fail_on_nan():
    got = verdicts(identities(NAN, NAN, 3e-2))
    assert got["C8.1"].status == got["C8.2"].status == "does not hold"
    assert verdicts(identities(0.0, 1e-7, NAN))["C8.2"].status == "does not hold"


@pytest.mark.claim("C8.2", "fails")
def test_c8_2_fails_off_float_rounding_or_when_it_holds_trivially():
    assert verdicts(identities(0.0, 1e-3, 3e-2))["C8.2"].status == "does not hold"
    # truncated BPTT as close to full BPTT as the oracle: nothing was shown
    assert verdicts(identities(0.0, 1e-7, 1e-7))["C8.2"].status == "does not hold"


@pytest.mark.claim("C8.3", "fails")
def test_c8_3_is_about_every_truncation():
    """DNI ahead at T = 2 but level at T = 4: it does not hold (no "in part")."""
    tied = verdicts(s=score(dni={4: np.ones(5)}, bptt={4: np.ones(5)}))["C8.3"]
    assert tied.status == "inconclusive" and "every seed tied" in tied.decide
    assert "a budget long enough for the lengths to differ at T = 4" in tied.decide
    # noisy, not tied: differences -1, 1, -1, 1, 0 straddle 0
    noisy = verdicts(
        s=score(dni={4: [1.0, 2.0, 1.0, 2.0, 1.0]}, bptt={4: [2.0, 1.0, 2.0, 1.0, 1.0]})
    )
    got = noisy["C8.3"]
    assert got.status == "inconclusive" and "every seed tied" not in got.decide
    assert "a budget long enough" not in got.decide  # a tie's remedy only where they tie
    got = verdicts(s=score(dni={4: np.ones(5)}, bptt={4: np.full(5, 3.0)}))["C8.3"]
    assert got.status == "does not hold"
    assert "not shown at T = 4" in got.regime


@pytest.mark.claim("C8.3", "diverged")
def test_c8_3_a_diverged_dni_seed_counts_against_it():
    got = verdicts(s=score(dni={2: [3.0, 4.0, 4.0, 3.0, NAN]}))["C8.3"]
    assert got.status == "does not hold"
    assert "diverged on seed(s) 4" in got.interval
    # a run whose error became NaN scores NaN
    assert np.isnan(C.longest_solved({"n": [1, 2], "error": [0.1, INF]}))


@pytest.mark.claim("C8.3", "inconclusive")
@pytest.mark.claim("C8.4", "inconclusive")
def test_c8_3_two_seeds_decide_nothing():
    two = SimpleNamespace(**{**vars(P), "seeds": [0, 1]})
    s = {k: v[:2] for k, v in score().items()}
    got = verdicts(s=s, p=two, b={k: v[:2] for k, v in bpc().items()})
    assert got["C8.3"].status == "inconclusive" and "fewer than 5 seeds" in got["C8.3"].decide
    assert "budget" not in got["C8.3"].decide  # no tie: the lengths already differ
    tied = {k: np.ones(2) for k in s}
    decide = verdicts(s=tied, p=two, b={k: v[:2] for k, v in bpc().items()})["C8.3"].decide
    assert decide.count("fewer than 5 seeds") == 1 and "every seed tied" in decide  # each once
    assert got["C8.4"].status == "inconclusive"


def test_the_score_table_names_diverged_seeds_and_the_ceiling():
    table = it.score_table(score(dni={2: [3.0, 4.0, 4.0, 3.0, NAN]}), P)
    assert table.loc["T = 2", "DNI"] == "3, 4, 4, 3, diverged"
    assert table.loc["no truncation", it.CEILING] == "5, 5, 5, 5, 5"


def curricula(cosines=(0.2, 0.4), dni_errors=(1.0, 2.0, 0.5)):
    """Constructed logs, two seeds: every run learns length 1 for 2 batches, then length 2
    (errors 3, 4, 2 bits for truncated BPTT, ``dni_errors`` for DNI); the ceiling moves on to
    3; DNI's SG probed twice, ending at ``cosines`` (None: never probed)."""

    def log(errors, n=(1, 1, 2, 2, 2), cos=None):
        return {"n": list(n), "error": [0.1, 0.1, *errors], "probe_batch": [0, 50] if cos is not None else [],
                "sg_cosine": [0.0, cos] if cos is not None else []}  # fmt: skip

    logs = {(it.CEILING, None): [log([0.1, 1.0, 2.0], n=(1, 1, 2, 3, 3))] * 2}
    for T in P.truncations:
        logs["truncated BPTT", T] = [log([3.0, 4.0, 2.0])] * 2
        logs["DNI", T] = [log(dni_errors, cos=c) for c in cosines]
    return logs


def test_the_sgs_last_probe_is_read_per_seed_at_the_shortest_truncation():
    logs = curricula()
    batches, cos = it.sg_cosine(logs, 4)
    assert list(batches) == [0, 50] and cos.shape == (2, 2)
    n = it.numbers(EXACT, score(), P, logs)
    assert (n["cosine_T"], n["cosine_end"]) == (2, pytest.approx(0.3))
    assert n["stuck_T"] == 4
    assert n["stuck_text"] == (
        "every run of both methods ended learning length 2; over its last 100 batches there, "
        "the median seed's error is 1.17 bits per sequence for DNI against 3.00 bits per "
        "sequence for truncated BPTT; the SG's last cosine with the true future gradient "
        "ranges from 0.20 to 0.40 over the seeds"
    )


def test_the_table_of_where_runs_ended_reads_each_seed():
    table = it.where_stuck(curricula(cosines=(0.05, 0.3)), last=2)
    dni = table.loc["DNI, T = 4"]
    assert dni["learning at the end"] == "2, 2" and dni["batches there"] == "3, 3"
    assert dni["error, last 2 batches"] == "1.25, 1.25"  # the last two at length 2: 2.0, 0.5
    assert dni["SG cosine, last probe"] == "0.05, 0.30"
    # Copy of length n has 2n + 1 steps: at T = 2 none fits one window, at T = 4 length 1 does
    assert table.loc["truncated BPTT, T = 2", "fits one window up to length"] == "0"
    assert table.loc["DNI, T = 4", "fits one window up to length"] == "1"
    assert table.loc[it.CEILING, "learning at the end"] == "3, 3"


def test_a_diverged_or_unprobed_run_is_named_in_table_3_and_its_text():
    # DNI's seed 0 diverged after its last probe (0.05), seed 1 was never probed, seed 2 was
    logs = curricula(cosines=(0.05, None, 0.3))
    logs["DNI", 4][0] = {**logs["DNI", 4][0], "error": [0.1, 0.1, 1.0, float("nan"), 0.5]}
    dni = it.where_stuck(logs).loc["DNI, T = 4"]
    assert dni["error, last 100 batches"] == "diverged, 1.17, 1.17"
    assert dni["SG cosine, last probe"] == "diverged, n/a, 0.30"  # not the probe before it
    text = it.stuck_text(logs, 4)
    assert "DNI diverged on seed(s) 0 against 3.00 bits per sequence" in text
    assert ("ranges from 0.30 to 0.30 over the seeds (not probed across a boundary: seed(s) 1; "
            "diverged: seed(s) 0)") in text  # fmt: skip
    unprobed = it.stuck_text(curricula(cosines=(None, None)), 4)
    assert "crossed no window boundary on any seed" in unprobed
    gone = curricula(cosines=(0.05, 0.3), dni_errors=(1.0, float("nan"), 0.5))
    assert "no seed that did not diverge has an SG probe" in it.stuck_text(gone, 4)
    logs = curricula(cosines=(0.05, None), dni_errors=(1.0, float("nan"), 0.5))
    logs["DNI", 4][0] = {**logs["DNI", 4][0], "n": [1, 1, 2, 3, 3]}
    assert "the runs ended learning lengths 3, 2 (DNI); 2, 2 (truncated BPTT)" in it.stuck_text(
        logs, 4
    )
    with pytest.raises(ValueError, match="Copy runs"):
        it.where_stuck({("DNI", 2): [{**logs["DNI", 2][0], "repeats": [1] * 5}]})


@pytest.mark.claim("C8.4", "fails")
def test_c8_4_fails_where_dni_is_not_lower_at_some_truncation():
    worse = np.array([3.45, 3.47, 3.43, 3.46, 3.44])
    got = verdicts(b=bpc(dni={4: worse}))["C8.4"]
    assert got.status == "does not hold" and "not shown at T = 4" in got.regime


@pytest.mark.claim("C8.4", "diverged")
def test_c8_4_a_diverged_dni_seed_counts_against_it():
    got = verdicts(b=bpc(dni={2: [3.3, 3.3, 3.3, 3.3, NAN]}))["C8.4"]
    assert got.status == "does not hold" and "diverged on seed(s) 4" in got.interval
    curve = [6.0, 5.0, 4.0, 3.5, 3.4, 3.3, 3.2]
    final = it.lm_final({("DNI", 2): [{"valid_bpc": curve}, {"valid_bpc": [*curve[:-1], NAN]}]})
    assert final["DNI", 2][0] == pytest.approx(3.48)  # the mean of the last five evaluations
    assert np.isnan(final["DNI", 2][1])


def test_a_corpus_that_cannot_be_had_or_is_too_short_for_the_streams_is_a_clear_error(
    monkeypatch, tmp_path
):
    values = {**chapters.interface("08_in_time").defaults, "corpus": "ptb"}
    p = chapters.setup("08_in_time", values)  # Penn Treebank is a corpus the chapter can ask for

    def offline(*a, **k):
        raise idx.urllib.error.URLError("no network")

    monkeypatch.setattr(idx.urllib.request, "urlopen", offline)
    monkeypatch.delenv(text.TEXT_ENV, raising=False)
    monkeypatch.setattr(text, "checkout_data_dir", lambda: tmp_path / "data" / "mnist")
    with pytest.raises(idx.DataError, match="no network.*Offline\\? Put ptb.train.txt"):
        it.load_corpus(p)
    ids = torch.arange(300) % 5
    monkeypatch.setattr(it, "_text", lambda name: Text(name, "abcd", ids, ids[:100], ids[:50], ""))
    short = SimpleNamespace(corpus="tiny", batch=4, lm_chars=100, lm_eval_steps=10)
    with pytest.raises(params.ParameterError, match="gives 4 streams of 75 characters, 101 needed"):
        it.load_corpus(short)


@pytest.mark.processes
def test_the_worker_pool_returns_every_run_under_its_key_in_seed_order():
    """in_time.train_all: each (method, T) gets its seeds' runs in order, each the same run
    as alone (in_time.run: one curriculum in this process)."""
    tiny = SimpleNamespace(**{**vars(P), "truncations": [2], "seeds": [0, 1], "sequences": 8,
                              "batch": 4, "hidden": 4, "lr": 0.01, "sg_scale": 0.1,
                              "sg_hidden": 0, "probe_every": 1})  # fmt: skip
    logs = it.train_all(tiny)
    assert list(logs) == [(it.CEILING, None), ("truncated BPTT", 2), ("DNI", 2)]
    for (method, T), runs in logs.items():
        assert len(runs) == 2
        for seed, got in zip(tiny.seeds, runs, strict=True):
            assert repr(got) == repr(it.run(tiny, method, T, seed, tiny.sequences))  # NaN too


def stored(dni=None, bptt=None, lam1=None, lam0=None):
    """Constructed scores of the registered store grid, every run made: by default DNI solves
    1 to 2 more than truncated BPTT at every T of both tasks, BP(lambda) 1 more with lambda 1."""
    S = it.in_time_store
    base = np.array([2.0, 2.0, 3.0, 2.0, 2.0])
    out = {}
    for task in S.TASKS:
        out[f"{task}/no truncation/{S.CEILING}"] = base + 5
        for T in S.TRUNCATIONS:
            out[f"{task}/T {T}/{S.BPTT}"] = np.array((bptt or {}).get((task, T), base))
            out[f"{task}/T {T}/{S.DNI}"] = np.array(
                (dni or {}).get((task, T), base + [1.0, 2.0, 1.0, 1.0, 2.0]))  # fmt: skip
        out[f"{task}/one step/{S.bp_name(1)}"] = np.array((lam1 or {}).get(task, base + 1))
        out[f"{task}/one step/{S.bp_name(0)}"] = np.array((lam0 or {}).get(task, base))
    return out


def store_verdicts(score):
    return {c.id: c for c in it.in_time_store.claims(score)}


@pytest.mark.claim("C8.3p", "holds")
@pytest.mark.claim("C8.3p-repeat", "holds")
@pytest.mark.claim("C8.5p", "holds")
def test_the_store_claims_hold_where_the_registered_grid_meets_them():
    got = store_verdicts(stored())
    assert {k: c.status for k, c in got.items()} == dict.fromkeys(
        ("C8.3p", "C8.3p-repeat", "C8.5p"), "holds"
    )
    assert got["C8.3p"].regime == "DNI solves longer at T = 2, T = 3, T = 4, T = 5, T = 8"
    assert got["C8.5p"].source == "BP(lambda) paper"
    # a claim waits for every run it needs: here Repeat Copy's DNI at T = 8 and its BP(0)
    gone = ("repeat_copy/T 8/DNI", f"repeat_copy/one step/{it.in_time_store.bp_name(0)}")
    partial = {k: v for k, v in stored().items() if k not in gone}
    assert set(store_verdicts(partial)) == {"C8.3p"}
    no_ceiling = {k: v for k, v in stored().items() if k != "copy/no truncation/full BPTT"}
    assert "C8.3p" not in store_verdicts(no_ceiling)  # its evidence reports the ceiling
    assert "C8.5p" in store_verdicts(no_ceiling)  # as registered: BP(lambda)'s runs alone


def test_the_store_scores_leave_out_a_stale_run():
    from synthgrad import store

    S = it.in_time_store
    log = {"n": [1, 2], "error": [0.1, 0.1], "sg_loss": [0.0, 0.0], "probe_batch": [],
           "sg_cosine": []}  # fmt: skip
    h = C.history([log], [0], eval_every=1, threshold=0.15)
    stored = store.Stored(S.EXPERIMENT, {"a": h, "b": h}, {"a": "ok", "b": "stale"}, {})
    assert list(S.scores(stored)) == ["a"] and S.scores(stored)["a"][0] == 2


@pytest.mark.claim("C8.3p", "fails")
@pytest.mark.claim("C8.3p-repeat", "fails")
@pytest.mark.claim("C8.5p", "fails")
def test_the_store_claims_fail_where_one_regime_does():
    level = np.array([2.0, 2.0, 3.0, 2.0, 2.0])
    got = store_verdicts(stored(dni={("copy", 8): level - 1, ("repeat_copy", 3): level - 1},
                                lam1={"copy": level - 1}))  # fmt: skip
    assert got["C8.3p"].status == "does not hold" and "not shown at T = 8" in got["C8.3p"].regime
    assert got["C8.3p-repeat"].status == "does not hold"
    assert got["C8.5p"].status == "does not hold" and "not shown on Copy" in got["C8.5p"].regime


@pytest.mark.claim("C8.3p", "diverged")
@pytest.mark.claim("C8.3p-repeat", "diverged")
@pytest.mark.claim("C8.5p", "diverged")
def test_a_diverged_seed_counts_against_the_store_claims():
    gone = np.array([3.0, 4.0, 4.0, 3.0, NAN])
    got = store_verdicts(stored(dni={("copy", 2): gone, ("repeat_copy", 5): gone},
                                lam1={"repeat_copy": gone}))  # fmt: skip
    for claim in ("C8.3p", "C8.3p-repeat", "C8.5p"):
        assert got[claim].status == "does not hold"
        assert "diverged on seed(s) 4" in got[claim].interval


@pytest.mark.claim("C8.3p", "inconclusive")
@pytest.mark.claim("C8.3p-repeat", "inconclusive")
@pytest.mark.claim("C8.5p", "inconclusive")
def test_ties_and_noise_leave_the_store_claims_undecided():
    level = np.array([2.0, 2.0, 3.0, 2.0, 2.0])
    noisy = np.array([3.0, 1.0, 4.0, 1.0, 3.0])
    got = store_verdicts(stored(dni={("copy", 4): level, ("repeat_copy", 2): noisy},
                                lam1={"copy": level}))  # fmt: skip
    assert got["C8.3p"].status == "inconclusive" and "every seed tied" in got["C8.3p"].decide
    # what would settle the tie, as the book run's C8.3 says it
    assert "a budget long enough for the lengths to differ at T = 4" in got["C8.3p"].decide
    assert got["C8.3p-repeat"].status == "inconclusive"
    assert "a budget long enough" not in got["C8.3p-repeat"].decide  # noisy, not tied
    assert got["C8.5p"].status == "inconclusive"


def test_the_store_grid_is_registered_and_make_paper_knows_it():
    from synthgrad import paper, store

    S = it.in_time_store
    assert (store.store_dir() / S.PLAN_FILE).read_text() == S.plan_text()
    assert S.NAME in paper.BUILDERS and len(S.EXPERIMENT.runs) == 2 * (1 + 2 * 5 + 2)
    assert all(
        t.runner == "copy" and t.fit["steps"] == S.BATCHES for t in S.EXPERIMENT.runs.values()
    )
    dni = S.EXPERIMENT.runs["copy/T 3/DNI"].fit
    assert (dni["method"], dni["length"], dni["scale"]) == ("dni", 3, S.DNI_SCALE)
    assert "Made so far" in S.page_text()
    empty = store.store_dir().parent / "no-store-here"
    assert f"**Made so far**: 0 of {len(S.EXPERIMENT.runs)} runs" in S.page_text(empty)
    # the book run's C8.3 is the small version once the store's C8.3p is in the ledger
    book = verdicts()["C8.3"]
    labelled = it.ledger.label_small_versions([book, store_verdicts(stored())["C8.3p"]])
    assert labelled[0].decided_by == "C8.3p"


def test_the_live_widget_runs_every_task_and_method_it_offers():
    """chapter 8's live widget (JupyterLab): each task and method, BP(lambda) included."""
    import matplotlib

    matplotlib.use("Agg")
    from synthgrad.chapters import in_time_figures as figures

    tiny = SimpleNamespace(seed=0, live_sequences=8, hidden=4, batch=4, lr=0.01, sg_scale=0.1,
                           threshold=0.15, bits=2)  # fmt: skip
    for task in it.TASKS:
        for method in it.LIVE_METHODS:
            fig, text = figures.live_panel(tiny, task, 2, method, 0)
            assert text.startswith("longest length solved: ") and fig.axes
    log = it.live_run(tiny, "Repeat Copy", it.BP_LAMBDA, 2, 0)
    assert "repeats" in log and len(log["error"]) == 2


def test_the_live_widgets_controls_are_the_tasks_and_methods_it_runs():
    from synthgrad.chapters import in_time_figures as figures

    assert figures.LIVE_GRID["task"] == list(it.TASKS)
    assert figures.LIVE_GRID["method"] == list(it.LIVE_METHODS)
    assert set(figures.LIVE_LABELS) == set(figures.LIVE_GRID)


def test_the_store_grid_is_tabled_as_made_and_drawn_per_complete_task():
    import matplotlib

    matplotlib.use("Agg")
    from synthgrad.chapters import in_time_figures as figures

    S = it.in_time_store
    made = stored(dni={("copy", 2): [3.0, 4.0, np.nan, 3.0, 3.0]})
    table = S.table(made)
    assert table.loc["Copy, T = 2", "DNI"] == "3, 4, diverged, 3, 3"
    assert table.loc["Repeat Copy, no truncation", "full BPTT"] == "7, 7, 8, 7, 7"
    assert table.loc["Copy, one step", "BP(lambda) 1"] == "3, 3, 4, 3, 3"
    assert len(table) == 2 * (1 + len(S.TRUNCATIONS) + 1)
    fig = figures.figure_store(made)
    assert [ax.get_title() for ax in fig.axes] == ["Copy", "Repeat Copy"]
    del made["repeat_copy/T 8/DNI"]
    assert S.table(made).loc["Repeat Copy, T = 8", "DNI"] == "not made"
    assert S.as_book(made, "repeat_copy") is None
    assert S.as_book(made, "copy")["DNI", 2][0] == 3.0
    assert [ax.get_title() for ax in figures.figure_store(made).axes] == ["Copy"]
    assert figures.figure_store({}) is None


def test_the_store_copy_runs_are_read_back_as_logs_for_table_3():
    """in_time_store.copy_logs rebuilds the curricula's logs of the grid's Copy runs from the
    store's histories (length and error per batch, the SG's cosine per probe), so Table 3
    diagnoses the grid's ties as it does the book run's; nothing until every Copy run is ok."""
    from synthgrad import curricula as Cu
    from synthgrad import store

    S = it.in_time_store

    def run(errors, cosines):  # two seeds, 4 batches, an evaluation every 2 (probes at 0, 2)
        logs = [{"n": [1, 1, 2, 2], "error": errors, "sg_loss": [0.0] * 4,
                 "probe_batch": [0, 2], "sg_cosine": list(c)} for c in cosines]  # fmt: skip
        return Cu.history(logs, [0, 1], eval_every=2, threshold=0.15)

    runs = {name: run([0.1, 0.1, 3.0, 2.0], [(0.1, 0.5), (0.2, 0.6)])
            for name in S._book_keys("copy").values()}  # fmt: skip
    ok = store.Stored(S.EXPERIMENT, runs, dict.fromkeys(runs, "ok"), {})
    logs = S.copy_logs(ok)
    assert set(logs) == set(S._book_keys("copy"))
    # the store keeps the probes taken at its evaluations (batch 2 here; batch 0 is not one)
    assert logs["DNI", 8][1] == {"n": [1, 1, 2, 2], "error": [0.1, 0.1, 3.0, 2.0],
                                 "sg_cosine": [0.6]}  # fmt: skip
    table = it.where_stuck(logs, last=2)
    assert table.loc["DNI, T = 8", "learning at the end"] == "2, 2"
    assert table.loc["DNI, T = 8", "SG cosine, last probe"] == "0.50, 0.60"
    n = S.numbers(ok)
    assert n["store_stuck_T"] == 8 and n["store_stuck_text"].startswith(
        "every run of both methods ended learning length 2"
    )
    stale = store.Stored(S.EXPERIMENT, runs, {**ok.status, S.label("copy", "DNI", 8): "stale"}, {})
    assert S.copy_logs(stale) is None and S.numbers(stale)["store_stuck_text"] == "not yet made"
