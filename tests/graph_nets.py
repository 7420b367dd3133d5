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


GRAPHS = {"residual": residual, "mixed_pooling": mixed_pooling, "three_way_merge": three_way_merge}
"""The graphs the chip can run (at most two destinations per core)."""
