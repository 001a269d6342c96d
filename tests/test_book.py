"""The chapters and the site, end to end: each chapter runs with quick=True through the real
`make book` pipeline into a temporary folder, then the rendered site is checked."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from conftest import CHAPTERS, ROOT, make

from synthgrad import ledger

pytestmark = pytest.mark.book


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_smoke_run_writes_a_well_formed_ledger(quick_book, chapter):
    doc = json.loads((quick_book / "results" / f"{chapter}.json").read_text())
    ledger.check(doc)
    assert doc["chapter"] == chapter and doc["quick"] is True
    nb = json.loads((quick_book / "src" / "book" / f"{chapter}.ipynb").read_text())
    assert nb["metadata"]["papermill"]["exception"] is None


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_rendered_chapter_has_its_figures_and_claims_table(quick_book, chapter):
    page = (quick_book / "html" / "book" / f"{chapter}.html").read_text()
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    assert len(images) >= 2, "a chapter page shows its figures"
    for src in images:
        assert (quick_book / "html" / "book" / src).is_file(), src
    claims = json.loads((quick_book / "results" / f"{chapter}.json").read_text())["claims"]
    assert "<table" in page, "the claims table is rendered"
    for claim in claims:
        assert claim["id"] in page and claim["status"] in page
    assert "Traceback" not in page
    text = re.sub(r"<[^>]+>", "", page)
    assert "Rerun this chapter" in text and f"make chapter NB={chapter}" in text
    assert "colab.research.google.com" in page and "mybinder.org" in page  # launch buttons


def test_intro_gathers_every_chapter_claim(quick_book):
    text = (quick_book / "html" / "book" / "intro.html").read_text()
    for chapter in CHAPTERS:
        for claim in json.loads((quick_book / "results" / f"{chapter}.json").read_text())["claims"]:
            assert claim["id"] in text
    assert "quick run" in text


def test_second_build_executes_nothing(quick_book):
    res = make("-n", "book", f"OUT={quick_book.parent}", "PM_PARAMS=-p quick True")
    assert res.returncode == 0
    assert "papermill" not in res.stdout and "jupyter-book" not in res.stdout, res.stdout


def test_bad_parameter_fails_with_one_clear_message(tmp_path):
    nb = ROOT / "book" / f"{CHAPTERS[0]}.ipynb"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(nb),
            str(tmp_path / "out.ipynb"),
            "-k",
            "python3",
            "-p",
            "lr",
            "-0.1",
            "--log-level",
            "ERROR",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode != 0
    assert (
        "ParameterError: invalid parameter(s): lr = -0.1 is not allowed: must be a number > 0"
        in res.stderr
    )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_same_parameters_and_seed_give_identical_claims(quick_book, chapter, tmp_path):
    """Determinism: a second run of the chapter (same parameters, same seed, a fresh kernel)
    writes exactly the claims JSON of the build's run."""
    env = {**os.environ, "SYNTHGRAD_RESULTS": str(tmp_path), "SYNTHGRAD_QUIET": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "papermill", str(ROOT / "book" / f"{chapter}.ipynb"),
         str(tmp_path / "out.ipynb"), "-k", "python3", "-p", "quick", "True",
         "--log-level", "ERROR", "--no-progress-bar"],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    again = (tmp_path / f"{chapter}.json").read_text()
    assert again == (quick_book / "results" / f"{chapter}.json").read_text()


def test_intro_lists_the_build_environment(quick_book):
    text = re.sub(r"<[^>]+>", " ", (quick_book / "html" / "book" / "intro.html").read_text())
    assert re.search(r"torch\s+2\.13\.0", text) and re.search(r"jupyter-book\s+1\.0\.4", text)


def test_an_interrupted_build_then_a_rebuild_gives_a_complete_site(tmp_path):
    """Stop `make book` while it executes a chapter, then run it again: the second build
    finishes the job and leaves no half-written notebook behind."""
    args = ["make", "-C", str(ROOT), "book", f"OUT={tmp_path}", "PM_PARAMS=-p quick True"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)  # fmt: skip
    for line in first.stdout:  # interrupt as soon as the second chapter starts executing
        if line.startswith("executing") and CHAPTERS[1] in line:
            os.killpg(first.pid, signal.SIGINT)
            break
    first.wait(timeout=120)
    assert first.returncode != 0, "the first build was meant to be interrupted"
    staged = tmp_path / "_build" / "src" / "book"
    assert not (staged / f"{CHAPTERS[1]}.ipynb").exists()
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert not list(staged.glob("*.part.ipynb"))
    for chapter in CHAPTERS:
        assert (tmp_path / "_build" / "html" / "book" / f"{chapter}.html").is_file()
        nb = json.loads((staged / f"{chapter}.ipynb").read_text())
        assert nb["metadata"]["papermill"]["exception"] is None
