"""The software this site was built with: the versions of the key packages, for the intro page.

``python -m synthgrad.environment`` prints them as a MyST table; ``make book`` includes it.
"""

from __future__ import annotations

import platform
from importlib import metadata

KEY_PACKAGES = (
    "torch",
    "numpy",
    "pandas",
    "matplotlib",
    "seaborn",
    "ipywidgets",
    "papermill",
    "jupyter-book",
    "myst-nb",
    "synthgrad",
)


def versions() -> dict[str, str]:
    """Python and each key package's installed version ("not installed" if absent)."""
    out = {"python": platform.python_version()}
    for name in KEY_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def markdown() -> str:
    rows = "\n".join(f"| {name} | {version} |" for name, version in versions().items())
    return (
        "| package | version |\n|---|---|\n" + rows + "\n\n"
        "Every package is pinned to an exact version in `requirements.txt`.\n"
    )


if __name__ == "__main__":
    print(markdown(), end="")
