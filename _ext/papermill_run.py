"""papermill's command line, as ``make book``, ``make chapter`` and ``make fresh`` run it,
without an import that costs every chapter run about 2 s and checks nothing here.

papermill imports nbformat, which imports jsonschema, whose format checkers import the optional
``rfc3987_syntax`` wherever it is installed (jupyter-book's dependencies install it) and build
its IRI grammar at import. The notebook schema has no IRI field, so that checker never runs.
Blocking the import makes jsonschema skip those two formats, as it does wherever the package is
absent (``with suppress(ImportError)`` in ``jsonschema._format``); nothing else changes. Usage:
as ``papermill``'s (``python _ext/papermill_run.py --help``).
"""

import sys

sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # `import` raises ImportError

from papermill.cli import papermill  # noqa: E402

if __name__ == "__main__":
    papermill()
