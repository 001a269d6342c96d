"""JupyterLab as a reader uses it: the primer opened in JupyterLab on 127.0.0.1, run with
quick parameters in the browser, the live widget moved, and its figure seen to change."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import CHAPTERS, ROOT, SCREENSHOTS

pytestmark = pytest.mark.processes
TOKEN = "synthgrad-test"
LIVE = ".synthgrad-live"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("lab")
    subprocess.run(  # papermill as make runs it (_ext/papermill_run.py: 2 s less of imports)
        [
            sys.executable,
            str(ROOT / "_ext" / "papermill_run.py"),
            "--prepare-only",
            str(ROOT / "book" / f"{CHAPTERS[0]}.ipynb"),
            str(work / "primer.ipynb"),
            "-p",
            "quick",
            "True",
            "-k",
            "python3",
        ],
        check=True,
        capture_output=True,
    )
    settings = work / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # render every cell (no virtual scrolling), so the widget at the end is in the page
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port = free_port()
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(work / "settings"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "ws"),
        "SYNTHGRAD_QUIET": "1",
        "SYNTHGRAD_RESULTS": str(work / "results"),
    }
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={work}",
        "--LabApp.expose_app_in_browser=True",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_live_widget_reruns_in_jupyterlab(browser, lab):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    external = []
    page.route(
        "**/*",
        lambda r: (
            r.continue_()
            if r.request.url.startswith((lab, "ws://127.0.0.1", "data:", "blob:"))
            else (external.append(r.request.url), r.abort())
        ),
    )
    page.goto(f"{lab}/lab/tree/primer.ipynb?token={TOKEN}")
    page.wait_for_function(
        "window.jupyterapp && window.jupyterapp.shell.currentWidget "
        "&& window.jupyterapp.shell.currentWidget.sessionContext",
        timeout=60000,
    )
    page.wait_for_function(
        "window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.status === 'idle'",
        timeout=60000,
    )
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    image = page.locator(f"{LIVE} img.widget-image").first
    image.wait_for(state="attached", timeout=240000)
    page.wait_for_function(
        f"document.querySelector('{LIVE} img.widget-image')?.getAttribute('src')", timeout=60000
    )
    image.scroll_into_view_if_needed()
    before = image.get_attribute("src")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(LIVE).first.screenshot(path=str(SCREENSHOTS / "lab-live-before.png"))
    page.locator(f"{LIVE} .noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        f"document.querySelector('{LIVE} img.widget-image').getAttribute('src') !== {json.dumps(before)}",
        timeout=120000,
    )
    page.locator(LIVE).first.screenshot(path=str(SCREENSHOTS / "lab-live-after.png"))
    assert page.locator(f"{LIVE} .widget-readout").first.inner_text().strip() == "0.0003"
    assert external == []
    page.close()
