"""ONNX export of the frame-based network, for inspection in standard tools (Netron, onnxruntime).

One ONNX inference is **one time bin** of ``dt_us``: inputs ``events`` (N, C, H, W) — the event counts
of that bin — and ``v_<layer>`` (the membrane state of each layer, zeros at the start of a sample);
outputs ``spikes`` (N, n_outputs) and ``v_<layer>_next``, to be fed back as the next bin's states.
Running T bins this way gives exactly the outputs of :class:`~.torch_model.FramedNetwork` and of the
emulator on a (T, C, H, W) raster, for chains and graph networks alike (each edge sum-pooled by its own
pooling, a merge an ``Add``). The graph holds each layer once, whatever T is. The exported
parameters are those of the network given: chip integers (as float32) for a discretised one.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..ir import Network

OPSET = 17


def state_names(net: Network) -> list[str]:
    return [f"v_{layer.name}".replace(".", "_") for layer in net.layers]


def export_onnx(net: Network, path: str | Path) -> Path:
    """Write ``path`` and check it with ``onnx.checker``; the batch size is a dynamic axis."""
    import onnx
    import torch

    from .torch_model import StepModule

    path = Path(path)
    step = StepModule(net).eval()
    states = step.initial_states(1)
    names = state_names(net)
    inputs = ["events", *names]
    outputs = ["spikes", *[f"{n}_next" for n in names]]
    dynamic = {name: {0: "batch"} for name in inputs + outputs}
    x = torch.zeros(1, *net.input_shape)
    with torch.no_grad():
        torch.onnx.export(
            step,
            (x, *states),
            str(path),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    model = onnx.load(str(path))
    model.doc_string = (
        f"qsnn-deploy network, one inference = one time bin of {net.dt_us:g} us; feed the "
        "v_*_next outputs back as the v_* inputs of the next bin (zeros at the start)"
    )
    meta = model.metadata_props.add()
    meta.key, meta.value = "dt_us", f"{net.dt_us:g}"
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:  # pragma: no cover - would be a bug in the exporter
        raise InputError(f"the exported ONNX model does not pass onnx.checker: {exc}") from None
    onnx.save(model, str(path))
    return path
