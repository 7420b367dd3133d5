"""A chain :class:`~qsnn_deploy.ir.Network` as sinabs layers (Conv2d → IAFSqueeze → SumPool2d per core).

Only ``sinabs.layers`` is used (never ``sinabs.backend.dynapcnn``, which imports samna).
"""

from __future__ import annotations

from ..ir import ChipLayer


def sinabs_sequential(layers: tuple[ChipLayer, ...] | list[ChipLayer], batch_size: int = 1):
    """``torch.nn.Sequential`` with the layers' parameters as they are (integers stay integers):
    multi-spike IAF neurons with the layer's reset, threshold and lower bound, square sum pooling."""
    import sinabs.layers as sl
    import torch
    from sinabs.activation import MembraneReset, MembraneSubtract, MultiSpike

    mods: list[torch.nn.Module] = []
    for layer in layers:
        conv = torch.nn.Conv2d(
            layer.c_in,
            layer.c_out,
            layer.kernel_size[0],
            stride=layer.stride,
            padding=layer.padding,
            bias=layer.bias is not None,
        )
        with torch.no_grad():
            conv.weight.copy_(torch.as_tensor(layer.weight, dtype=torch.float32))
            if conv.bias is not None and layer.bias is not None:  # one has a bias when the other has
                conv.bias.copy_(torch.as_tensor(layer.bias, dtype=torch.float32))
        reset = MembraneReset() if layer.reset == "zero" else MembraneSubtract()
        mods += [
            conv,
            sl.IAFSqueeze(
                batch_size=batch_size,
                spike_threshold=float(layer.threshold),
                spike_fn=MultiSpike,
                reset_fn=reset,
                min_v_mem=float(layer.lower_bound),
            ),
        ]
        if layer.pool > 1:
            mods.append(sl.SumPool2d(layer.pool))
    return torch.nn.Sequential(*mods)
