"""README.md against the committed results it quotes (docs/readme_figures.yaml), checked both ways.

- every entry's text, its {placeholders} filled from its results file and formatted, is in the README;
- every figure in the README's prose (a number with a unit: %, ×, ms, µW, M, points, ...) lies inside one
  of those texts or inside a `not_measured` snippet (settings and specifications, not results);
- every `benchmarks/...` and `docs/...` path the README names, every `python benchmarks/X.py` and every
  relative link exists.

When a benchmark is re-run, update the README figure and this table's entry stays; when the README is
reworded, update the entry's text.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "readme_figures.yaml"

UNITS = (
    r"%|×(?!\s?\d)|x\b|ms\b|s\b|min\b|minutes?\b|seconds?\b|hours?\b|µW|mW|W\b|µJ|mJ|µs|ns|kB|MB|KiB|M\b|k\b|pp\b|points?\b|nJ|pJ"
    r"|M events/s|Hz\b"
)
FIGURE = re.compile(rf"(?<![\w.])[-−+]?\d[\d,]*(?:\.\d+)?(?:\s?[–-]\s?\d[\d,]*(?:\.\d+)?)?\s?(?:{UNITS})")
NUMBER = r"[-−+]?\d[\d,]*(?:\.\d+)?"


def normalise(text: str) -> str:
    """Whitespace (line breaks included) collapsed to single spaces."""
    return " ".join(text.split())


def prose(readme: str) -> str:
    """The README without its fenced code blocks (example outputs are checked by tests/test_examples.py)."""
    return re.sub(r"^```.*?^```", " ", readme, flags=re.S | re.M)


# --- values from results files ---------------------------------------------------------------------------

_KEY = re.compile(r"\.?([\w-]+)|\[(\d+)\]|\[([^=\]]+)=([^\]]*)\]|\[\*\]")


def json_values(data, key: str) -> list:
    """Values at ``key``: ``a.b[0]``, ``rows[step=read_nocache].events_per_s`` (every row whose field matches),
    ``rows[*].x``."""
    found, pos = [data], 0
    while pos < len(key):
        m = _KEY.match(key, pos)
        if not m:
            raise ValueError(f"bad key path {key!r} at {key[pos:]!r}")
        pos = m.end()
        name, index, field, value = m.groups()
        if name is not None:
            found = [d[name] for d in found]
        elif index is not None:
            found = [d[int(index)] for d in found]
        elif field is not None:  # on lists: their matching rows; on rows already picked: a further filter
            rows = [row for d in found for row in d] if all(isinstance(d, list) for d in found) else found
            found = [row for row in rows if str(row.get(field)) == value]
        else:
            found = [row for d in found for row in d]
    return found


def _number(cell) -> float:
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return float(cell)
    m = re.search(NUMBER + r"(?:e[-+]?\d+)?", str(cell))
    if not m:
        raise ValueError(f"no number in {cell!r}")
    return float(m.group().replace(",", "").replace("−", "-"))


def md_tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table in ``text`` as a list of rows {header: cell}."""
    tables, lines = [], text.splitlines()
    for i in range(len(lines) - 1):
        if lines[i].startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip()):
            head = [c.strip() for c in lines[i].strip().strip("|").split("|")]
            rows = []
            for line in lines[i + 2 :]:
                if not line.startswith("|"):
                    break
                rows.append(dict(zip(head, (c.strip() for c in line.strip().strip("|").split("|")))))
            tables.append(rows)
    return tables


def _matches(cell: str, want) -> bool:
    return cell in ([str(w) for w in want] if isinstance(want, list) else [str(want)])


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_FUNCS = {"min": min, "max": max, "abs": abs}


def evaluate(expr: str, names: dict[str, float]) -> float:
    """Arithmetic (+ − × ÷, min, max, abs, numbers, earlier values' names) without executing code."""

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.Name) and node.id in names:
            return names[node.id]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCS
            and not node.keywords
        ):
            return _FUNCS[node.func.id](*(ev(a) for a in node.args))
        raise ValueError(f"not allowed in expr {expr!r}: {ast.dump(node)}")

    return ev(ast.parse(expr, mode="eval"))


def source_value(src: dict, root: Path, names: dict[str, float]) -> float | str:
    """One value: ``expr``, or from ``file`` by JSON/YAML ``key``, Markdown ``table`` column + ``where``,
    or ``regex`` group; ``agg`` (min/max/sum/count/first) over several; then × ``scale``, rounded to ``round`` digits.
    ``text: true`` takes the one value found as a word (a layer name, a ranking), not a number."""
    if "expr" in src:
        value = evaluate(src["expr"], names)
    else:
        path = root / src["file"]
        text = path.read_text(encoding="utf-8")
        if "key" in src:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            found = json_values(data, src["key"])
        elif "table" in src:
            found = [
                row[src["table"]]
                for table in md_tables(text)
                for row in table
                if src["table"] in row and all(_matches(row.get(k, ""), v) for k, v in src.get("where", {}).items())
            ]
        elif "regex" in src:
            found = [m.group(src.get("group", 1)) for m in re.finditer(src["regex"], text, re.M)]
        else:
            raise ValueError(f"a value needs expr, key, table or regex: {src}")
        if src.get("text"):
            if len(set(map(str, found))) != 1:
                raise ValueError(f"{len(found)} different words in {src['file']} for {src}")
            return str(found[0])
        numbers = [_number(v) for v in found]
        if "agg" in src:
            if not numbers:
                raise ValueError(f"nothing found in {src['file']} for {src}")
            value = {"min": min, "max": max, "sum": sum, "count": len, "first": lambda n: n[0]}[src["agg"]](numbers)
        elif len(numbers) != 1:
            raise ValueError(f"{len(numbers)} values in {src['file']} for {src} (give agg or a narrower key)")
        else:
            value = numbers[0]
    value *= float(src.get("scale", 1))
    return round(value, src["round"]) if "round" in src else value


def formatted(value: float | str, spec: str) -> str:
    if isinstance(value, str):
        return value
    text = format(value, spec or "g")
    return text.replace("-", "−") if text.startswith("-") else text


def render(entry: dict, root: Path) -> tuple[str, dict[str, str]]:
    """The entry's text with its values filled in, and each value as formatted."""
    names: dict[str, float | str] = {}
    shown: dict[str, str] = {}
    for name, src in entry.get("values", {}).items():
        names[name] = source_value(src, root, names)
        shown[name] = formatted(names[name], src.get("format", ""))
    return normalise(entry["text"].format(**shown)), shown


def _pattern(text: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", normalise(text))
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"(?P<{part}>{NUMBER}|\\S+?)" if f"(?P<{part}>" not in "".join(out) else f"(?P={part})")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def check_figures(readme: str, spec: dict, root: Path) -> list[str]:
    """Every disagreement between the README and the results it quotes, both ways; empty when none."""
    body = normalise(prose(readme))
    problems, covered = [], []
    for entry in spec.get("figures", []):
        where = ", ".join(sorted({s["file"] for s in entry.get("values", {}).values() if "file" in s}))
        try:
            expected, shown = render(entry, root)
        except (OSError, KeyError, ValueError, TypeError, SyntaxError) as exc:
            problems.append(f"{entry['text']!r}: cannot read its figures ({where}): {exc}")
            continue
        spans = [(m.start(), m.end()) for m in re.finditer(re.escape(expected), body)]
        if spans:
            covered += spans
            continue
        m = _pattern(entry["text"]).search(body)
        if m is None:
            problems.append(f"not in the README (reworded? update docs/readme_figures.yaml): {entry['text']!r}")
            continue
        covered.append(m.span())
        diffs = [
            f"{k}: README {m.group(k)}, {where} {v}" for k, v in shown.items() if k in m.groupdict() and m.group(k) != v
        ]
        problems.append(f"README disagrees with {where} in {m.group()!r}: " + "; ".join(diffs))
    for snippet in spec.get("not_measured", []):
        text = normalise(snippet["text"])
        spans = [(m.start(), m.end()) for m in re.finditer(re.escape(text), body)]
        if not spans:
            problems.append(
                f"not_measured snippet not in the README (remove it from docs/readme_figures.yaml): {text!r}"
            )
        covered += spans
    for m in FIGURE.finditer(body):
        if not any(a <= m.start() and m.end() <= b for a, b in covered):
            context = body[max(0, m.start() - 60) : m.end() + 20]
            problems.append(
                f"figure {m.group()!r} has no results file behind it (add it to "
                f"docs/readme_figures.yaml, or to not_measured if it is a setting): ...{context}..."
            )
    return problems


_PATH = re.compile(r"(?<![\w/.])((?:benchmarks|docs)/[\w./-]*\w)")
_SCRIPT = re.compile(r"python (benchmarks/[\w/]+\.py|docs/[\w/]+\.py)")
_LINK = re.compile(r"\]\((?!https?:|#)([^)\s]+)\)")


def missing_paths(readme: str, root: Path) -> list[str]:
    """Paths the README names (benchmarks/…, docs/…, `python X.py`, relative links) that do not exist."""
    named = set(_PATH.findall(readme)) | set(_SCRIPT.findall(readme)) | set(_LINK.findall(readme))
    return sorted(p for p in named if not (root / p).exists())


# --- the tests ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))


def test_readme_figures_match_their_results(readme, spec):
    problems = check_figures(readme, spec, ROOT)
    assert not problems, "\n".join(problems)


def test_readme_names_only_paths_that_exist(readme):
    assert not missing_paths(readme, ROOT)


def test_every_results_file_in_the_table_is_committed(spec):
    files = {s["file"] for e in spec["figures"] for s in e.get("values", {}).values() if "file" in s}
    assert files and not [f for f in files if not (ROOT / f).is_file()]


# --- the checker fails when it should ----------------------------------------------------------------------


@pytest.fixture
def results(tmp_path) -> Path:
    (tmp_path / "r.json").write_text(
        json.dumps({"rows": [{"name": "a", "acc": 0.9861}, {"name": "b", "acc": 0.5}], "ms": 19.49})
    )
    (tmp_path / "t.md").write_text("# t\n\n| p | acc |\n|---|---|\n| 99 | 71.31% |\n| 100 | 77.44% |\n")
    return tmp_path


FAKE = {
    "figures": [
        {
            "text": "reaches {acc} % in {ms} ms",
            "values": {
                "acc": {"file": "r.json", "key": "rows[name=a].acc", "scale": 100, "format": ".2f"},
                "ms": {"file": "r.json", "key": "ms", "format": ".1f"},
            },
        },
        {
            "text": "converted {lo}–{hi} %",
            "values": {
                "lo": {"file": "t.md", "table": "acc", "agg": "min", "format": ".0f"},
                "hi": {"file": "t.md", "table": "acc", "agg": "max", "format": ".0f"},
            },
        },
    ],
    "not_measured": [{"text": "over 10 %"}],
}


def test_checker_accepts_matching_figures(results):
    assert check_figures("It reaches 98.61 % in\n19.5 ms, converted 71–77 % over 10 % noise.", FAKE, results) == []


@pytest.mark.parametrize(
    "readme, says",
    [
        ("It reaches 98.6 % in 19.5 ms, converted 71–77 % over 10 %.", "acc: README 98.6, r.json 98.61"),
        ("It reaches 98.61 % in 19.5 ms, converted 73–77 % over 10 %.", "lo: README 73, t.md 71"),
        ("It reaches 98.61 % in 19.5 ms, converted 71–77 % over 10 %, 5× faster.", "figure '5×' has no results"),
        ("It reaches 98.61 % in 19.5 ms, 71–77 % over 10 %.", "not in the README"),
    ],
)
def test_checker_reports_a_wrong_or_unbacked_figure(results, readme, says):
    problems = check_figures(readme, FAKE, results)
    assert any(says in p for p in problems), problems


def test_checker_reports_a_changed_results_file(results):
    (results / "r.json").write_text(json.dumps({"rows": [{"name": "a", "acc": 0.97}], "ms": 19.49}))
    problems = check_figures("It reaches 98.61 % in 19.5 ms, converted 71–77 % over 10 %.", FAKE, results)
    assert any("acc: README 98.61, r.json 97.00" in p for p in problems), problems


def test_missing_paths_names_what_is_not_there(tmp_path):
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "a.py").write_text("")
    (tmp_path / "benchmarks" / "results" / "a.md").write_text("")
    readme = (
        "Run `python benchmarks/a.py` ([table](benchmarks/results/a.md)); `python benchmarks/b.py` "
        "writes benchmarks/results/b.json, see [x](docs/x.png)."
    )
    assert missing_paths(readme, tmp_path) == ["benchmarks/b.py", "benchmarks/results/b.json", "docs/x.png"]


def test_json_key_paths():
    data = {"rows": [{"k": "a", "v": 1}, {"k": "b", "v": 2}], "m": {"x": [5, 6]}}
    assert json_values(data, "rows[k=b].v") == [2]
    assert json_values(data, "rows[*].v") == [1, 2]
    assert json_values(data, "m.x[1]") == [6]
    with pytest.raises(ValueError):
        evaluate("__import__('os')", {})
    assert math.isclose(evaluate("(a - 1) / b", {"a": 5, "b": 2}), 2.0)
