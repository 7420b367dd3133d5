"""Wall time of the commands that must answer at once: ``qsnn-deploy --help`` and a chip target refused
because only PyPI's samna placeholder (or no samna) is installed (exit 5).

Target (moved here from tests/cli/test_cli_errors.py and tests/deploy/test_no_placeholder_import.py, which
now check what these commands import instead of timing them): median < 2 s wall on 2 CPU cores, interpreter
start-up included, and torch never imported. Each run is a fresh process, as a user runs it.

    .venv/bin/python benchmarks/startup_time.py [--repeats 7] [--out benchmarks/results/startup_time.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from estimate_time import TORCH_CHECK  # the same probe (benchmarks/ is on sys.path when run as a script)

TARGET_S = 2.0
PROBE = TORCH_CHECK  # runs the CLI in-process and reports whether torch was imported


def _model(folder: Path) -> Path:
    """A small chip-ready model file (the deploy command refuses before reading it)."""
    import numpy as np

    from qsnn_deploy.convert.nir_io import write_nir
    from qsnn_deploy.ir import ChipLayer, Network
    from qsnn_deploy.quant.chip import discretize_network

    rng = np.random.default_rng(0)
    layer = ChipLayer("c1", rng.normal(0, 0.5, (4, 2, 3, 3)), (2, 16, 16), padding=1)
    return write_nir(discretize_network(Network((layer,), (2, 16, 16))), folder / "model.nir")


def _time(args: list[str], repeats: int) -> dict:
    walls, torch_seen, codes = [], set(), set()
    for _ in range(repeats):
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        tail = done.stderr.strip().splitlines()[-1]
        torch_seen.add("TORCH_IMPORTED=True" in tail)
        codes.add(tail.split("EXIT=")[-1])
    return {
        "args": args,
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "torch_imported": any(torch_seen),
        "exit_codes": sorted(codes),
        "passed": statistics.median(walls) < TARGET_S and not any(torch_seen),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "startup_time.json")
    a = ap.parse_args()
    from qsnn_deploy.deploy.targets import samna_status

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        model = _model(Path(tmp))
        cases = {
            "--help": _time(["--help"], a.repeats),
            "deploy MODEL --target speck2f": _time(["deploy", str(model), "--target", "speck2f"], a.repeats),
        }
    doc = {
        "target_s": TARGET_S,
        "repeats": a.repeats,
        "samna": samna_status(),
        "cases": cases,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_1min_before": round(load_before, 1),
            "load_1min_after": round(os.getloadavg()[0], 1),
        },
        "date": time.strftime("%Y-%m-%d"),
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    lines = [
        "# Start-up time (benchmarks/startup_time.py)",
        "",
        "Commands that must answer at once, each a fresh process (interpreter start-up included), "
        f"{a.repeats} runs per case; samna here: {doc['samna']}.",
        "",
        f"Machine: {doc['machine']['cpus']} CPUs (shared; 1-minute load average {doc['machine']['load_1min_before']} "
        f"before, {doc['machine']['load_1min_after']} after), Python {doc['machine']['python']}, {doc['date']}. "
        f"Target: median < {TARGET_S:g} s and torch never imported.",
        "",
        "| command | median | min | max | exit | torch imported | target met |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, c in cases.items():
        lines.append(
            f"| `qsnn-deploy {name}` | {c['median_s']:.2f} s | {c['min_s']:.2f} s | {c['max_s']:.2f} s | "
            f"{', '.join(c['exit_codes'])} | {'yes' if c['torch_imported'] else 'no'} | "
            f"{'yes' if c['passed'] else 'no'} |"
        )
    lines += ["", "Raw numbers: `startup_time.json`."]
    a.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
