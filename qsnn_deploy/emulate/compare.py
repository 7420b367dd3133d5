"""Where do float, binned and event mode part ways? Per-layer spike counts on the same input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..ir import Network
from ..outputs import atomic_path
from ..progress import ProgressMode
from .samples import Samples

MODES = ("float", "binned", "event")


@dataclass
class Comparison:
    """Per mode: output counts (N, outputs) and layer spikes (N, L): one column per layer, chain or graph."""

    layer_names: list[str]
    outputs: dict[str, np.ndarray]
    layer_spikes: dict[str, np.ndarray]

    def first_divergence(self, a: str, b: str) -> str | None:
        """The first layer, in feed-forward order (a graph's layers are listed sources first), whose spike
        counts differ between modes ``a`` and ``b`` in any sample."""
        diff = np.any(self.layer_spikes[a] != self.layer_spikes[b], axis=0)
        return self.layer_names[int(np.argmax(diff))] if diff.any() else None

    def to_dict(self, labels: np.ndarray | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"layers": self.layer_names, "modes": list(self.outputs)}
        doc["mean_layer_spikes"] = {m: [float(v) for v in s.mean(0)] for m, s in self.layer_spikes.items()}
        doc["prediction_agreement"] = {
            f"{a}/{b}": float((self.outputs[a].argmax(1) == self.outputs[b].argmax(1)).mean())
            for i, a in enumerate(self.outputs)
            for b in list(self.outputs)[i + 1 :]
        }
        doc["first_divergent_layer"] = {
            f"{a}/{b}": self.first_divergence(a, b)
            for i, a in enumerate(self.outputs)
            for b in list(self.outputs)[i + 1 :]
        }
        if labels is not None:
            doc["accuracy"] = {m: float((o.argmax(1) == labels).mean()) for m, o in self.outputs.items()}
        return doc


def float_reference(net: Network) -> Network:
    """The float model: the network itself if it is float, else its integers divided by their scales."""
    if not net.quantized:
        return net
    layers = []
    for layer in net.layers:
        s = layer.scale
        assert s is not None  # net.quantized: every layer has its scale
        layers.append(
            layer.replace(
                weight=layer.weight / s,
                bias=None if layer.bias is None else layer.bias / s,
                threshold=layer.threshold / s,
                min_v_mem=layer.lower_bound / s,
                scale=None,
            )
        )
    return Network(tuple(layers), net.input_shape, net.dt_us, net.metadata)


def compare_modes(
    net: Network,
    inputs: Samples,
    slow_clock_us: float | None = None,
    progress: ProgressMode = False,
    workers: int | None = None,
) -> Comparison:
    """Run float, binned and event mode on the same ``inputs`` (:class:`~.samples.Samples`); ``workers``:
    threads of the compiled modes (None: every core)."""
    from .binned import ensure_quantized, run_binned
    from .event_mode import run_event_mode

    qnet = ensure_quantized(net)
    flt = run_binned(float_reference(net), inputs.raster, integer=False)
    binned = run_binned(qnet, inputs.raster, workers=workers)
    event = run_event_mode(qnet, inputs, progress, slow_clock_us, workers=workers)
    return Comparison(
        [layer.name for layer in qnet.layers],
        {"float": flt.output_counts, "binned": binned.output_counts, "event": event["output_counts"]},
        {"float": flt.layer_spikes, "binned": binned.layer_spikes, "event": event["layer_spikes"]},
    )


def plot_comparison(cmp: Comparison, path: str | Path) -> Path:
    """Grouped bars: mean spikes per layer in each mode, and each mode's deviation from float."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, modes = cmp.layer_names, list(cmp.layer_spikes)
    x = np.arange(len(names))
    width = 0.8 / len(modes)
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ref = cmp.layer_spikes["float"].mean(0)
    for i, m in enumerate(modes):
        mean = cmp.layer_spikes[m].mean(0)
        ax[0].bar(x + (i - (len(modes) - 1) / 2) * width, mean, width, label=m)
        if m != "float":
            ax[1].plot(names, 100 * (mean - ref) / np.maximum(ref, 1e-9), marker="o", label=f"{m} vs float")
    ax[0].set_xticks(x, names)
    ax[0].set(ylabel="spikes per sample", title="spikes per layer")
    ax[0].legend()
    ax[1].axhline(0, color="grey", lw=1)
    ax[1].set(ylabel="difference (%)", title="deviation from the float model")
    ax[1].legend()
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path
