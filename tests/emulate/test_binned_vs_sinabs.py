"""Binned mode gives exactly the spikes of sinabs' ``DynapcnnNetwork(..., discretize=True)`` forward."""

import numpy as np
import pytest
import torch
from helpers import random_raster

from qsnn_deploy.emulate.binned import run_binned
from qsnn_deploy.ir import ChipLayer, Network


def _build(seed: int, bias: bool):
    """A random torch/sinabs net and the same float network in our IR."""
    import sinabs.layers as sl

    g = torch.Generator().manual_seed(seed)
    c1 = torch.nn.Conv2d(2, 8, 3, stride=2, padding=1, bias=bias)
    c2 = torch.nn.Conv2d(8, 12, 3, padding=1, bias=bias)
    fc = torch.nn.Linear(12 * 4 * 4, 6, bias=False)
    for m in (c1, c2, fc):
        m.weight.data = torch.randn(m.weight.shape, generator=g) * 0.4
        if m.bias is not None:
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.05
    thr = [1.0, 1.5, 2.0]
    iaf = [sl.IAFSqueeze(batch_size=1, spike_threshold=t, min_v_mem=-t) for t in thr]
    snn = torch.nn.Sequential(c1, iaf[0], c2, iaf[1], sl.SumPool2d(2), torch.nn.Flatten(), fc, iaf[2])
    np_ = lambda t: t.detach().double().numpy()  # noqa: E731
    l1 = ChipLayer(
        "c1",
        np_(c1.weight),
        (2, 16, 16),
        bias=np_(c1.bias) if bias else None,
        stride=2,
        padding=1,
        threshold=thr[0],
        min_v_mem=-thr[0],
    )
    l2 = ChipLayer(
        "c2",
        np_(c2.weight),
        l1.output_shape,
        bias=np_(c2.bias) if bias else None,
        padding=1,
        pool=2,
        threshold=thr[1],
        min_v_mem=-thr[1],
    )
    l3 = ChipLayer(
        "fc", np_(fc.weight).reshape(6, 12, 4, 4), l2.output_shape, kind="linear", threshold=thr[2], min_v_mem=-thr[2]
    )
    return snn, Network((l1, l2, l3), (2, 16, 16))


@pytest.mark.parametrize("seed, bias", [(0, False), (1, True), (2, False), (3, True)])
def test_binned_equals_dynapcnn_network(sinabs_dynapcnn, seed, bias):
    snn, net = _build(seed, bias)
    dyn = sinabs_dynapcnn.DynapcnnNetwork(snn, input_shape=(2, 16, 16), discretize=True)
    x = random_raster(1, 20, (2, 16, 16), rate=0.25, seed=seed)
    with torch.no_grad():
        theirs = dyn(torch.from_numpy(x[0])).reshape(20, -1).sum(0).numpy()
    ours = run_binned(net, x).output_counts[0]
    assert theirs.sum() > 0
    assert np.array_equal(ours, theirs.astype(np.int64))
