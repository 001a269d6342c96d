"""Shared fixtures: a quick build of the whole book (every chapter with quick=True, through
the real `make book` pipeline, into a temporary folder) and a headless Chromium."""

import functools
import http.server
import importlib.metadata
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

# papermill (tests/test_parameters.py) imports nbformat, whose jsonschema builds the optional
# rfc3987_syntax grammar at import: 2.3 s in each test worker for a checker the notebook schema
# never uses. Blocked as in _ext/papermill_run.py (jsonschema then skips its two IRI formats).
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "_build" / "screenshots"


@pytest.fixture(scope="session", autouse=True)
def _cache_of_this_session(tmp_path_factory):
    """Decoded store runs cached in this session's own folder, never in the user's cache (a
    test must not read what older code left there)."""
    os.environ["SYNTHGRAD_CACHE"] = str(tmp_path_factory.mktemp("decoded-runs"))


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-C", str(ROOT), *args], capture_output=True, text=True)


@pytest.fixture(scope="session")
def quick_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    res = make("book", f"OUT={out}", "PM_PARAMS=-p quick True", "THREADS=1")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out / "_build"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no line per request in the test output
        pass


@pytest.fixture(scope="session")
def site_url(quick_book):
    """The quick site served on 127.0.0.1 (a free port) for the length of the session."""
    handler = functools.partial(QuietHandler, directory=str(quick_book / "html"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def pytest_configure(config):
    """make test's one quick build needs pytest-xdist's ``--dist loadgroup``, which pytest 9.2's
    node ids broke in pytest-xdist 3.8.0, silently (pytest-dev/pytest-xdist#1386): every worker
    would make its own quick build, on the cores the others need."""
    if getattr(config.option, "dist", "no") != "loadgroup" or pytest.version_tuple[:2] < (9, 2):
        return
    xdist = tuple(int(n) for n in importlib.metadata.version("pytest-xdist").split(".")[:3])
    if xdist <= (3, 8, 0):
        raise pytest.UsageError(
            f"pytest {pytest.__version__} with pytest-xdist {'.'.join(map(str, xdist))} does not"
            " group tests under --dist loadgroup (pytest-dev/pytest-xdist#1386): install the"
            " pins of requirements.txt (make install)"
        )


def pytest_collection_modifyitems(config, items):
    """The tests that start other processes (the longest: JupyterLab, a dask cluster, chapter
    7's stages) first, so that pytest-xdist starts them at once instead of ending on them."""
    items.sort(key=lambda item: item.get_closest_marker("processes") is None)
