"""The dependency order of DESIGN.md §2, and a checker that finds every import running against it.

Every ``import`` and ``from ... import`` of a module counts, at any depth: inside functions, under
``if TYPE_CHECKING``, in ``try`` blocks. Relative imports are resolved against the importing module.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# From the bottom. A module may import its own layer and the layers below it, never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("qsnn_deploy", "errors"),  # the package root holds only its version
    ("inputs", "outputs", "progress", "lazy"),
    ("data",),
    ("ir",),
    ("quant",),
    ("hw",),
    ("emulate",),
    ("nets",),
    ("convert",),
    ("train",),
    ("deploy",),
    ("pipeline",),
    ("cli",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# where each part of the installed package lives in the source tree (pyproject's package-dir)
SOURCES = {"qsnn_deploy": "qsnn_deploy", "qsnn_deploy.cli": "cli"}


@dataclass(frozen=True)
class Upward:
    """An import from a lower layer into a higher one."""

    where: str  # file:line
    importer: str
    imported: str

    def __str__(self) -> str:
        return f"{self.where}: {self.importer} imports {self.imported}, which sits above it"


def part(module: str) -> str:
    """The layer name of a dotted module: ``qsnn_deploy.hw.rules`` -> ``hw``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else pieces[0]


def modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file for every module of the package under ``root`` (the repository)."""
    found: dict[str, Path] = {}
    for package, folder in SOURCES.items():
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root / folder).with_suffix("").parts
            if package == "qsnn_deploy" and rel and rel[0] == "cli":
                continue
            name = ".".join((package, *rel))
            found[name.removesuffix(".__init__")] = path
    return found


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    """``name`` imported with ``level`` leading dots from ``module``, as an absolute dotted name."""
    if not level:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - level + 1]
    return ".".join(base + ([name] if name else []))


def _dynamic(node: ast.Call) -> list[str]:
    """Module names a call imports by string: ``import_module("x")`` and ``lazy_exports(pkg, {"n": ".x"})``."""
    func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    if func == "import_module" and node.args and isinstance(node.args[0], ast.Constant):
        return [str(node.args[0].value)]
    if func == "lazy_exports" and len(node.args) > 1 and isinstance(node.args[1], ast.Dict):
        return [str(v.value) for v in node.args[1].values if isinstance(v, ast.Constant)]
    return []


def imported_modules(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``path``, at any depth, string imports included."""
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.Call):
            for name in _dynamic(node):
                level = len(name) - len(name.lstrip("."))
                out.append((node.lineno, _absolute(module, True, level, name.lstrip(".") or None)))
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, is_package, node.level, node.module)
            # ``from pkg import x``: x may be a module of pkg (or a name defined in it)
            out += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return out


def upward_imports(root: Path) -> list[Upward]:
    """Every import in the package under ``root`` that runs against :data:`LAYERS`."""
    found = []
    known = modules(root)
    for module, path in known.items():
        mine = RANK[part(module)]
        for line, target in imported_modules(module, path):
            if target.split(".")[0] == "cli":  # the source folder of qsnn_deploy.cli
                target = "qsnn_deploy." + target
            if target.split(".")[0] != "qsnn_deploy":
                continue
            while target not in known and "." in target:  # ``from pkg import name``: the module is pkg
                target = target.rsplit(".", 1)[0]
            theirs = RANK.get(part(target))
            if theirs is None:
                raise AssertionError(f"{path}:{line}: {target} is in no layer of the dependency order")
            if theirs > mine:
                found.append(Upward(f"{path.relative_to(root)}:{line}", module, target))
    return found
