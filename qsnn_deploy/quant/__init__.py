"""Number formats: the chip's integer discretiser (numpy) and the training quantisers (torch).

Public API (loaded on first use)::

    discretize_network(net, ...) -> Network     float Network -> the chip's integers (the one discretiser)
    int_range(bits) / range_scale(values, bits)  signed ranges and the scale that fits values into them
    quantizers: symmetric, stochastic_round, fixed_point, wage_*, ...  (torch, straight-through)
    fake: ste_round, chip_scale_t              the discretiser's scale, differentiable, for QAT
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .chip import discretize_network, int_range, range_scale

__all__ = ["discretize_network", "int_range", "range_scale"]
__getattr__, __dir__ = lazy_exports(
    __name__, {"discretize_network": ".chip", "int_range": ".chip", "range_scale": ".chip"}
)
