"""Every function that takes a progress value is typed with the progress mode (``ProgressMode``:
True/False or "auto"/"on"/"off"), not ``bool``: the CLI passes "auto" down through all of them."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def progress_annotations() -> dict[str, str]:
    """``file:line function`` → the annotation of its ``progress`` parameter, over the library, the CLI and
    the benchmarks."""
    found = {}
    for folder in ("qsnn_deploy", "cli", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                    for arg in args:
                        if arg.arg == "progress":
                            where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                            found[where] = "" if arg.annotation is None else ast.unparse(arg.annotation)
    return found


def test_progress_parameters_take_a_progress_mode():
    found = progress_annotations()
    assert any("measure_activity" in k for k in found)  # the scan sees the library
    wrong = {k: v for k, v in found.items() if "bool" in v}
    assert not wrong, f"typed bool, but a progress mode ('auto', 'on', 'off') is passed on: {wrong}"
    untyped = {k: v for k, v in found.items() if k.startswith("qsnn_deploy") and v != "ProgressMode"}
    assert not untyped, f"library functions whose progress parameter is not typed ProgressMode: {untyped}"
