"""The README's example outputs, produced from the committed reference checkpoint by one script.

Each example runs real ``qsnn-deploy`` commands (as a user types them) in a scratch folder that holds
``models/digits_speck.pt``, writes the output to ``docs/examples/NAME.txt`` and, with
``--update-readme``, replaces the README's fenced block between ``<!-- example: NAME -->`` and
``<!-- /example -->`` with that output (or the part of it the README shows).

    python docs/examples.py --update-readme               # every example (the demo trains: ~1-2 min)
    python docs/examples.py estimate compare --update-readme
    python docs/examples.py --check estimate              # run and compare with the committed file
    python docs/examples.py --readme-only                 # README blocks from the committed files

Plots the commands write (``docs/*.png``) are copied into ``docs/``. Timings in the outputs vary
between runs; :func:`compare_outputs` compares shape and numbers, skipping the lines named volatile.
"""

from __future__ import annotations

import argparse
import difflib
import math
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "docs" / "examples"
README = ROOT / "README.md"
REFERENCE = "models/digits_speck.pt"
REGENERATE = "python docs/examples.py --update-readme"

WIDE_YAML = """\
# wide.yaml
name: digits_wide
input_shape: [2, 34, 34]
n_classes: 10
layers:
  - {type: conv, name: conv1, out_channels: 32, kernel_size: 3, padding: 1}
  - {type: conv, name: conv2, out_channels: 64, kernel_size: 3, padding: 1, pool: 2}
  - {type: conv, name: conv3, out_channels: 64, kernel_size: 3, padding: 1, pool: 2}
  - {type: linear, name: fc, out_features: 10}
"""


DIGITS_STATS = """\
import numpy as np
from qsnn_deploy.data.digits_dvs import load_digits_dvs
for split in ("train", "test"):
    d = load_digits_dvs(split, progress=False)
    n = np.array([len(e) for e in d.events])
    print(f"digits-dvs {split}: {len(d)} samples, {d.n_classes} classes, sensor {d.sensor_size}, "
          f"{d.duration_us / 1000:.0f} ms; events per sample: mean {n.mean():.0f}, min {n.min()}, max {n.max()}")
"""


def _whole(text: str) -> str:
    return text


def _until(prefix: str) -> Callable[[str], str]:
    """The lines before the first line that starts with ``prefix`` (trailing blank lines dropped)."""

    def excerpt(text: str) -> str:
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(prefix):
                return "\n".join(lines[:i]).rstrip() + "\n"
        raise ValueError(
            f"no line starting with {prefix!r} in the output: the report's layout changed; "
            "update the example's excerpt in docs/examples.py"
        )

    return excerpt


@dataclass(frozen=True)
class Example:
    """Commands run in order in a scratch folder; the last one's stdout is the example's output."""

    name: str
    commands: tuple[tuple[str, ...], ...]
    exit_code: int = 0  # expected exit code of the last command
    excerpt: Callable[[str], str] = _whole  # the part of the output the README shows
    prompt: bool = False  # the README block starts with "$ <last command>"
    files: dict[str, str] = field(default_factory=dict)  # written into the scratch folder first
    plots: tuple[str, ...] = ()  # files the commands write, copied into the repository
    rel_tol: float = 0.0  # numbers may differ by this much between runs
    volatile: tuple[str, ...] = ()  # regexes of lines whose numbers are not compared (times)
    slow: bool = False  # takes a minute or more (trains)

    def shown_command(self) -> str:
        args = self.commands[-1]
        return " ".join(args) if args[0] == "python" else "qsnn-deploy " + " ".join(args)


EXAMPLES: dict[str, Example] = {
    e.name: e
    for e in (
        Example("demo", (("pipeline", "--out", "runs/demo"),), rel_tol=0.03, volatile=(r"^\s*time\s",), slow=True),
        Example(
            "estimate",
            (
                (
                    "estimate",
                    REFERENCE,
                    "--target",
                    "speck2f,loihi,generic-45nm",
                    "--samples",
                    "359",
                    "--plot",
                    "docs/estimate_digits_speck.png",
                ),
            ),
            excerpt=_until("Figures used"),
            plots=("docs/estimate_digits_speck.png",),
        ),
        Example(
            "compare",
            (("deploy", REFERENCE, "--compare", "--plot", "docs/compare_modes.png"),),
            prompt=True,
            plots=("docs/compare_modes.png",),
            rel_tol=0.01,
        ),
        Example("digits_dvs", (("python", "-c", DIGITS_STATS),)),
        Example(
            "wide",
            (
                ("train", "--model", "wide.yaml", "--epochs", "1", "--limit", "64", "--out", "runs/wide"),
                ("estimate", "runs/wide/checkpoint.pt", "--samples", "0"),
            ),
            exit_code=4,
            excerpt=_until("Figures used"),
            files={"wide.yaml": WIDE_YAML},
            slow=True,
        ),
    )
}


def _cli(args: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess:
    """``qsnn-deploy ARGS``, or ``python ARGS`` when the first word is "python"."""
    cmd = [sys.executable, *args[1:]] if args[0] == "python" else [sys.executable, "-m", "qsnn_deploy.cli.main", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)


def run_example(example: Example, scratch: Path) -> str:
    """Run ``example`` in ``scratch`` (which gets a copy of the reference checkpoint); its stdout."""
    (scratch / "models").mkdir(parents=True, exist_ok=True)
    (scratch / "docs").mkdir(exist_ok=True)
    shutil.copy(ROOT / REFERENCE, scratch / REFERENCE)
    for name, text in example.files.items():
        (scratch / name).write_text(text)
    for i, args in enumerate(example.commands):
        proc = _cli(args, scratch)
        want = example.exit_code if i == len(example.commands) - 1 else 0
        if proc.returncode != want:
            raise RuntimeError(
                f"example {example.name}: `qsnn-deploy {' '.join(args)}` exited {proc.returncode}, "
                f"expected {want}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
            )
    return proc.stdout


def example_path(name: str) -> Path:
    return EXAMPLES_DIR / f"{name}.txt"


def readme_block(example: Example, output: str) -> str:
    """The fenced block the README shows for ``output``."""
    body = example.excerpt(output).rstrip("\n")
    if example.prompt:
        body = f"$ {example.shown_command()}\n{body}"
    return f"```\n{body}\n```"


def _marker_re(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- example: {re.escape(name)} -->\n)(.*?)(\n<!-- /example -->)", re.S)


def readme_blocks(text: str) -> dict[str, str]:
    """The README's example blocks by name (what is between the markers)."""
    return {
        m.group(1): m.group(2) for m in re.finditer(r"<!-- example: (\S+) -->\n(.*?)\n<!-- /example -->", text, re.S)
    }


def update_readme(text: str, name: str, block: str) -> str:
    """``text`` with example ``name``'s block replaced; the markers must be there exactly once."""
    pattern = _marker_re(name)
    if len(pattern.findall(text)) != 1:
        raise ValueError(f"README.md needs exactly one '<!-- example: {name} -->' ... '<!-- /example -->' pair")
    return pattern.sub(lambda m: m.group(1) + block + m.group(3), text)


_NUMBER = re.compile(r"[-+−]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")


def _tokens(line: str) -> tuple[list[str], list[float]]:
    words = [" ".join(part.split()) for part in _NUMBER.split(line)]
    numbers = [float(n.replace(",", "").replace("−", "-")) for n in _NUMBER.findall(line)]
    return words, numbers


def compare_outputs(expected: str, actual: str, rel_tol: float = 0.0, volatile: tuple[str, ...] = ()) -> list[str]:
    """Differences between two outputs of one example: the same lines with the same words, and numbers
    equal within ``rel_tol`` (not compared on lines matching a ``volatile`` regex). Empty when they agree."""
    exp, act = expected.rstrip("\n").splitlines(), actual.rstrip("\n").splitlines()
    if len(exp) != len(act):
        diff = difflib.unified_diff(exp, act, "committed", "now", n=0, lineterm="")
        return [f"{len(act)} lines instead of {len(exp)}:", *list(diff)[2:12]]
    problems = []
    for i, (e, a) in enumerate(zip(exp, act), 1):
        (ew, en), (aw, an) = _tokens(e), _tokens(a)
        if ew != aw or len(en) != len(an):
            problems.append(f"line {i}: {a.strip()!r} instead of {e.strip()!r}")
        elif not any(re.search(v, e) for v in volatile):
            bad = [(x, y) for x, y in zip(en, an) if not math.isclose(x, y, rel_tol=rel_tol, abs_tol=1e-12)]
            if bad:
                problems.append(f"line {i}: {a.strip()!r} instead of {e.strip()!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help=f"examples to run (default: all of {', '.join(EXAMPLES)})")
    ap.add_argument("--update-readme", action="store_true", help="also replace the README's example blocks")
    ap.add_argument("--readme-only", action="store_true", help="README blocks from the committed files; run nothing")
    ap.add_argument("--check", action="store_true", help="run and compare with the committed files; write nothing")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in EXAMPLES]
    if unknown:
        ap.error(f"unknown example(s) {', '.join(unknown)}; known: {', '.join(EXAMPLES)}")
    names = args.names or list(EXAMPLES)
    failed = False
    outputs = {}
    for name in names:
        example = EXAMPLES[name]
        if args.readme_only:
            outputs[name] = example_path(name).read_text()
            continue
        print(f"running example {name}: {example.shown_command()}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix=f"qsnn-example-{name}-") as tmp:
            output = run_example(example, Path(tmp))
            if args.check:
                problems = compare_outputs(example_path(name).read_text(), output, example.rel_tol, example.volatile)
                for p in problems:
                    print(f"{name}: {p}", file=sys.stderr)
                failed |= bool(problems)
                continue
            for plot in example.plots:
                shutil.copy(Path(tmp) / plot, ROOT / plot)
        EXAMPLES_DIR.mkdir(exist_ok=True)
        example_path(name).write_text(output)
        outputs[name] = output
    if args.update_readme or args.readme_only:
        text = README.read_text()
        for name, output in outputs.items():
            text = update_readme(text, name, readme_block(EXAMPLES[name], output))
        README.write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
