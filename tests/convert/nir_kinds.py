"""One NIR file of every kind qsnn-deploy writes, for the reader-compatibility tests.

Kinds: convolutions with sum pooling and bias ending in a conv (float and chip-ready), a linear head
with and without bias, two linear layers in a row, a linear layer on the input, a linear layer before a
conv (written as the conv over its whole input that Speck runs), a sinabs module with
average pooling imported through ``from_torch``, the demo model (the zoo's default model, the committed
reference checkpoint ``models/digits_speck.pt``, through ``convert`` into a bundle), and files of other
tools and of older versions of ours, read and written back. Weights come from fixed seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qsnn_deploy.convert.nir_import import ImportOptions
from qsnn_deploy.convert.nir_io import read_nir, write_nir
from qsnn_deploy.ir import ChipLayer, Network
from qsnn_deploy.quant.chip import discretize_network

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "nir"
DEMO_CHECKPOINT = ROOT / "models" / "digits_speck.pt"
OLD_LAYOUT = FIXTURES / "qsnn_deploy_0.1.0_flatten_start_dim1.nir"  # Flatten start_dim=1 (before the fix)
FOREIGN = {
    "nir_1.0.0": (FIXTURES / "nir_1.0.0_if_chain.nir", ImportOptions()),
    "snntorch": (FIXTURES / "snntorch_1.0.0_nir_1.0.8.nir", ImportOptions(approximate_leak=True)),
    "old_layout": (OLD_LAYOUT, ImportOptions()),
}


def _w(rng, *shape, mean=0.15):
    return rng.normal(mean, 0.5, shape)


def networks() -> dict[str, Network]:
    """Float networks of every layer combination we write (chip-ready ones are discretised from these)."""
    rng = np.random.default_rng(3)
    c1 = ChipLayer("c1", _w(rng, 4, 2, 3, 3), (2, 12, 12), bias=_w(rng, 4, mean=0.05), padding=1, pool=2)
    c2 = ChipLayer("c2", _w(rng, 6, 4, 3, 3), c1.output_shape, bias=_w(rng, 6, mean=0.05), padding=1, pool=2)
    c3 = ChipLayer("c3", _w(rng, 5, 6, 3, 3), c2.output_shape)
    s1 = ChipLayer("s1", _w(rng, 4, 2, 3, 3), (2, 12, 12), stride=2, padding=1)
    s2 = ChipLayer("s2", _w(rng, 6, 4, 3, 3), s1.output_shape, padding=1, pool=2)
    head = ChipLayer("fc", _w(rng, 5, 6, 3, 3), s2.output_shape, kind="linear")
    head_b = ChipLayer("fc", _w(rng, 5, 6, 3, 3), s2.output_shape, bias=_w(rng, 5, mean=0.05), kind="linear")
    fc1 = ChipLayer("fc1", _w(rng, 7, 6, 3, 3), s2.output_shape, bias=_w(rng, 7, mean=0.05), kind="linear")
    fc2 = ChipLayer("fc2", _w(rng, 3, 7, 1, 1), fc1.output_shape, kind="linear", threshold=0.5)
    l1 = ChipLayer("l1", _w(rng, 8, 2, 4, 4), (2, 4, 4), bias=_w(rng, 8, mean=0.05), kind="linear")
    l2 = ChipLayer("l2", _w(rng, 3, 8, 1, 1), l1.output_shape, kind="linear")
    lc = ChipLayer("lc", _w(rng, 3, 8, 1, 1), l1.output_shape, padding=0)
    return {
        "conv_pool_bias": Network((c1, c2, c3), (2, 12, 12)),
        "linear_head": Network((s1, s2, head), (2, 12, 12)),
        "linear_head_bias": Network((s1, s2, head_b), (2, 12, 12)),
        "two_linear": Network((s1, s2, fc1, fc2), (2, 12, 12), dt_us=500.0),
        "linear_first": Network((l1, l2), (2, 4, 4)),
        "linear_before_conv": Network((l1, lc), (2, 4, 4)),
    }


def _from_torch() -> Network:
    import sinabs.layers as sl
    import torch
    from torch import nn

    from qsnn_deploy.convert.from_torch import network_from_module

    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=True),
        sl.IAFSqueeze(batch_size=1, min_v_mem=-1.0),
        nn.AvgPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1, bias=False),
        sl.IAFSqueeze(batch_size=1, min_v_mem=-1.0),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 5),
        sl.IAFSqueeze(batch_size=1, min_v_mem=-1.0),
    )
    for m in model:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.1, 0.6)
    return network_from_module(model, (2, 8, 8))


def write_all(folder: Path) -> dict[str, Path]:
    """Write one file of each kind into ``folder``; name → path. ``*_float`` are not discretised."""
    from qsnn_deploy.convert.bundle import convert_model

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name, net in networks().items():
        files[name] = write_nir(discretize_network(net), folder / f"{name}.nir")
    files["conv_pool_bias_float"] = write_nir(networks()["conv_pool_bias"], folder / "conv_pool_bias_float.nir")
    files["linear_head_float"] = write_nir(networks()["linear_head"], folder / "linear_head_float.nir")
    files["from_torch"] = write_nir(discretize_network(_from_torch()), folder / "from_torch.nir")
    files["demo"] = convert_model(DEMO_CHECKPOINT, "speck2f", folder / "demo_bundle").out / "model.nir"
    for name, (path, options) in FOREIGN.items():
        files[f"reread_{name}"] = write_nir(read_nir(path, options), folder / f"reread_{name}.nir")
    return files


def round_trips(files: dict[str, Path], folder: Path) -> dict[str, Path]:
    """Each file read with our reader and written back: name → path of the copy."""
    folder.mkdir(parents=True, exist_ok=True)
    return {name: write_nir(read_nir(path), folder / f"{name}.nir") for name, path in files.items()}
