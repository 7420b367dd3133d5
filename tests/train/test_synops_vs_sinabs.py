"""SynOp counting equals sinabs' SNNAnalyzer on the same network (borders, stride and pooling included)."""

import numpy as np
import pytest
import torch
from helpers import random_network, random_raster

from qsnn_deploy.emulate.binned import run_binned


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synops_equal_snn_analyzer(seed):
    import sinabs

    from qsnn_deploy.convert.to_sinabs import sinabs_sequential

    net = random_network(seed, quantized=True)
    n, t = 3, 8
    x = random_raster(n, t, net.input_shape, rate=0.3, seed=seed)
    snn = sinabs_sequential(net, batch_size=n)
    analyzer = sinabs.SNNAnalyzer(snn, dt=1.0)
    with torch.no_grad():
        snn(torch.from_numpy(x).flatten(0, 1))
    theirs = [float(v["synops"]) for v in analyzer.get_layer_statistics()["parameter"].values()]
    ours = run_binned(net, x).layer_synops.mean(0)  # per sample, as sinabs reports
    assert np.allclose(ours, theirs) and min(theirs) > 0
    # the differentiable count used in training gives the same numbers
    from qsnn_deploy.nets.network import ChipBlock

    first = net.layers[0]
    block = ChipBlock(
        "c1",
        first.c_in,
        first.c_out,
        first.kernel_size[0],
        first.stride,
        first.padding,
        first.pool,
        False,
        first.input_shape[1:],
        "conv",
        1.0,
        None,
        "subtract",
    )
    assert np.allclose(block.synops(torch.from_numpy(x)).mean().item(), theirs[0])
