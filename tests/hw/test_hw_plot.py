"""The estimate plot (matplotlib, Agg backend)."""

import pytest

from qsnn_deploy.hw import estimate


def test_plot_with_synops_for_some_layers_only(nmnist_net, speck2f, tmp_path):
    # SynOps known for conv1 alone: the other layers' cores still show their ceiling, without a utilisation
    pytest.importorskip("matplotlib")
    from qsnn_deploy.hw.plot import plot_estimates

    est = estimate(nmnist_net, speck2f, {"conv1": 2.0e5}, 0.1)
    assert est.layers[0].ceiling_utilisation is not None and est.layers[1].ceiling_utilisation is None
    path = plot_estimates([est], [speck2f], tmp_path / "estimate.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
