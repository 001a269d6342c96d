"""The site's repository and issues buttons follow one setting, BOOK_REPOSITORY, which
_ext/repository.py writes into the staged copy of _config.yml; unset, the site links to no
repository. The site offers no launch buttons (Binder, Colab would have neither the package
nor the MNIST files), and always the download button."""

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

SCRIPT = ROOT / "_ext" / "repository.py"
CONFIG = ROOT / "_config.yml"
URL = "https://github.com/someone/understanding-synthetic-gradients"

spec = importlib.util.spec_from_file_location("book_repository", SCRIPT)
repository = importlib.util.module_from_spec(spec)
spec.loader.exec_module(repository)


@pytest.fixture
def staged(tmp_path):
    path = tmp_path / "_config.yml"
    shutil.copy(CONFIG, path)
    return path


def buttons(config: dict) -> tuple[bool, bool, bool]:
    html = config["html"]
    return html["use_repository_button"], html["use_issues_button"], html["use_download_button"]


def test_the_checked_in_config_is_unset_with_no_launch_buttons():
    text = CONFIG.read_text()
    config = yaml.safe_load(text)
    assert "repository" not in config and "launch_buttons" not in config
    assert buttons(config) == (False, False, True)
    assert "BOOK_REPOSITORY" in text and "_ext/repository.py" in text  # says where it is set


def test_a_url_turns_on_the_repository_and_issues_buttons(staged):
    before = yaml.safe_load(staged.read_text())
    repository.rewrite(staged, URL + ".git/")
    after = yaml.safe_load(staged.read_text())
    assert after["repository"] == {"url": URL, "branch": "main"}
    assert buttons(after) == (True, True, True)
    # nothing else changes
    del after["repository"]
    assert {k: v for k, v in after.items() if k != "html"} == {
        k: v for k, v in before.items() if k != "html"
    }


def test_unset_removes_the_repository_and_its_buttons(staged):
    repository.rewrite(staged, URL)
    repository.rewrite(staged, None)
    config = yaml.safe_load(staged.read_text())
    assert "repository" not in config and buttons(config) == (False, False, True)
    assert config == yaml.safe_load(CONFIG.read_text())


@pytest.mark.parametrize(
    "bad",
    [
        "github.com/someone/repo",
        "http://github.com/someone/repo",
        "https://github.com/someone",
        "https://github.com/someone/repo/tree/main",
        "https://github.com/some one/repo",
    ],
)
def test_a_url_the_buttons_cannot_use_is_refused_and_nothing_is_written(staged, bad):
    with pytest.raises(repository.SettingError, match="https://<host>/<owner>/<repo>"):
        repository.rewrite(staged, bad)
    assert staged.read_text() == CONFIG.read_text()


def test_jupyter_book_accepts_both_states_and_offers_no_launch_button():
    from jupyter_book.config import get_final_config

    source = yaml.safe_load(CONFIG.read_text())
    for url in (None, URL):
        sphinx_config, *_ = get_final_config(
            user_yaml=repository.apply(source, url),
            cli_config={"latex_individualpages": False},
            validate=True,
            raise_on_invalid=True,
        )
        theme = sphinx_config["html_theme_options"]
        assert theme["use_repository_button"] is theme["use_issues_button"] is bool(url)
        if url:
            assert theme["repository_url"] == url
        launch = theme.get("launch_buttons", {})
        assert not any(launch.get(k) for k in ("binderhub_url", "colab_url", "jupyterhub_url"))


def run_script(path, value: str | None):
    env = {k: v for k, v in os.environ.items() if k != "BOOK_REPOSITORY"}
    if value is not None:
        env["BOOK_REPOSITORY"] = value
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, env=env
    )


def test_the_script_reads_the_setting_from_the_environment(staged):
    res = run_script(staged, URL)
    assert res.returncode == 0 and URL in res.stdout, res.stderr
    assert yaml.safe_load(staged.read_text())["repository"]["url"] == URL
    for unset in (None, "", "  "):
        res = run_script(staged, unset)
        assert res.returncode == 0 and "repository none" in res.stdout, res.stderr
        assert "repository" not in yaml.safe_load(staged.read_text())
    res = run_script(staged, "not a url")
    assert res.returncode == 1 and "BOOK_REPOSITORY='not a url'" in res.stderr


def test_the_makefile_applies_the_setting_to_the_staged_config(tmp_path):
    staged = tmp_path / "_build" / "src" / "_config.yml"
    res = subprocess.run(
        ["make", "-n", "-C", str(ROOT), f"OUT={tmp_path}", str(staged), f"BOOK_REPOSITORY={URL}"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert "_ext/repository.py" in res.stdout and str(staged) in res.stdout, res.stdout
