"""Without a results store (an empty folder): each chapter that draws one says how to make it,
draws nothing from it and judges no paper-scale claim (claims ending in ``p``). Unit tests of
the chapters' store paths; the chapters' quick runs in the book build use the real store."""

import re

import test_claims_convergence as conv_cases
import test_claims_primer as primer_cases
import test_claims_representations as rep_cases

from synthgrad import paper, store
from synthgrad.chapters import convergence, primer, representations_store
from synthgrad.chapters import convergence_figures as conv_figures
from synthgrad.chapters import representations_figures as rep_figures

PAPER_SCALE = re.compile(r"C\d\.\d+[a-z]?p(-\w+)?")


def empty(tmp_path, experiment):
    stored = store.load(experiment, tmp_path)
    assert not stored.runs and stored.scale() == ""
    assert "No results store for this chapter here" in stored.note()
    assert f"make paper EXPERIMENT={experiment.name}" in stored.note()
    return stored


def test_every_experiment_without_a_store_says_how_to_make_it(tmp_path):
    for experiment in paper.experiments().values():
        empty(tmp_path, experiment)


def test_chapter_1_without_a_store(tmp_path):
    acc = primer.stored_accuracy(empty(tmp_path, primer.EXPERIMENT))
    assert acc == {} and primer.dni_table(acc) is None
    ids = [c.id for c in primer.claims(primer_cases.accuracies(), acc)]
    assert ids and not [i for i in ids if PAPER_SCALE.fullmatch(i)]


def test_chapter_3_without_a_store(tmp_path):
    stored = empty(tmp_path, convergence.EXPERIMENT)
    assert convergence.measure_long(stored, convergence.INTERFACE.defaults["steps"]) is None
    assert conv_figures.figure_long(stored) is None and conv_figures.table_long(stored) is None
    ids = [c.id for c in convergence.claims(conv_cases.measures(), None)]
    assert ids and not [i for i in ids if PAPER_SCALE.fullmatch(i)]


def test_chapter_5_without_a_store(tmp_path):
    values = representations_store.values(empty(tmp_path, representations_store.EXPERIMENT), 0.1)
    assert values.acc == {} and values.scale == ""
    assert rep_figures.figure_store_sg_losses(values) is None
    ids = list(rep_cases.judged(store=values))
    assert ids and not [i for i in ids if PAPER_SCALE.fullmatch(i)]
