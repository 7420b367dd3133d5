"""Wall time of ``qsnn-deploy estimate`` for a 9-layer model read from its NIR file (no activity simulated).

Target (issue 3): < 2 s wall on 2 CPU cores for one target, and torch is never imported on this path.
The same model against all six packaged profiles side by side is measured too (reported, no target).

The model fills speck2f's nine cores exactly (the mapping has to move layers to fit): a zoo-style
declaration built with seeded weights, written once as a float NIR graph (``estimate`` discretises
it as ``convert`` would) and once as a chip-ready bundle graph. Each command runs as a fresh
process, as a user runs it, so interpreter start-up and imports are included.

    .venv/bin/python benchmarks/estimate_time.py [--repeats 7] [--out benchmarks/results/estimate_time.json]
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

TARGET_S = 2.0
NINE_LAYERS = {
    "name": "nine_layers",
    "input_shape": [2, 128, 128],
    "n_classes": 10,
    "layers": [
        {"type": "conv", "name": "conv1", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "conv", "name": "conv2", "out_channels": 16, "kernel_size": 3, "padding": 1, "pool": 2},
        {"type": "conv", "name": "conv3", "out_channels": 32, "kernel_size": 3, "padding": 1, "pool": 2},
        {"type": "conv", "name": "conv4", "out_channels": 32, "kernel_size": 3, "padding": 1},
        {"type": "conv", "name": "conv5", "out_channels": 64, "kernel_size": 3, "padding": 1, "pool": 2},
        {"type": "conv", "name": "conv6", "out_channels": 64, "kernel_size": 3, "padding": 1},
        {"type": "conv", "name": "conv7", "out_channels": 64, "kernel_size": 3, "padding": 1, "pool": 2},
        {"type": "conv", "name": "conv8", "out_channels": 128, "kernel_size": 1},
        {"type": "linear", "name": "fc", "out_features": 10},
    ],
}
TORCH_CHECK = """
import sys
from qsnn_deploy.cli.main import cli
try:
    cli.main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(f"\\nTORCH_IMPORTED={'torch' in sys.modules} EXIT={code}", file=sys.stderr)
"""


def build_models(folder: Path) -> dict[str, Path]:
    """The 9-layer model as a float NIR graph and as a chip-ready (discretised) NIR graph."""
    import torch

    from qsnn_deploy.convert.nir_io import write_nir
    from qsnn_deploy.nets.network import SpikingCNN
    from qsnn_deploy.nets.zoo import spec_from_dict
    from qsnn_deploy.quant.chip import discretize_network

    torch.manual_seed(0)
    net = SpikingCNN(spec_from_dict(NINE_LAYERS)).to_network(1000.0, {"duration_us": 100_000.0})
    return {
        "float": write_nir(net, folder / "float.nir"),
        "chip-ready": write_nir(discretize_network(net), folder / "chip.nir"),
    }


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "qsnn_deploy.cli.main", *args]


def time_command(cmd: list[str], repeats: int) -> dict:
    walls = []
    for _ in range(repeats):
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - t)
        if proc.returncode not in (0, 4):  # 4: some target does not fit (the report is printed)
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return {
        "wall_s": [round(w, 3) for w in walls],
        "median_s": round(statistics.median(walls), 3),
        "min_s": round(min(walls), 3),
        "max_s": round(max(walls), 3),
        "exit_code": proc.returncode,
        "stdout": proc.stdout,
    }


def torch_imported(args: list[str]) -> bool:
    proc = subprocess.run([sys.executable, "-c", TORCH_CHECK, *args], capture_output=True, text=True, check=False)
    line = [x for x in proc.stderr.splitlines() if x.startswith("TORCH_IMPORTED=")][-1]
    return line.split()[0].split("=")[1] == "True"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "estimate_time.json")
    opts = ap.parse_args()
    cases = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        models = build_models(Path(tmp))
        for kind, path in models.items():
            for targets in ("speck2f", "speck2f,speck2e,dynapcnn,loihi,loihi2,generic-45nm"):
                args = ["estimate", str(path), "--samples", "0", "--format", "json", "--target", targets]
                res = time_command(cli_command(*args), opts.repeats)
                report = json.loads(res.pop("stdout"))
                first = report[0] if isinstance(report, list) else report
                fits = {e["target"]: e["fits"] for e in (report if isinstance(report, list) else [report])}
                cases.append(
                    {
                        "model": kind,
                        "targets": targets,
                        "layers": len(first["layers"]),
                        "fits": fits,
                        "torch_imported": torch_imported(args),
                        **res,
                    }
                )
    ok = all(not c["torch_imported"] and (c["median_s"] < TARGET_S or "," in c["targets"]) for c in cases)
    result = {
        "benchmark": "qsnn-deploy estimate MODEL.nir --samples 0 --format json (fresh process each run)",
        "target": f"one target: median wall < {TARGET_S} s on 2 CPU cores; torch never imported",
        "passed": ok,
        "cases": cases,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "date": time.strftime("%Y-%m-%d"),
    }
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(result, indent=2) + "\n")
    for c in cases:
        print(
            f"{c['model']:10s} targets={c['targets']:52s} median {c['median_s']:.2f} s (min {c['min_s']:.2f}, "
            f"max {c['max_s']:.2f}); torch imported: {c['torch_imported']}; fits: {c['fits']}"
        )
    print(f"{'PASS' if ok else 'FAIL'}: target {result['target']}; written to {opts.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
