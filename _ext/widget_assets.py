"""Local Sphinx extension of the book.

- Serves the self-hosted browser assets (``_assets/``: ipywidgets embed manager, require.js,
  MathJax; fetched by ``site_assets.py`` at install time) as static files. They are added
  after Jupyter Book has scanned ``html_static_path``, so they are not auto-included on every
  page: myst-nb loads the widget scripts only on pages with widgets (``nb_ipywidgets_js``).
- Puts a "Rerun this chapter" box under the title of every chapter page.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes

CHAPTER = re.compile(r"book/(\d\d_\w+)")


def _add_static(app, config):
    assets = Path(app.confdir) / "_assets"
    if not (assets / "ipywidgets" / "embed-amd.js").exists():
        raise RuntimeError(f"{assets} lacks the widget assets: run `make install`")
    config.html_static_path.append(str(assets))


def _rerun_box(app, doctree):
    match = CHAPTER.fullmatch(app.env.docname)
    section = doctree.next_node(nodes.section)
    if not match or section is None:
        return
    name = match.group(1)
    code = (
        f"make chapter NB={name} P='-p seed 1 -p n_seeds 5'   # from a clone; installs first\n"
        f"papermill book/{name}.ipynb out.ipynb -p seed 1      # or papermill directly\n"
        f"papermill --help-notebook book/{name}.ipynb          # every parameter and its range"
    )
    box = nodes.admonition(classes=["tip", "rerun-chapter"])
    box += nodes.title(text="Rerun this chapter")
    box += nodes.paragraph(
        text="Every number and figure on this page was computed when the book was built. "
        "To rerun the chapter with other parameters (any in its parameters cell):"
    )
    block = nodes.literal_block(code, code)
    block["language"] = "bash"
    box += block
    section.insert(section.first_child_matching_class(nodes.title) + 1, box)


def setup(app):
    app.connect("config-inited", _add_static)
    app.connect("doctree-read", _rerun_box)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
