"""The chapters and the site, end to end: each chapter runs with quick=True through the real
`make book` pipeline into a temporary folder, then the rendered site is checked."""

import json
import os
import re
import shutil

import pytest
from conftest import CHAPTERS, make

from synthgrad import chapters, ledger

pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book")]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_smoke_run_writes_a_well_formed_ledger(quick_book, chapter):
    doc = json.loads((quick_book / "results" / f"{chapter}.json").read_text())
    ledger.check(doc)
    assert doc["chapter"] == chapter and doc["quick"] is True
    # every claim in the ledger is one whose decision has tests (tests/test_claims.py)
    declared = chapters.module(chapter).CLAIM_IDS
    assert {c["id"] for c in doc["claims"]} <= set(declared), declared
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
    # no launch buttons: Binder or Colab would have neither the package nor the MNIST files
    assert "colab.research.google.com" not in page and "mybinder.org" not in page
    # the download button offers the executed notebook, which the site serves
    download = re.search(
        r'<a href="([^"]+)" target="_blank"\s+class="btn btn-sm btn-download-source-button', page
    )
    assert download and download.group(1).endswith(f"{chapter}.ipynb"), "download button"
    assert (quick_book / "html" / "book" / download.group(1)).is_file()
    # the repository and issues buttons follow BOOK_REPOSITORY (_ext/repository.py): none unset
    repository = (
        os.environ.get("BOOK_REPOSITORY", "").strip().removesuffix("/").removesuffix(".git")
    )
    if repository:
        assert f'href="{repository}"' in page and f'href="{repository}/issues/new' in page
    else:
        assert "btn-source-repository-button" not in page and "/issues/new" not in page


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


def test_intro_lists_the_build_environment(quick_book):
    text = re.sub(r"<[^>]+>", " ", (quick_book / "html" / "book" / "intro.html").read_text())
    assert re.search(r"torch\s+2\.13\.0", text) and re.search(r"jupyter-book\s+1\.0\.4", text)


def test_a_build_stopped_mid_chapter_then_a_rebuild_gives_a_complete_site(quick_book, tmp_path):
    """Stop `make book` while it executes a chapter, then run it again: the second build
    executes only that chapter and leaves no half-written notebook behind; the chapter, run
    again in a fresh kernel, writes exactly the claims of the first build. (The rebuild makes
    the executed chapters, not the site: the quick build has rendered the same notebooks.)

    The stop is at a point the test controls, not at a moment that depends on the machine's
    speed: the quick build is copied (times kept, so make sees it up to date), one executed
    chapter is removed, and the first rebuild passes a parameter the chapter rejects, so its
    papermill run starts, writes its partial notebook and fails."""
    build = tmp_path / "_build"
    shutil.copytree(quick_book, build)  # copy2: modification times kept
    staged = build / "src" / "book"
    chapter = "04_implied_loss"  # the shortest quick run (chapter 7 times processes: it varies)
    (staged / f"{chapter}.ipynb").unlink()
    (build / "results" / f"{chapter}.json").unlink()
    out = f"OUT={tmp_path}"

    stopped = make("book", out, "PM_PARAMS=-p quick not-a-bool", "THREADS=1")
    assert stopped.returncode != 0, "the first build was meant to stop in the chapter"
    assert re.findall(r"^executing book/(\S+)\.ipynb", stopped.stdout, re.M) == [chapter]
    assert (staged / f"{chapter}.ipynb.part.ipynb").is_file(), "the chapter had started"
    assert not (staged / f"{chapter}.ipynb").exists()

    executed = [str(staged / f"{name}.ipynb") for name in CHAPTERS]
    res = make(*executed, out, "PM_PARAMS=-p quick True", "THREADS=1")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert re.findall(r"^executing book/(\S+)\.ipynb", res.stdout, re.M) == [chapter]
    assert not list(staged.glob("*.part.ipynb"))
    for name in CHAPTERS:
        nb = json.loads((staged / f"{name}.ipynb").read_text())
        assert nb["metadata"]["papermill"]["exception"] is None
    again = (build / "results" / f"{chapter}.json").read_text()
    assert again == (quick_book / "results" / f"{chapter}.json").read_text()


def test_the_build_page_names_every_chapter_and_the_site_serves_its_files(quick_book):
    """book/build.html, made by the build (synthgrad.build_status), and the files it links to:
    each chapter's ledger at results/<chapter>.json (with its schema) and each results-store
    manifest at results/store/<experiment>/manifest.json, as they are in the repository."""
    from conftest import ROOT

    html = quick_book / "html"
    page = (html / "book" / "build.html").read_text()
    text = re.sub(r"<[^>]+>", " ", page)
    assert "How this site was built" in text and "Traceback" not in page
    for chapter in CHAPTERS:
        assert f'href="{chapter}.html"' in page, chapter
        assert f'href="../results/{chapter}.json"' in page, chapter
        doc = json.loads((html / "results" / f"{chapter}.json").read_text())
        assert doc["schema"] == ledger.SCHEMA and doc["chapter"] == chapter
        ledger.check(doc)
    assert text.count("(quick run: no evidence)") == len(CHAPTERS)
    for manifest in sorted((ROOT / "store").glob("*/manifest.json")):
        name = manifest.parent.name
        served = html / "results" / "store" / name / "manifest.json"
        assert served.read_bytes() == manifest.read_bytes(), name
        assert f'href="../results/store/{name}/manifest.json"' in page, name
    for heading in ("The results store", "What the files hold", "Verdict changes"):
        assert heading in text
    assert "not yet recorded" in text and "Recorded changes, newest first" in text
    assert not list(html.rglob(".copied")) and not (html / "_extra").exists()
