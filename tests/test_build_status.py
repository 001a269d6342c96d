"""The "How this site was built" page (synthgrad.build_status), on fake executed chapters,
ledgers, a fake results store and a changelog: nothing is trained."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from synthgrad import build_status as bs
from synthgrad import chapters, ledger, store
from synthgrad import served_files as sf
from synthgrad import verdict_changes as vc
from synthgrad.verdict import Verdict

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = sorted((ROOT / "store").glob("*/manifest.json"))


def notebook(parameters: dict, duration: float, end: str = "2026-12-01T10:03:05.5") -> dict:
    """An executed notebook as papermill leaves it: the parameters cell, the injected values,
    papermill's record."""
    cell = {"cell_type": "code", "execution_count": 1, "outputs": []}
    return {
        "cells": [
            {
                **cell,
                "metadata": {"tags": ["parameters"]},
                "source": "# fmt: off\nseed: int = 0   # first seed\nlr = 3e-4\nquick: bool = False\n",
            },
            {
                **cell,
                "metadata": {"tags": ["injected-parameters"]},
                "source": "".join(f"{k} = {v!r}\n" for k, v in parameters.items()),
            },
        ],  # fmt: skip
        "metadata": {
            "papermill": {
                "start_time": "2026-12-01T10:00:00.1",
                "end_time": end,
                "duration": duration,
                "parameters": parameters,
                "exception": None,
            }
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


CHANGES = [
    {"date": "2026-11-01", "claim": "C1.1", "before": "(new)", "after": "holds", "why": "new"},
    {"date": "2026-11-01", "claim": "C1.2", "before": "holds", "after": "inconclusive",
     "why": "3 seeds: by rule", "commit": "abc1234"},
    {"date": "2026-11-05", "claim": "C1.2", "before": "inconclusive", "after": "holds (8 seeds)",
     "why": "8 seeds"},
    {"date": "2026-11-02", "claim": "C2.1", "before": "(new)", "after": "holds", "why": "new"},
]  # fmt: skip


@pytest.fixture
def built(tmp_path, monkeypatch):
    """Two executed chapters (one at its defaults, one quick), their ledgers, a store whose
    manifest is a real one without its data files, and a changelog."""
    book, results, root = tmp_path / "book", tmp_path / "results", tmp_path / "store"
    book.mkdir()
    (book / "01_alpha.ipynb").write_text(json.dumps(notebook({"seed": 0}, 185.4)))
    (book / "02_beta.ipynb").write_text(json.dumps(notebook({"quick": True, "seed": 7}, 42.0)))
    (book / "02_beta.ipynb.part.ipynb").write_text("{}")  # a half-written one is no chapter
    monkeypatch.setenv(ledger.RESULTS_ENV, str(results))
    undecided = Verdict("inconclusive", decide="5 seeds or more")
    ledger.write(
        "01_alpha",
        [
            ledger.Claim("C1.1", "x", "x", "x", True),
            ledger.Claim("C1.2", "x", "x", "x", undecided),
            ledger.Claim("C1.3", "x", "x", "x", False, regime="depth 3", partly=True),
        ],
        {"seed": 0, "lr": 3e-4},
        quick=False,
    )
    ledger.write("02_beta", [ledger.Claim("C2.1", "x", "x", "x", False)], {"seed": 7}, True)
    (root / "99_real").mkdir(parents=True)
    shutil.copy(MANIFESTS[0], root / "99_real" / "manifest.json")
    changes = tmp_path / "verdict-changes.yml"
    changes.write_text(yaml.safe_dump(CHANGES))
    return book, results, root, changes


def section(page: str, title: str) -> str:
    start = page.index(title)
    end = page.find("\n## ", start + 1)
    nxt = page.find("\n### ", start + len(title))
    ends = [e for e in (end, nxt) if e > 0]
    return page[start : min(ends) if ends else len(page)]


def test_each_chapter_with_its_time_parameters_verdicts_and_ledger(built):
    book, results, root, changes = built
    page = bs.page(book, results, root, changes)
    chapters_part = section(page, "## The chapters")
    rows = {line.split("|")[1].strip(): line for line in chapters_part.splitlines()
            if line.startswith("| {doc}")}  # fmt: skip
    assert set(rows) == {"{doc}`01_alpha`", "{doc}`02_beta`"}
    alpha, beta = rows["{doc}`01_alpha`"], rows["{doc}`02_beta`"]
    assert "2026-12-01 10:03 UTC" in alpha and "3 min 05 s" in alpha and "| default |" in alpha
    assert "1 holds, 1 holds in part, 1 inconclusive" in alpha
    assert '<a href="../results/01_alpha.json">results/01_alpha.json</a>' in alpha
    assert "42 s" in beta and "quick; also `seed = 7`" in beta
    assert "1 does not hold (quick run: no evidence)" in beta
    assert '<a href="../results/02_beta.json">' in beta
    assert "cores" in page and "build machine" in page


def test_parameters_changed_from_the_cell_are_named():
    assert bs.changed_parameters(notebook({"seed": 0, "lr": 0.0003}, 1)) == {}
    assert bs.changed_parameters(notebook({"seed": 3, "n_seeds": 5}, 1)) == {
        "seed": 3,
        "n_seeds": 5,
    }
    assert bs.defaults(notebook({}, 1)) == {"seed": 0, "lr": 3e-4, "quick": False}


def test_a_claim_whose_verdict_changed_unrecorded_is_listed(built):
    book, results, root, changes = built
    page = bs.page(book, results, root, changes)
    pending = section(page, "### Changed in this build, not yet recorded")
    rows = [line for line in pending.splitlines() if line.startswith("| C")]
    assert len(rows) == 1 and rows[0].startswith("| C1.2 |"), pending
    assert "holds (8 seeds) (2026-11-05)" in rows[0] and "**inconclusive**" in rows[0]
    # the quick chapter's verdicts are not the book's: not compared
    assert "C2.1" not in pending and "`02_beta`" in pending
    assert "No change recorded yet for: C1.3 (holds in part)" in pending
    recorded = section(page, "### Recorded changes, newest first")
    order = [line.split("|")[1:3] for line in recorded.splitlines() if line.startswith("| 2026")]
    assert [d.strip() for d, _ in order] == ["2026-11-05", "2026-11-02", "2026-11-01", "2026-11-01"]
    assert "`abc1234`" in recorded


def test_a_build_with_every_verdict_recorded_lists_none(built):
    book, results, root, changes = built
    changes.write_text(yaml.safe_dump([*CHANGES, {**CHANGES[2], "after": "inconclusive"}]))
    pending = section(bs.page(book, results, root, changes), "### Changed in this build")
    assert "None: every compared claim" in pending
    (book / "01_alpha.ipynb").unlink()  # only the quick chapter: nothing to compare
    pending = section(bs.page(book, results, root, changes), "### Changed in this build")
    assert "Nothing compared" in pending and "`02_beta`" in pending


def test_the_store_runs_by_state_device_and_commit(built):
    book, results, root, changes = built
    manifest = json.loads(MANIFESTS[0].read_text())
    n = len(manifest["runs"])
    row = next(line for line in bs.page(book, results, root, changes).splitlines()
               if line.startswith("| `99_real`"))  # fmt: skip
    assert f"| {n} | {n} corrupt |" in row  # its data files are not there
    devices = {r["provenance"]["device"] for r in manifest["runs"].values()}
    assert all(d in row for d in devices)
    assert next(iter(manifest["runs"].values()))["provenance"]["commit"][:12] in row
    assert '<a href="../results/store/99_real/manifest.json">' in row
    # against a grid (paper status --json): a run the grid lists and the store lacks is missing
    states = {"99_real": dict.fromkeys(manifest["runs"], "ok") | {"extra/run": "missing"}}
    page = bs.page(book, results, root, changes, states)
    row = next(line for line in page.splitlines() if line.startswith("| `99_real`"))
    assert f"| {n + 1} | {n} ok, 1 missing |" in row
    assert "against the chapters' grids" in page


def test_the_states_are_the_stores_own(tmp_path):
    root = tmp_path / "store"
    (root / "98_x").mkdir(parents=True)
    shutil.copy(MANIFESTS[0], root / "98_x" / "manifest.json")
    [found] = bs.store_runs(root)
    manifest = store.read_manifest("98_x", root)
    bare = store.Experiment("98_x", "", "", "", {})
    assert found["states"] == {
        label: store.run_status(bare, label, root, manifest) for label in manifest["runs"]
    }


def test_every_field_of_a_real_ledger_and_manifest_is_explained(built):
    book, results, root, changes = built
    real_ledger = json.loads((results / "01_alpha.json").read_text())
    assert real_ledger["schema"] == ledger.SCHEMA
    manifests = [json.loads(p.read_text()) for p in MANIFESTS]
    text = sf.fields_section([real_ledger], manifests)
    runs = [r for m in manifests for r in m["runs"].values()]
    groups = [
        [real_ledger],
        real_ledger["claims"],
        manifests,
        runs,
        [r["run"] for r in runs],
        [r["provenance"] for r in runs],
    ]
    for group in groups:
        for key in {k for obj in group for k in obj}:
            assert f"- `{key}`: " in text, key
    assert "not explained yet" not in text
    odd = {**real_ledger, "new_field": 1}
    assert "- `new_field`: *not explained yet*" in sf.fields_section([odd], manifests)


def test_a_malformed_changelog_entry_is_refused(tmp_path):
    path = tmp_path / "changes.yml"
    for bad, message in [
        ({**CHANGES[0], "after": "maybe"}, "starts with none of"),
        ({k: v for k, v in CHANGES[0].items() if k != "why"}, "missing"),
        ({**CHANGES[0], "reason": "x"}, "unknown"),
        ({**CHANGES[0], "date": "yesterday"}, "YYYY-MM-DD"),
    ]:
        path.write_text(yaml.safe_dump([bad]))
        with pytest.raises(ValueError, match=message):
            vc.read_changes(path)


def test_the_repository_changelog_names_real_claims():
    entries = vc.read_changes(bs.CHANGES)
    assert entries, "book/verdict-changes.yml records the verdict changes"
    claims = {c for name in chapters.NAMES for c in chapters.module(name).CLAIM_IDS}
    assert {e["claim"] for e in entries} <= claims
    assert vc.status_of("holds in part (0/6 deep with Adam)") == "holds in part"
    assert vc.status_of("(new)") is None


def test_the_command_line_prints_the_page(built, capsys):
    book, results, root, changes = built
    states = book.parent / "states.json"
    states.write_text(json.dumps({"99_real": {}}))
    bs.main([str(book), str(results), "--store", str(root), "--changes", str(changes),
             "--store-status", str(states)])  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith("## The chapters") and "## Verdict changes" in out


def test_paper_status_as_json_gives_every_grid_run_a_state(capsys):
    from synthgrad import paper

    paper.main(["status", "--json"])
    states = json.loads(capsys.readouterr().out)
    experiments = paper.experiments()
    assert set(states) == set(experiments)
    for name, runs in states.items():
        experiment = experiments[name]
        assert set(runs) == set(experiment.runs) | set(experiment.pending)
        assert set(runs.values()) <= {
            "ok",
            "stale",
            "corrupt",
            "missing",
            "pending",
            "unregistered",
        }
        assert {k for k, v in runs.items() if v == "pending"} == set(experiment.pending)
