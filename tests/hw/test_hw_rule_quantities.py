"""Each rule's violation says in numbers what the network needs, what the chip has and in which unit
(``need``, ``have``, ``unit``), or None for all three where its limit is not one number; the estimate's JSON
and text leave them out."""

import json

import numpy as np
import pytest

from qsnn_deploy.hw import RULES, check, estimate, format_json, format_table, load_profile
from qsnn_deploy.hw.rules import Violation
from qsnn_deploy.ir import ChipLayer, Network


def _weights_of_9_bits(L) -> Network:
    w = np.zeros((2, 1, 1, 1))
    w[0, 0, 0, 0], w[1, 0, 0, 0] = 200, -5
    return Network((ChipLayer("conv1", w, (1, 4, 4), scale=1.0),), (1, 4, 4))


def _four_destinations(L) -> Network:
    convs = [L.conv(f"conv{i}", 2, 2, 1, (8, 8)) for i in range(1, 5)]
    convs[0] = convs[0].replace(destinations=("conv2", "conv3", "conv4"))
    return L.chain(*convs)


def _competing_layers(L) -> Network:
    return L.chain(
        L.conv("conv1", 2, 16, 3, (64, 64), padding=1),
        *[L.conv(f"conv{i}", 16, 16, 3, (64, 64), padding=1) for i in (2, 3, 4)],
    )


UNSUPPORTED = (("pool1", "MaxPool2d"),)

#: code -> (profile, network builder (of the ``layers`` fixture), [(layer, need, have, unit), ...] in order)
CASES = {
    "SPK001": ("speck2f", lambda L: L.chain(L.conv("conv1", 2, 8, (3, 5), (16, 16))), [("conv1", None, None, None)]),
    "SPK002": ("speck2f", lambda L: L.chain(L.conv("conv1", 2, 4, 17, (32, 32))), [("conv1", 17, 16, "px")]),
    "SPK003": (
        "speck2f",
        lambda L: L.chain(L.conv("conv1", 2, 4, 3, (32, 32), stride=3)),
        [("conv1", None, None, None)],
    ),
    "SPK004": (
        "speck2f",
        lambda L: L.chain(L.conv("conv1", 2, 4, 3, (16, 16), padding=8)),
        [("conv1", None, None, None)],
    ),
    "SPK005": (
        "speck2f",
        lambda L: L.chain(L.conv("conv1", 2, 4, 3, (18, 18), padding=1, pool=3)),
        [("conv1", None, None, None)],
    ),
    "SPK006": (
        "speck2f",
        lambda L: L.chain(L.conv("conv1", 2, 2048, 1, (1, 1)), L.conv("conv2", 2048, 4, 1, (1, 1))),
        [("conv1", 2048, 1024, "channels"), ("conv2", 2048, 1024, "channels")],
    ),
    "SPK007": (
        "speck2f",
        lambda L: L.chain(L.conv("conv1", 2, 2, 3, (130, 140), stride=4)),
        [("conv1", 140, 128, "px")],  # the width is further over the limit than the height
    ),
    "SPK008": (
        "speck2f",
        lambda L: L.chain(L.conv("conv1", 2, 2, 1, (65, 65), pool=2)),
        [("conv1", 65, 64, "px")],
    ),
    "SPK009": ("speck2f", lambda L: L.chain(L.conv("conv1", 128, 64, 3, (3, 3))), [("conv1", 131072, 65536, "words")]),
    "SPK010": (
        "speck2f",
        lambda L: L.chain(L.conv("conv1", 2, 32, 3, (64, 64), padding=1)),
        [("conv1", 131072, 65536, "words")],
    ),
    "SPK011": (
        "speck2f",
        lambda L: L.chain(L.conv("conv1", 2, 2000, 1, (1, 1), bias=True)),
        [("conv1", 2000, 1024, "words")],
    ),
    "SPK012": (
        "speck2f",
        lambda L: L.chain(L.conv("conv1", 32, 48, 3, (20, 20), padding=1)),
        [("conv1", None, None, None)],
    ),
    "SPK013": (
        "speck2f",
        lambda L: L.chain(*[L.conv(f"c{i}", 2, 2, 3, (16, 16), padding=1) for i in range(10)]),
        [(None, 10, 9, "cores")],
    ),
    "SPK014": ("speck2f", _competing_layers, [(None, 4, 3, "cores")]),
    "SPK015": ("speck2f", _four_destinations, [("conv1", 3, 2, "destinations")]),
    "SPK016": (
        "speck2f",
        lambda L: L.chain(L.conv("conv1", 2, 4, 3, (16, 16), neuron="lif")),
        [("conv1", None, None, None)],
    ),
    "SPK017": (
        "speck2f",
        lambda L: Network((L.conv("conv1", 2, 4, 3, (16, 16)),), (2, 16, 16), unsupported=UNSUPPORTED),
        [("pool1", None, None, None)],
    ),
    "LOI001": ("loihi2", _weights_of_9_bits, [("conv1", 9, 8, "bits")]),
    "LOI002": ("loihi", lambda L: L.chain(L.conv("conv1", 512, 4, 3, (8, 8))), [("conv1", 4608, 4096, "inputs")]),
    "LOI003": ("loihi2", lambda L: L.chain(L.linear("fc", (2048, 10, 10), 1)), [("fc", 204800, 196608, "B")]),
    "LOI004": ("loihi", lambda L: L.chain(L.conv("conv1", 2, 64, 1, (128, 128))), [(None, 1024, 128, "cores")]),
    "LOI005": (
        "loihi",
        lambda L: Network((L.conv("conv1", 2, 4, 3, (16, 16)),), (2, 16, 16), unsupported=UNSUPPORTED),
        [("pool1", None, None, None)],
    ),
}


def test_every_rule_has_a_case():
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_need_have_and_unit(code, layers):
    profile, build, expected = CASES[code]
    found = [v for v in check(build(layers), load_profile(profile)) if v.code == code]
    assert [(v.layer, v.need, v.have, v.unit) for v in found] == expected
    for v in found:
        assert (v.need is None) == (v.have is None) == (v.unit is None)
        assert v.need is None or v.need > v.have  # a violation needs more than the chip has


def test_numbers_agree_with_the_message(layers):
    # the numbers are the ones the message states (the same figures, not a second computation that could drift)
    for code, (profile, build, _) in CASES.items():
        for v in check(build(layers), load_profile(profile)):
            if v.code == code and v.need is not None:
                assert str(v.need) in v.message and str(v.have) in v.message, (code, v.message)


def test_json_and_text_leave_the_numbers_out(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 2048, 1, (1, 1)), layers.conv("conv2", 2048, 4, 1, (1, 1)))
    est = estimate(net, speck2f, None, 0.1)
    assert est.violations and all(v.need is not None for v in est.violations)
    listed = json.loads(format_json(est))["violations"]
    assert [sorted(v) for v in listed] == [["code", "fix", "layer", "message", "rule"]] * len(est.violations)
    assert "need" not in format_table(est) and "channels" in format_table(est)


def test_violation_numbers_default_to_none():
    v = Violation("SPK003", "stride", "conv1", "m", "f")
    assert (v.need, v.have, v.unit) == (None, None, None)
    w = Violation("SPK013", "core-count", None, "m", "f", need=10, have=9, unit="cores")
    assert w.to_dict() == {"code": "SPK013", "rule": "core-count", "layer": None, "message": "m", "fix": "f"}
