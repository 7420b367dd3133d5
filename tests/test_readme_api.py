"""The README's Python API example runs as printed, from the repository root."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _example(marker: str = "api-example") -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- {marker} -->\n```python\n(.*?)```\n<!-- /{marker} -->", readme, re.S)
    assert found, f"README.md has no {marker} block"
    return found.group(1)


def test_example_is_ten_lines():
    lines = [line for line in _example().splitlines() if line.strip()]
    assert len(lines) <= 10, lines


def test_example_runs():
    proc = subprocess.run([sys.executable, "-c", _example()], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    accuracy = re.search(r"accuracy (\d+\.\d)%, (\S+) SynOps per sample", proc.stdout)
    assert accuracy, proc.stdout
    assert float(accuracy.group(1)) >= 80.0  # the trained demo model; chance is 10 %
    assert float(accuracy.group(2)) > 0
    assert "Target speck2f (layer-per-core): fits" in proc.stdout


def test_graph_example_imports_the_residual_block():
    """The torch graph example of "Residual and branching networks": the skip becomes a second destination."""
    proc = subprocess.run(
        [sys.executable, "-c", _example("graph-example")], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[('stem', ['body', 'head']), ('body', ['head']), ('head', ['fc']), ('fc', [])]"
