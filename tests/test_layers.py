"""The package's layers (synthgrad.LAYERS): no module imports from a layer above its own."""

import synthgrad
from synthgrad import provenance

ORDER = list(synthgrad.LAYERS)


def layer_of(module: str) -> str:
    top = module.split(".")[0]
    for layer, names in synthgrad.LAYERS.items():
        if top in names:
            return layer
    raise AssertionError(f"module {module} is in no layer of synthgrad.LAYERS")


def wrong_imports(graph: provenance.Graph) -> list[str]:
    wrong = []
    for name, module in graph.modules.items():
        if not name:  # the package's own __init__
            continue
        own = ORDER.index(layer_of(name))
        for source, attr in module.imports.values():
            sub = f"{source}.{attr}" if source else attr
            target = sub if sub in graph.modules else source
            if target and ORDER.index(layer_of(target)) > own:
                wrong.append(f"{name} ({layer_of(name)}) imports {target} ({layer_of(target)})")
    return wrong


def test_no_module_imports_from_a_layer_above_its_own():
    wrong = wrong_imports(provenance.Graph())
    assert not wrong, "\n".join(wrong)


def test_an_import_from_above_is_found(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "ledger.py").write_text("X = 1\n")
    (tmp_path / "train.py").write_text("from .ledger import X\n")
    assert wrong_imports(provenance.Graph(tmp_path)) == ["train (core) imports ledger (tooling)"]


def test_every_module_has_a_layer():
    for name in provenance.Graph().modules:
        if name:
            layer_of(name)
