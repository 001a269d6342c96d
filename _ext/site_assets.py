"""Fetch the site's browser assets from the npm registry at install time, pinned and verified.

The published site loads no script from a third-party host: the ipywidgets embed manager,
require.js and MathJax are served from the site itself. This script runs ``npm pack`` for
each pinned package, checks the tarball against its pinned sha512 integrity, and copies the
few files the site needs into the folder given on the command line (default ``_assets``),
which the ``widget_assets`` Sphinx extension adds to the site's static files.

    python _ext/site_assets.py [DEST]
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# name@version -> npm's dist.integrity (sha512 of the tarball)
PACKAGES = {
    "@jupyter-widgets/html-manager@1.0.15": "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
    "requirejs@2.3.8": "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
    "mathjax@3.2.2": "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
}
FONTS = (".woff2", ".woff", ".ttf", ".eot", ".svg")


def pack(spec: str, workdir: Path, integrity: str | None = None) -> Path:
    """``npm pack`` one package into workdir, verify its integrity (``integrity``, default its
    pin in :data:`PACKAGES`), unpack it; return package/."""
    out = subprocess.run(
        ["npm", "pack", spec, "--silent", "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    tgz = workdir / out.stdout.strip().splitlines()[-1]
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
    pinned = integrity or PACKAGES[spec]
    if digest != pinned:
        raise SystemExit(f"{spec}: integrity {digest} does not match the pinned {pinned}")
    dest = workdir / spec.replace("/", "_")
    with tarfile.open(tgz) as tar:
        tar.extractall(dest, filter="data")
    return dest / "package"


def main(dest: Path) -> None:
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed to fetch the site's widget and MathJax assets (Node.js)")
    widgets, mathjax = dest / "ipywidgets", dest / "mathjax"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        hm = pack("@jupyter-widgets/html-manager@1.0.15", work)
        rjs = pack("requirejs@2.3.8", work)
        mj = pack("mathjax@3.2.2", work)
        if dest.exists():
            shutil.rmtree(dest)
        widgets.mkdir(parents=True)
        shutil.copy(hm / "dist" / "embed-amd.js", widgets)
        for font in (hm / "dist").iterdir():
            if font.suffix in FONTS:
                shutil.copy(font, widgets)
        shutil.copy(rjs / "require.js", widgets)
        shutil.copy(HERE / "widgets-config.js", widgets)
        mathjax.mkdir()
        shutil.copy(mj / "es5" / "tex-mml-chtml.js", mathjax)
        # sre: the speech-rule engine's locale files, which MathJax's accessibility menu
        # (explorer, speech, braille) fetches once a reader turns them on
        for sub in ("input", "output", "ui", "a11y", "sre"):
            if (mj / "es5" / sub).exists():
                shutil.copytree(
                    mj / "es5" / sub, mathjax / sub, ignore=shutil.ignore_patterns("svg", "svg.js")
                )
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    print(f"site assets in {dest}: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "_assets"))
