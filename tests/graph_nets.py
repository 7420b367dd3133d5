"""Graph (residual, branching, merging) networks the tests share, in float or chip integers.

Each builder takes a seed and returns an :class:`~qsnn_deploy.ir.Network`; ``quantized=True`` discretises it
with the one discretiser (``quant.chip.discretize_network``). Weights are non-negative-leaning so that spikes
reach every layer on sparse random input. Shapes are small (Speck-sized cores, a few channels) so the
cross-checks against sinabs run in well under a second each.
"""

from __future__ import annotations

import numpy as np

from qsnn_deploy.ir import ChipLayer, Destination, Network


def _w(rng: np.random.Generator, shape: tuple[int, ...], spread: float = 0.5) -> np.ndarray:
    return rng.normal(0.15, spread, shape)


def _finish(net: Network, quantized: bool) -> Network:
    if not quantized:
        return net
    from qsnn_deploy.quant.chip import discretize_network

    return discretize_network(net)


def residual(seed: int = 0, quantized: bool = False) -> Network:
    """A residual block: stem → body → join with a skip stem → join (sum), then a linear head.

    stem (2→4, 16×16, pool 2 towards both) → body (4→4, 8×8); stem + body → join (4→6, pool 2) → fc (→5).
    """
    rng = np.random.default_rng(seed)
    stem = ChipLayer("stem", _w(rng, (4, 2, 3, 3)), (2, 16, 16), padding=1, pool=2, destinations=("body", "join"))
    body = ChipLayer("body", _w(rng, (4, 4, 3, 3)), (4, 8, 8), padding=1, destinations=("join",))
    join = ChipLayer("join", _w(rng, (6, 4, 3, 3)), (4, 8, 8), padding=1, pool=2)
    fc = ChipLayer("fc", _w(rng, (5, 6, 4, 4), 0.3), (6, 4, 4), kind="linear")
    return _finish(Network((stem, body, join, fc), (2, 16, 16), metadata={"model": "residual"}), quantized)


def mixed_pooling(seed: int = 0, quantized: bool = False) -> Network:
    """One layer with a pooled and an unpooled destination (which sinabs 3.1.3 cannot build).

    a (2→4, 16×16) sends unpooled to b and pooled by 2 to c; b (4→4, 16×16) sends pooled by 2 to d;
    c (4→4, 8×8) → d; d sums b and c (8×8) → fc.
    """
    rng = np.random.default_rng(seed)
    a = ChipLayer(
        "a", _w(rng, (4, 2, 3, 3)), (2, 16, 16), padding=1, destinations=(Destination("b"), Destination("c", pool=2))
    )
    b = ChipLayer("b", _w(rng, (4, 4, 3, 3)), (4, 16, 16), padding=1, destinations=(Destination("d", pool=2),))
    c = ChipLayer("c", _w(rng, (4, 4, 3, 3)), (4, 8, 8), padding=1, destinations=("d",))
    d = ChipLayer("d", _w(rng, (6, 4, 3, 3)), (4, 8, 8), padding=1, pool=2)
    fc = ChipLayer("fc", _w(rng, (5, 6, 4, 4), 0.3), (6, 4, 4), kind="linear")
    return _finish(Network((a, b, c, d, fc), (2, 16, 16), metadata={"model": "mixed_pooling"}), quantized)


def three_way_merge(seed: int = 0, quantized: bool = False) -> Network:
    """A merge of three sources (sinabs' Merge takes two): a → b, c; b → d, e; c → e; d → e; e → fc."""
    rng = np.random.default_rng(seed)
    a = ChipLayer("a", _w(rng, (4, 2, 3, 3)), (2, 8, 8), padding=1, destinations=("b", "c"))
    b = ChipLayer("b", _w(rng, (4, 4, 3, 3)), (4, 8, 8), padding=1, destinations=("d", "e"))
    c = ChipLayer("c", _w(rng, (4, 4, 3, 3)), (4, 8, 8), padding=1, destinations=("e",))
    d = ChipLayer("d", _w(rng, (4, 4, 3, 3)), (4, 8, 8), padding=1, destinations=("e",))
    e = ChipLayer("e", _w(rng, (6, 4, 3, 3)), (4, 8, 8), padding=1, pool=2)
    fc = ChipLayer("fc", _w(rng, (5, 6, 4, 4), 0.3), (6, 4, 4), kind="linear")
    return _finish(Network((a, b, c, d, e, fc), (2, 8, 8), metadata={"model": "three_way_merge"}), quantized)


def three_destinations(seed: int = 0, quantized: bool = False) -> Network:
    """A layer with three destinations (a core has two): a → b, c, d; b, c, d → e (sum)."""
    rng = np.random.default_rng(seed)
    a = ChipLayer("a", _w(rng, (4, 2, 3, 3)), (2, 8, 8), padding=1, destinations=("b", "c", "d"))
    b, c, d = (ChipLayer(n, _w(rng, (4, 4, 3, 3)), (4, 8, 8), padding=1, destinations=("e",)) for n in ("b", "c", "d"))
    e = ChipLayer("e", _w(rng, (5, 4, 8, 8), 0.3), (4, 8, 8), kind="linear")
    return _finish(Network((a, b, c, d, e), (2, 8, 8), metadata={"model": "three_destinations"}), quantized)


def pooled_branches(seed: int = 0, quantized: bool = False) -> Network:
    """Two branches of one layer with different pooling (2 and 4), merged later; sinabs 3.1.3 builds this one.

    a (2→4, 16×16) sends pooled by 2 to b and pooled by 4 to c; b (4→4, 8×8) sends pooled by 2 to d;
    c (4→4, 4×4) → d; d sums b and c (4×4, pool 2) → fc (→5).
    """
    rng = np.random.default_rng(seed)
    a = ChipLayer("a", _w(rng, (4, 2, 3, 3)), (2, 16, 16), padding=1, pool=2, destinations=("b", Destination("c", 4)))
    b = ChipLayer("b", _w(rng, (4, 4, 3, 3)), (4, 8, 8), padding=1, pool=2, destinations=("d",))
    c = ChipLayer("c", _w(rng, (4, 4, 3, 3)), (4, 4, 4), padding=1, destinations=("d",))
    d = ChipLayer("d", _w(rng, (6, 4, 3, 3)), (4, 4, 4), padding=1, pool=2)
    fc = ChipLayer("fc", _w(rng, (5, 6, 2, 2), 0.3), (6, 2, 2), kind="linear")
    return _finish(Network((a, b, c, d, fc), (2, 16, 16), metadata={"model": "pooled_branches"}), quantized)


def sinabs_graph_model(net: Network):
    """A float ``net`` as a sinabs graph model ``DynapcnnNetwork`` can trace: per layer ``Conv2d → IAFSqueeze``,
    one ``SumPool2d`` per (layer, pooling) shared by the edges with that pooling, ``sl.Merge`` (two inputs,
    ``S/layers/merge.py:4-30``) at a merge.

    Moved here from tests/emulate/test_graphs.py unchanged, to be shared with tests/convert/test_graphs_vs_sinabs.py.
    """
    import sinabs.layers as sl
    import torch

    class Graph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = torch.nn.ModuleList()
            self.iafs = torch.nn.ModuleList()
            self.pools = torch.nn.ModuleDict()
            self.merges = torch.nn.ModuleDict()
            for j, layer in enumerate(net.layers):
                conv = torch.nn.Conv2d(layer.c_in, layer.c_out, layer.kernel_size[0], stride=layer.stride,
                                       padding=layer.padding, bias=layer.bias is not None)  # fmt: skip
                with torch.no_grad():
                    conv.weight.copy_(torch.as_tensor(layer.weight, dtype=torch.float32))
                    if layer.bias is not None:
                        conv.bias.copy_(torch.as_tensor(layer.bias, dtype=torch.float32))
                self.convs.append(conv)
                thr = float(layer.threshold)
                self.iafs.append(sl.IAFSqueeze(batch_size=1, spike_threshold=thr, min_v_mem=float(layer.lower_bound)))
                pools = set(net.target_pools(j)) | ({net.output_pool} if j == len(net.layers) - 1 else set())
                for p in pools - {1}:
                    self.pools[f"{j}_{p}"] = sl.SumPool2d(p)
                if len(net.sources(j)) == 2:
                    self.merges[str(j)] = sl.Merge()

        def _pooled(self, out: dict[int, torch.Tensor], i: int, p: int) -> torch.Tensor:
            return self.pools[f"{i}_{p}"](out[i]) if p > 1 else out[i]

        def forward(self, x):
            out: dict[int, torch.Tensor] = {}
            for j in range(len(net.layers)):
                ins = [self._pooled(out, i, net.edge_pool(i, j)) for i in net.sources(j)] or [x]
                inp = self.merges[str(j)](*ins) if len(ins) == 2 else ins[0]
                out[j] = self.iafs[j](self.convs[j](inp))
            return self._pooled(out, len(net.layers) - 1, net.output_pool)

    return Graph()


GRAPHS = {"residual": residual, "mixed_pooling": mixed_pooling, "three_way_merge": three_way_merge}
"""The graphs the chip can run (at most two destinations per core)."""


def sinabs_mixed_pooling_model():
    """mixed_pooling as sinabs 3.1 takes graphs: a → b unpooled, a → SumPool2d(2) → c; b → SumPool2d(2) →
    Merge ← c (weights do not matter: sinabs fails while building the graph)."""
    import sinabs.layers as sl
    from torch import nn

    class Mixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.a_iaf, self.a_pool = (
                nn.Conv2d(2, 4, 3, padding=1, bias=False),
                sl.IAFSqueeze(1),
                sl.SumPool2d(2),
            )
            self.b, self.b_iaf, self.b_pool = (
                nn.Conv2d(4, 4, 3, padding=1, bias=False),
                sl.IAFSqueeze(1),
                sl.SumPool2d(2),
            )
            self.c, self.c_iaf, self.merge = nn.Conv2d(4, 4, 3, padding=1, bias=False), sl.IAFSqueeze(1), sl.Merge()
            self.d, self.d_iaf, self.d_pool = (
                nn.Conv2d(4, 6, 3, padding=1, bias=False),
                sl.IAFSqueeze(1),
                sl.SumPool2d(2),
            )
            self.flat, self.fc, self.fc_iaf = nn.Flatten(), nn.Linear(96, 5, bias=False), sl.IAFSqueeze(1)

        def forward(self, x):
            a = self.a_iaf(self.a(x))
            b = self.b_pool(self.b_iaf(self.b(a)))
            c = self.c_iaf(self.c(self.a_pool(a)))
            d = self.d_pool(self.d_iaf(self.d(self.merge(b, c))))
            return self.fc_iaf(self.fc(self.flat(d)))

    return Mixed()


def log2_ceil(n: int) -> int:
    return int(np.ceil(np.log2(n)))


def chip_words(c_in: int, k: int, c_out: int, h_conv: int, w_conv: int) -> tuple[int, int]:
    """Kernel and neuron words by the chip formula (docs/design/graph_networks.md §3, ``D/dynapcnn_layer.py:213-245``):
    ``c_in·2^(⌈log2 k²⌉+⌈log2 c_out⌉)`` and ``c_out·2^(⌈log2 H⌉+⌈log2 W⌉)`` of the convolution output, before any
    pooling towards a destination."""
    return c_in * 2 ** (log2_ceil(k * k) + log2_ceil(c_out)), c_out * 2 ** (log2_ceil(h_conv) + log2_ceil(w_conv))
