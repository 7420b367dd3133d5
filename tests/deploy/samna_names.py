"""A static check of the samna names our code uses, against the stand-in's sourced list.

It reads our modules with ``ast`` and follows samna values through them: from ``import samna`` and
the few sinabs calls that hand samna objects back (``make_config``, ``get_samna_module``,
``get_input_buffer``...), through assignments, tuple unpacking, ``self`` attributes, calls of our own
functions (their parameters take the types of the arguments at every call site, their results the
types they return), lists, loops, comprehensions, ``isinstance`` narrowing and ``getattr`` with a
constant name. Every attribute read or written on a samna value must be listed in
``samna_api.API``. ``getattr(obj, "name", default)`` is a probe: the name must be listed on at least
one of the types the value may have. A ``getattr`` whose name it cannot work out is reported too.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections import defaultdict
from pathlib import Path


def _load_api():
    """tests/standin/samna_api.py, without putting tests/standin on sys.path (that would shadow samna)."""
    if "samna_api" not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "standin" / "samna_api.py"
        spec = importlib.util.spec_from_file_location("samna_api", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["samna_api"] = module
    return sys.modules["samna_api"]


_api = _load_api()
API, CHIPS, NODES, OUTPUT_EVENTS, NOT_SIMULATED = (
    _api.API,
    _api.CHIPS,
    _api.NODES,
    _api.OUTPUT_EVENTS,
    _api.NOT_SIMULATED,
)

CONFIG = frozenset(f"samna.{c}.configuration.SpeckConfiguration" for c in CHIPS)
CHIP_MODULES = frozenset(f"samna.{c}" for c in CHIPS)
# What sinabs (not samna) hands back: only these members give samna values; others are not followed.
SINABS = {
    "sinabs.backend.dynapcnn": {"DynapcnnNetwork": frozenset({"sinabs.DynapcnnNetwork"})},
    "sinabs.DynapcnnNetwork": {"make_config": CONFIG},
    "sinabs.ChipFactory": {"get_config_builder": frozenset({"sinabs.ConfigBuilder"})},
    "sinabs.ConfigBuilder": {
        "get_samna_module": CHIP_MODULES,
        "get_input_buffer": frozenset({"SourceNode"}),
        "get_output_buffer": frozenset({"SinkNode"}),
    },
}
CALLBACKS = {("sinabs.DynapcnnNetwork", "make_config"): {"config_modifier": CONFIG}}  # sinabs calls it with a config
IMPORTS = {
    "samna": "samna",
    "sinabs.backend.dynapcnn": "sinabs.backend.dynapcnn",
    "sinabs.backend.dynapcnn.chip_factory.ChipFactory": "sinabs.ChipFactory",
}
PLAIN = {
    "int",
    "float",
    "bool",
    "str",
    "len",
    "range",
    "zip",
    "enumerate",
    "sum",
    "min",
    "max",
    "any",
    "all",
    "print",
    "repr",
    "isinstance",
    "hasattr",
    "callable",
    "type",
    "dict",
    "set",
    "round",
    "abs",
    "iter",
    "next",
}
EMPTY: frozenset = frozenset()


def expand(result: str | None) -> frozenset:
    """The atoms of an API result type."""
    if result is None:
        return EMPTY
    if result.startswith("list:"):
        return frozenset({("list", expand(result[5:]))})
    if result == "OutputEvent":
        return frozenset(OUTPUT_EVENTS)
    if result == "Node":
        return frozenset(NODES)
    return frozenset({result})


class Checker:
    """Runs to a fixed point over all modules, then reports each unlisted name once."""

    def __init__(self, sources: dict[str, str]):
        self.trees = {name: ast.parse(text) for name, text in sources.items()}
        self.funcs: dict[str, list] = defaultdict(list)  # key -> FunctionDef (methods as "Class.method")
        self.classes: dict[str, ast.ClassDef] = {}
        self.bases: dict[str, list[str]] = {}  # class -> the classes it derives from (by name, in this code)
        self.types: dict = defaultdict(frozenset)  # (scope, name) / ("attr", class, name) / ("return", key)
        self.consts: dict = defaultdict(set)  # (scope, name) -> constant strings it takes in a loop
        self.errors: dict[str, str] = {}
        self.recording = False
        self.changed = False
        for tree in self.trees.values():
            self._collect(tree, None)

    def _collect(self, node, cls):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                self.classes[child.name] = child
                self.bases[child.name] = [b.id for b in child.bases if isinstance(b, ast.Name)]
                self._collect(child, child.name)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.funcs[f"{cls}.{child.name}" if cls else child.name].append(child)
                self._collect(child, None)
            else:
                self._collect(child, cls)

    def mro(self, cls: str) -> list[str]:
        """``cls`` then its bases, depth first (enough for the single inheritance used here)."""
        out = [cls]
        for base in self.bases.get(cls, []):
            out += [c for c in self.mro(base) if c not in out]
        return out

    def family(self, cls: str) -> frozenset:
        """Instances ``self`` may be in a method of ``cls``: of ``cls`` and of every class derived from it."""
        return frozenset(("inst", c) for c in self.classes if cls in self.mro(c))

    # -- the type store
    def join(self, key, t: frozenset) -> None:
        if t and not t <= self.types[key]:
            self.types[key] = self.types[key] | t
            self.changed = True

    def report(self, where: str, message: str) -> None:
        if self.recording:
            self.errors.setdefault(message, where)

    def run(self) -> dict[str, str]:
        for _ in range(20):
            self.changed = False
            self._pass()
            if not self.changed:
                break
        self.recording = True
        self._pass()
        return self.errors

    def _pass(self):
        for name, tree in self.trees.items():
            self.module = name
            self.block(tree.body, ("<module>", name), None, {})

    # -- statements
    def block(self, body, scope, cls, narrow):
        for stmt in body:
            self.stmt(stmt, scope, cls, narrow)

    def stmt(self, s, scope, cls, narrow):
        if isinstance(s, ast.ClassDef):
            self.block(s.body, scope, s.name, narrow)
        elif isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
            key = f"{cls}.{s.name}" if cls else s.name
            inner = (key, scope)
            args = s.args.posonlyargs + s.args.args
            if cls and args:
                self.join((inner, args[0].arg), self.family(cls))
            for a in args + s.args.kwonlyargs:
                self.join((inner, a.arg), self.types[("param", key, a.arg)])
            self.block(s.body, inner, None, {})
        elif isinstance(s, ast.Return) and s.value is not None:
            self.join(("return", scope[0]), self.expr(s.value, scope, narrow))
        elif isinstance(s, ast.Assign):
            t = self.expr(s.value, scope, narrow)
            for target in s.targets:
                self.bind(target, t, scope, narrow, cls)
        elif isinstance(s, (ast.AnnAssign, ast.AugAssign)) and s.value is not None:
            t = self.expr(s.value, scope, narrow)
            if isinstance(s, ast.AnnAssign):
                self.bind(s.target, t, scope, narrow, cls)
            else:
                self.expr(s.target, scope, narrow)
        elif isinstance(s, ast.For):
            self.loop_target(s.target, s.iter, scope, narrow)
            self.block(s.body + s.orelse, scope, cls, narrow)
        elif isinstance(s, ast.If):
            inside = dict(narrow)
            for name, t in self.narrowing(s.test, scope, narrow):
                inside[name] = t
            self.expr(s.test, scope, narrow)
            self.block(s.body, scope, cls, inside)
            self.block(s.orelse, scope, cls, narrow)
        elif isinstance(s, ast.With):
            for item in s.items:
                t = self.expr(item.context_expr, scope, narrow)
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, t, scope, narrow, cls)
            self.block(s.body, scope, cls, narrow)
        elif isinstance(s, ast.Try):
            self.block(s.body + s.orelse + s.finalbody, scope, cls, narrow)
            for h in s.handlers:
                self.block(h.body, scope, cls, narrow)
        elif isinstance(s, ast.While):
            self.expr(s.test, scope, narrow)
            self.block(s.body + s.orelse, scope, cls, narrow)
        elif isinstance(s, ast.Import):
            for a in s.names:
                if a.name in IMPORTS:
                    self.join((scope, a.asname or a.name.split(".")[0]), frozenset({IMPORTS[a.name]}))
        elif isinstance(s, ast.ImportFrom):
            for a in s.names:
                full = f"{s.module}.{a.name}"
                if full in IMPORTS:
                    self.join((scope, a.asname or a.name), frozenset({IMPORTS[full]}))
        else:
            for child in ast.iter_child_nodes(s):
                if isinstance(child, ast.expr):
                    self.expr(child, scope, narrow)

    def narrowing(self, test, scope, narrow):
        if (
            isinstance(test, ast.Call)
            and isinstance(test.func, ast.Name)
            and test.func.id == "isinstance"
            and isinstance(test.args[0], ast.Name)
        ):
            t = frozenset(a for a in self.expr(test.args[1], scope, narrow) if isinstance(a, str))
            if t:
                yield test.args[0].id, t
        elif isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            for v in test.values:
                yield from self.narrowing(v, scope, narrow)

    def bind(self, target, t, scope, narrow, cls):
        if isinstance(target, ast.Name):
            self.join((scope, target.id), t)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for i, elt in enumerate(target.elts):
                part = frozenset().union(
                    *(a[1][i] for a in t if isinstance(a, tuple) and a[0] == "tuple" and i < len(a[1])),
                    *(a[1] for a in t if isinstance(a, tuple) and a[0] == "list"),
                )
                self.bind(elt, part, scope, narrow, cls)
        elif isinstance(target, ast.Attribute):
            base = self.expr(target.value, scope, narrow)
            for atom in base:
                if isinstance(atom, tuple) and atom[0] == "inst":
                    self.join(("attr", atom[1], target.attr), t)
            self.member(base, target.attr, target, probe=False)
        else:
            self.expr(target, scope, narrow)

    def loop_target(self, target, iterable, scope, narrow):
        if isinstance(iterable, (ast.Tuple, ast.List)) and isinstance(target, ast.Name):
            for val in iterable.elts:  # for name in ("start", "stop"): the names it takes
                if isinstance(val, ast.Constant) and isinstance(val.value, str):
                    self.consts[(scope, target.id)].add(val.value)
        if isinstance(iterable, (ast.Tuple, ast.List)) and isinstance(target, ast.Tuple):
            for row in iterable.elts:  # for name, want in (("field", ...), ...): the names it takes
                if isinstance(row, ast.Tuple):
                    for tgt, val in zip(target.elts, row.elts):
                        if isinstance(tgt, ast.Name) and isinstance(val, ast.Constant) and isinstance(val.value, str):
                            self.consts[(scope, tgt.id)].add(val.value)
        self.bind(target, self.element(self.expr(iterable, scope, narrow)), scope, narrow, None)

    @staticmethod
    def element(t):
        return frozenset().union(*(a[1] for a in t if isinstance(a, tuple) and a[0] == "list"))

    # -- expressions
    def lookup(self, name, scope, narrow):
        if name in narrow:
            return narrow[name]
        out, s = EMPTY, scope
        while s is not None:
            out |= self.types[(s, name)]
            s = s[1] if isinstance(s[1], tuple) else None
        if not out:
            if name in self.funcs:
                return frozenset({("func", name)})
            if name in self.classes:
                return frozenset({("class", name)})
        return out

    def const_names(self, node, scope):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.Name):
            s, out = scope, set()
            while s is not None:
                out |= self.consts[(s, node.id)]
                s = s[1] if isinstance(s[1], tuple) else None
            return out
        return set()

    def member(self, base, attr, node, probe):
        out, listed, missing = set(), False, []
        for atom in base:
            if isinstance(atom, str):
                if atom.startswith("sinabs"):
                    out |= SINABS.get(atom, {}).get(attr, EMPTY)
                    continue
                key = f"{atom}.{attr}"
                if key in API:
                    listed = True
                    out |= expand(API[key][0])
                else:
                    missing.append(key)
            elif atom[0] == "inst":
                out |= self.types[("attr", atom[1], attr)]
                owner = next((c for c in self.mro(atom[1]) if f"{c}.{attr}" in self.funcs), None)
                if owner is not None:
                    out.add(("func", f"{owner}.{attr}"))
        if missing and not (probe and listed):
            for key in missing:
                self.report(f"{self.module}:{node.lineno}", key)
        return frozenset(out)

    def expr(self, node, scope, narrow) -> frozenset:
        if isinstance(node, ast.Name):
            return self.lookup(node.id, scope, narrow)
        if isinstance(node, ast.Attribute):
            return self.member(self.expr(node.value, scope, narrow), node.attr, node, probe=False)
        if isinstance(node, ast.Call):
            return self.call(node, scope, narrow)
        if isinstance(node, (ast.BoolOp,)):
            return frozenset().union(*(self.expr(v, scope, narrow) for v in node.values))
        if isinstance(node, ast.IfExp):
            self.expr(node.test, scope, narrow)
            return self.expr(node.body, scope, narrow) | self.expr(node.orelse, scope, narrow)
        if isinstance(node, ast.Subscript):
            base = self.expr(node.value, scope, narrow)
            self.expr(node.slice, scope, narrow)
            out = set(self.element(base))
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int):
                for a in base:
                    if isinstance(a, tuple) and a[0] == "tuple" and node.slice.value < len(a[1]):
                        out |= a[1][node.slice.value]
            return frozenset(out)
        if isinstance(node, ast.Tuple):
            return frozenset({("tuple", tuple(self.expr(e, scope, narrow) for e in node.elts))})
        if isinstance(node, ast.List):
            return frozenset({("list", frozenset().union(*(self.expr(e, scope, narrow) for e in node.elts)))})
        if isinstance(node, ast.NamedExpr):
            t = self.expr(node.value, scope, narrow)
            self.join((scope, node.target.id), t)
            return t
        if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            for gen in node.generators:
                self.loop_target(gen.target, gen.iter, scope, narrow)
                for cond in gen.ifs:
                    self.expr(cond, scope, narrow)
            return frozenset({("list", self.expr(node.elt, scope, narrow))})
        if isinstance(node, ast.DictComp):
            for gen in node.generators:
                self.loop_target(gen.target, gen.iter, scope, narrow)
            self.expr(node.key, scope, narrow)
            self.expr(node.value, scope, narrow)
            return EMPTY
        if isinstance(node, ast.Lambda):
            self.expr(node.body, scope, narrow)
            return EMPTY
        if isinstance(node, ast.Starred):
            return self.expr(node.value, scope, narrow)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expr(child, scope, narrow)
        return EMPTY

    def call(self, node, scope, narrow):
        f = node.func
        name = f.id if isinstance(f, ast.Name) else None
        if name == "getattr" and len(node.args) >= 2:
            base = self.expr(node.args[0], scope, narrow)
            for a in node.args[2:]:
                self.expr(a, scope, narrow)
            names = self.const_names(node.args[1], scope)
            if not names and any(isinstance(a, str) and not a.startswith("sinabs") for a in base):
                self.report(
                    f"{self.module}:{node.lineno}",
                    f"getattr on a samna value with a name not known here: {ast.unparse(node)}",
                )
            return frozenset().union(*(self.member(base, n, node, probe=len(node.args) > 2) for n in names))
        if name in ("list", "sorted", "tuple", "reversed") and node.args:
            t = self.expr(node.args[0], scope, narrow)
            for kw in node.keywords:  # sorted(items, key=lambda d: ...): d is an item
                if isinstance(kw.value, ast.Lambda) and kw.value.args.args:
                    self.join((scope, kw.value.args.args[0].arg), self.element(t))
                self.expr(kw.value, scope, narrow)
            return t
        if name in PLAIN:
            for a in [*node.args, *(k.value for k in node.keywords)]:
                self.expr(a, scope, narrow)
            return EMPTY
        if isinstance(f, ast.Attribute) and f.attr in ("append", "extend") and len(node.args) == 1:
            t = self.expr(node.args[0], scope, narrow)
            if f.attr == "append":
                t = frozenset({("list", t)})
            self.expr(f.value, scope, narrow)
            if isinstance(f.value, ast.Name):
                self.bind(f.value, t, scope, narrow, None)
            if isinstance(f.value, ast.Attribute):
                for atom in self.expr(f.value.value, scope, narrow):
                    if isinstance(atom, tuple) and atom[0] == "inst":
                        self.join(("attr", atom[1], f.value.attr), t)
            return EMPTY
        ftype = self.expr(f, scope, narrow)
        args = [self.expr(a, scope, narrow) for a in node.args]
        kwargs = {k.arg: self.expr(k.value, scope, narrow) for k in node.keywords}
        out = set()
        for atom in ftype:
            if isinstance(atom, str) or atom[0] == "list":
                out.add(atom)  # calling a samna class or function gives what the API says it gives
            elif atom[0] == "func":
                self.bind_call(atom[1], args, kwargs)
                out |= self.types[("return", atom[1])]
            elif atom[0] == "class":
                self.bind_fields(atom[1], args, kwargs)
                out.add(("inst", atom[1]))
        if isinstance(f, ast.Attribute):
            for atom in self.expr(f.value, scope, narrow):
                for param, t in CALLBACKS.get((atom, f.attr), {}).items() if isinstance(atom, str) else ():
                    for cb in kwargs.get(param, EMPTY):
                        if isinstance(cb, tuple) and cb[0] == "func":
                            self.bind_call(cb[1], [t], {})
            # a SINABS member call: the result types were given by member(); keep them
        return frozenset(out)

    def bind_call(self, key, args, kwargs):
        for fn in self.funcs.get(key, []):
            params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
            if "." in key and params:
                params = params[1:]  # self
            for p, t in zip(params, args):
                self.join(("param", key, p), t)
            for p, t in kwargs.items():
                self.join(("param", key, p), t)

    def bind_fields(self, cls, args, kwargs):
        fields = [
            s.target.id
            for s in self.classes[cls].body
            if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
        ]
        init = self.funcs.get(f"{cls}.__init__")
        if init:
            self.bind_call(f"{cls}.__init__", args, kwargs)
            return
        for f, t in zip(fields, args):
            self.join(("attr", cls, f), t)
        for f, t in kwargs.items():
            self.join(("attr", cls, f), t)


def check_sources(sources: dict[str, str]) -> dict[str, str]:
    """Unlisted samna names (and uncheckable getattr calls) → where they are first used."""
    return Checker(sources).run()


def our_chip_path(root: Path) -> dict[str, str]:
    """Every module of the package that mentions samna (the chip path, doctor, the CLI)."""
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted((root / "qsnn_deploy").rglob("*.py"))
        if "samna" in p.read_text()
    }
