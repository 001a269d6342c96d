"""Point the staged site configuration at the book's public repository, or at none.

The site's repository and issues buttons follow ONE setting, the environment variable
``BOOK_REPOSITORY`` (the GitHub workflow sets it to the repository it runs in). This script
rewrites the staged copy of ``_config.yml`` (never the one in the checkout):

- with a URL (``https://<host>/<owner>/<repo>``): ``repository.url`` is that URL and the
  repository and issues buttons are on;
- unset or empty: no ``repository`` section and both buttons off, so the site links to no
  repository that nobody checked.

The download button stays on either way. The site has no launch buttons (Binder, Colab): those
services would have neither the package nor the MNIST files.

    python _ext/repository.py STAGED_CONFIG [URL]      (URL defaults to $BOOK_REPOSITORY)
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import yaml

ENV = "BOOK_REPOSITORY"
BUTTONS = ("use_repository_button", "use_issues_button")
# https://host/owner/repo: sphinx-book-theme takes the last two parts as owner and repository
URL = re.compile(r"https://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9_.-]+){2}")


class SettingError(ValueError):
    """The repository setting is not a URL the site's buttons can use."""


def check_url(url: str) -> str:
    url = url.strip().removesuffix("/").removesuffix(".git")
    if not URL.fullmatch(url):
        raise SettingError(
            f"{ENV}={url!r} is not a repository URL of the form https://<host>/<owner>/<repo> "
            f"(leave it empty for a site without repository buttons)"
        )
    return url


def apply(config: dict, url: str | None) -> dict:
    """The configuration with the repository setting applied (a new dict)."""
    config = dict(config)
    html = dict(config.get("html") or {})
    if url:
        repository = dict(config.get("repository") or {})
        repository["url"] = check_url(url)
        repository.setdefault("branch", "main")
        config["repository"] = repository
        html.update(dict.fromkeys(BUTTONS, True))
    else:
        config.pop("repository", None)
        html.update(dict.fromkeys(BUTTONS, False))
    config["html"] = html
    return config


def rewrite(path: Path, url: str | None) -> dict:
    """Apply the setting to the YAML file at ``path`` in place; return the new configuration."""
    config = apply(yaml.safe_load(path.read_text(encoding="utf8")), url)
    header = f"# written by _ext/repository.py from _config.yml and {ENV}\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf8")
    return config


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    url = (argv[2] if len(argv) == 3 else os.environ.get(ENV, "")).strip()
    try:
        config = rewrite(Path(argv[1]), url or None)
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    where = config.get("repository", {}).get("url") or f"none (set {ENV} to add one)"
    print(f"{argv[1]}: repository {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
