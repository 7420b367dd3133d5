"""Small builders shared by the tests (synthetic layers and networks, no dataset)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from qsnn_deploy.ir import ChipLayer, Network


def random_network(seed: int = 0, quantized: bool = False, bias: bool = False) -> Network:
    """conv(2→4, k3, s2, p1) on 2×12×12 → conv(4→6, k3, p1, pool 2) → linear(6·3·3 → 5)."""
    rng = np.random.default_rng(seed)
    l1 = ChipLayer(
        "c1",
        rng.normal(0, 0.5, (4, 2, 3, 3)),
        (2, 12, 12),
        stride=2,
        padding=1,
        bias=rng.normal(0, 0.05, 4) if bias else None,
    )
    l2 = ChipLayer(
        "c2",
        rng.normal(0, 0.4, (6, 4, 3, 3)),
        l1.output_shape,
        padding=1,
        pool=2,
        bias=rng.normal(0, 0.05, 6) if bias else None,
    )
    l3 = ChipLayer("fc", rng.normal(0, 0.3, (5, 6, 3, 3)), l2.output_shape, kind="linear")
    net = Network((l1, l2, l3), (2, 12, 12), dt_us=1000.0)
    if quantized:
        from qsnn_deploy.quant.chip import discretize_network

        net = discretize_network(net)
    return net


def random_raster(n: int, t: int, shape, rate: float = 0.15, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ((rng.random((n, t, *shape)) < rate) * rng.integers(1, 3, (n, t, *shape))).astype(np.float32)


def run_cli(*args, check=True, timeout=600):
    """Run ``qsnn-deploy`` as a real subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "qsnn_deploy.cli.main", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


# The smallest model spec (spec_from_dict) the training, neuron and metadata tests build on: conv 2→4 on 8x8,
# sum-pool 2, linear to 3 classes.
TINY = {
    "name": "tiny",
    "input_shape": [2, 8, 8],
    "n_classes": 3,
    "layers": [
        {"type": "conv", "name": "c1", "out_channels": 4, "kernel_size": 3, "padding": 1, "pool": 2},
        {"type": "linear", "name": "fc", "out_features": 3},
    ],
}


def checkpoint_predictions(run, limit: int | None = None, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """A run's QAT checkpoint through torch, not the CLI: its predictions (argmax of the output spike counts,
    numpy's first-maximum rule as the emulator's) and the labels, on the first ``limit`` samples of the
    built-in dataset's ``split`` framed with the run's time bins."""
    import torch

    from qsnn_deploy.nets.checkpoint import load_checkpoint
    from qsnn_deploy.nets.framed import framed_split

    model, payload = load_checkpoint(Path(run) / "checkpoint.pt")
    data = framed_split(str(payload["dataset"]), split, int(payload["time_bins"]), progress=False, limit=limit)
    model.eval()
    with torch.no_grad():
        counts = model(data.frames).sum(1).numpy()
    return counts.argmax(1), data.labels.numpy()


def hold_validation_split(monkeypatch, held: dict) -> None:
    """Make BPTT runs put the validation split they carve into ``held["val"]`` (for a scripted ``evaluate`` that
    must tell validation evaluations from test ones)."""
    import qsnn_deploy.train.bptt as bptt

    split = bptt.split_validation

    def split_and_remember(data, fraction, seed):
        tr, val = split(data, fraction, seed)
        held["val"] = val
        return tr, val

    monkeypatch.setattr(bptt, "split_validation", split_and_remember)


class FakeClock:
    """A clock for code that takes ``clock`` and ``sleep``: it moves ``step`` seconds each time it is read,
    and ``sleep`` moves it (and records the wait) instead of waiting."""

    def __init__(self, step: float = 0.0, start: float = 0.0):
        self.now, self.step, self.slept = start, step, []

    def __call__(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(round(s, 9))
        self.now += s


class FakeTime:
    """What a module sees of ``time`` (``monkeypatch.setattr(module, "time", FakeTime(...))``): a
    :class:`FakeClock` as ``monotonic`` and its ``sleep``; nothing waits."""

    def __init__(self, step: float = 0.0):
        self.clock = FakeClock(step)

    def monotonic(self) -> float:
        return self.clock()

    def sleep(self, s: float) -> None:
        self.clock.sleep(s)
