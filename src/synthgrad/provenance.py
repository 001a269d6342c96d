"""The code that decides a stored run's numbers, as one hash that survives moving code around.

A run of the results store records :func:`source_hash` of the code it ran: the code of every
function, class and module-level value reachable from its runner (:data:`ROOTS`) through the
package's call graph, found statically from each module's syntax tree (a name, an imported name,
``module.attribute``, a class's bases; a class is hashed whole, with its methods). Each piece is
keyed by its ``__qualname__`` (``fit``, ``History``, ``OPTIMIZERS``), not by the file it lives
in, so moving a function to another module leaves the hash as it is, while editing anything a
run calls, however deep, changes it. Docstrings, comments and layout never count (:func:`code`).
Where two reachable pieces share a qualname (two modules' ``fit``, say), they are told apart
by their code, not by their place. Verdict and plotting code is not reachable from a runner, so
changing a verdict rule leaves the store current.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import LOADERS

PACKAGE = Path(__file__).resolve().parent
NAME = PACKAGE.name
# what each runner and each way of running a step starts from: "module:name" (a name the
# module defines or imports); the fit runner also loads its data by name (data.LOADERS)
_FIT = ("train:fit", *(f"data:{name}" for name in LOADERS))
ROOTS = {
    "fit": _FIT,
    "layers": (*_FIT, "representations:rdm_metrics"),  # fit, recording the layers' RDMs
    "convergence": ("convergence:train_on", "convergence:make_problem"),
    "shallow": ("shallow:run", "convergence:make_problem"),
    "copy": ("curricula:fit_copy",),
    "schedules": ("decoupled.launch:fit_schedule", "data:mnist"),
    "costs": ("decoupled.costs:fit_costs", "data:mnist"),
    "lm": ("language:fit_lm",),
}
STEP_ROOTS = {"eager": (), "CUDA graph": ("graphs:Graphed",)}


@functools.lru_cache(maxsize=4096)
def code(source: str) -> str:
    """The code of a piece of Python without what cannot change a number: its syntax tree with
    docstrings, comments and layout left out, written out the same way on every Python version
    (fields that are empty or None are left out: newer versions add some, e.g. ``type_params``)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):  # fmt: skip
            node.body = body[1:] or [ast.Pass()]

    def write(node: Any) -> str:
        if isinstance(node, ast.AST):
            fields = [f"{k}={write(v)}" for k, v in ast.iter_fields(node) if v not in (None, [])]
            return f"{type(node).__name__}({', '.join(fields)})"
        if isinstance(node, list):
            return f"[{', '.join(write(v) for v in node)}]"
        return repr(node)

    return write(tree)


@dataclass
class Module:
    """One module of the package: its top-level definitions and values, and its imports
    (local name -> (module, attribute or None))."""

    name: str
    defs: dict[str, ast.AST]
    imports: dict[str, tuple[str, str | None]]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The package-relative name of ``from <level dots><target> import ...`` in ``module``."""
    parts = module.split(".") if module else []
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *([target] if target else [])])


def _parse(path: Path, root: Path) -> Module:
    name = _module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text())
    defs: dict[str, ast.AST] = {}
    imports: dict[str, tuple[str, str | None]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defs[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        defs[n.id] = node
        elif isinstance(node, ast.ImportFrom) and node.level:
            source = _absolute(name, is_package, node.level, node.module)
            for alias in node.names:
                imports[alias.asname or alias.name] = (source, alias.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == NAME:
            source = ".".join(node.module.split(".")[1:])
            for alias in node.names:
                imports[alias.asname or alias.name] = (source, alias.name)
    return Module(name, defs, imports)


class Graph:
    """The package's definitions and the references between them."""

    def __init__(self, root: Path = PACKAGE) -> None:
        self.modules = {
            m.name: m
            for m in (
                _parse(p, root) for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts
            )
        }

    def resolve(
        self, module: str, name: str, seen: frozenset = frozenset()
    ) -> tuple[str, str] | str | None:
        """What ``name`` means in ``module``: a definition ``(module, qualname)``, a module
        (its name), or None (not the package's: a builtin, torch, ...)."""
        if (module, name) in seen:
            return None
        mod = self.modules.get(module)
        if mod is None:
            return None
        if name in mod.defs:
            return (module, name)
        if name in mod.imports:
            source, attr = mod.imports[name]
            submodule = f"{source}.{attr}" if source else attr
            if submodule in self.modules:
                return submodule
            return self.resolve(source, attr, seen | {(module, name)})
        return None

    def references(self, module: str, node: ast.AST) -> Iterator[tuple[str, str]]:
        """The package's definitions that ``node`` (in ``module``) refers to."""
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                target = self.resolve(module, n.id)
                if isinstance(target, tuple):
                    yield target
            elif isinstance(n, ast.Attribute):
                chain = []
                base: ast.AST = n
                while isinstance(base, ast.Attribute):
                    chain.append(base.attr)
                    base = base.value
                if not isinstance(base, ast.Name):
                    continue
                target = self.resolve(module, base.id)
                for attr in reversed(chain):  # follow module.sub.attr as far as it resolves
                    if not isinstance(target, str):
                        break
                    target = self.resolve(target, attr) or (
                        f"{target}.{attr}" if f"{target}.{attr}" in self.modules else None
                    )
                if isinstance(target, tuple):
                    yield target

    def reachable(self, roots: Iterable[str]) -> dict[tuple[str, str], ast.AST]:
        """Every definition reachable from ``roots`` (``"module:qualname"``)."""
        todo = [tuple(r.split(":")) for r in roots]
        seen: dict[tuple[str, str], ast.AST] = {}
        while todo:
            key = todo.pop()
            if key in seen:
                continue
            module, name = key
            if module in self.modules and name not in self.modules[module].defs:
                found = self.resolve(module, name)  # a name the module imports (a root)
                if isinstance(found, tuple):
                    module, name = key = found
            if module not in self.modules or name not in self.modules[module].defs:
                raise KeyError(f"{module}:{name} is not a definition of the package")
            node = self.modules[module].defs[name]
            seen[key] = node
            todo.extend(k for k in self.references(module, node) if k not in seen)
        return seen


def pieces(
    roots: Iterable[str], root: Path = PACKAGE, graph: Graph | None = None
) -> dict[str, str]:
    """The code reachable from ``roots``, keyed by qualname (``name#1``, ``name#2``... in the
    order of their code where several share one)."""
    by_name: dict[str, list[str]] = {}
    for (_, name), node in (graph or Graph(root)).reachable(roots).items():
        by_name.setdefault(name, []).append(code(ast.unparse(node)))
    out = {}
    for name, codes in sorted(by_name.items()):
        unique = sorted(set(codes))
        for i, c in enumerate(unique):
            out[name if len(unique) == 1 else f"{name}#{i + 1}"] = c
    return out


def source_hash(runner: str = "fit", step: str = "eager", root: Path = PACKAGE) -> str:
    """SHA-256 (first 16 hex digits) over the code a run of ``runner`` (with its steps run
    ``step``) calls: see the module's docstring. Computed once per state of the package's
    files (their names, sizes and modification times; within :func:`files_held`, the state
    they had on entry)."""
    stamp = _held.get(root) or _stamp(root)
    return _hash((*ROOTS[runner], *STEP_ROOTS[step]), root, stamp)


_held: dict[Path, tuple] = {}  # root -> the state of its files, while files_held holds it


@contextlib.contextmanager
def files_held(root: Path = PACKAGE) -> Iterator[None]:
    """Within, :func:`source_hash` takes the package's files as they were on entry: a store
    read that checks hundreds of runs reads their state once, not once per run (the files do
    not change while it reads)."""
    if root in _held:  # nested: the outer hold stands
        yield
        return
    _held[root] = _stamp(root)
    try:
        yield
    finally:
        del _held[root]


def _stamp(root: Path) -> tuple:
    """The state of the package's files: each ``.py`` file's path, modification time and size."""
    out = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                st = os.stat(path)
                out.append((path, st.st_mtime_ns, st.st_size))
    return tuple(sorted(out))


@functools.lru_cache(maxsize=4)
def _graph(root: Path, stamp: tuple) -> Graph:
    """The package's graph, parsed once per state of its files (shared by every runner)."""
    return Graph(root)


@functools.lru_cache(maxsize=32)
def _hash(roots: tuple[str, ...], root: Path, stamp: tuple) -> str:
    digest = hashlib.sha256()
    for name, text in pieces(roots, root, _graph(root, stamp)).items():
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()[:16]
