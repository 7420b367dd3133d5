"""Fixtures for the hw tests: chip layers built directly from numpy weights."""

from __future__ import annotations

import numpy as np
import pytest

from qsnn_deploy.hw import load_profile
from qsnn_deploy.ir import ChipLayer, Network


def make_conv(name: str, c_in: int, c_out: int, k, input_hw, *, bias: bool = False, **kw) -> ChipLayer:
    """A ChipLayer with zero weights; ``k`` is an int or (kh, kw)."""
    kh, kw_ = (k, k) if isinstance(k, int) else k
    return ChipLayer(
        name, np.zeros((c_out, c_in, kh, kw_)), (c_in, *input_hw), bias=np.zeros(c_out) if bias else None, **kw
    )


def make_linear(name: str, input_shape, n_out: int, *, bias: bool = False) -> ChipLayer:
    c, h, w = input_shape
    return ChipLayer(name, np.zeros((n_out, c, h, w)), (c, h, w), kind="linear", bias=np.zeros(n_out) if bias else None)


def chain(*layers: ChipLayer) -> Network:
    return Network(layers, layers[0].input_shape)


@pytest.fixture(scope="session")
def speck2f():
    return load_profile("speck2f")


@pytest.fixture
def nmnist_net() -> Network:
    """The sinabs N-MNIST quick-start net (2-8C3-P2-16C3-P2-16C3S2-FC10) on 2×34×34."""
    return chain(
        make_conv("conv1", 2, 8, 3, (34, 34), padding=1, pool=2),
        make_conv("conv2", 8, 16, 3, (17, 17), padding=1, pool=2),
        make_conv("conv3", 16, 16, 3, (8, 8), padding=1, stride=2),
        make_linear("fc", (16, 4, 4), 10),
    )


@pytest.fixture
def layers():
    """Builders, so tests need not import this conftest by module name."""

    class Builders:
        conv = staticmethod(make_conv)
        linear = staticmethod(make_linear)
        chain = staticmethod(chain)

    return Builders


def nine_layer_net() -> Network:
    """9 layers on 2×128×128 that fill speck2f exactly; the matching must move layers to make it fit.

    Candidate cores: conv1, conv3 → 0–4; conv2 → 0–2; conv5, fc → 3–6; conv6, conv7 → 5, 6; conv4, conv8 → any.
    """
    return chain(
        make_conv("conv1", 2, 8, 3, (128, 128), stride=2, padding=1),
        make_conv("conv2", 8, 16, 3, (64, 64), padding=1, pool=2),
        make_conv("conv3", 16, 32, 3, (32, 32), padding=1, pool=2),
        make_conv("conv4", 32, 32, 3, (16, 16), padding=1),
        make_conv("conv5", 32, 64, 3, (16, 16), padding=1, pool=2),
        make_conv("conv6", 64, 64, 3, (8, 8), padding=1),
        make_conv("conv7", 64, 64, 3, (8, 8), padding=1, pool=2),
        make_conv("conv8", 64, 128, 1, (4, 4)),
        make_linear("fc", (128, 4, 4), 10),
    )


@pytest.fixture
def nine_layers() -> Network:
    return nine_layer_net()
