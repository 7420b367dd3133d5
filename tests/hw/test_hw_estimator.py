"""The estimator's arithmetic, its JSON fields, and the report formats."""

import json

import pytest

from qsnn_deploy.errors import InputError
from qsnn_deploy.hw import estimate, format_json, format_markdown, format_table
from qsnn_deploy.hw.report import si
from qsnn_deploy.hw.schema import profile_from_dict


def q(value, unit="", conf="assumed", **kw):
    return {"value": value, "unit": unit, "source": "test", "confidence": conf, **kw}


@pytest.fixture
def toy_profile():
    """Two roomy cores; 1 mW static (measured), 1 nJ/SynOp (derived, 0.5–2 nJ), 1 µs per layer."""
    return profile_from_dict(
        {
            "schema_version": 1,
            "name": "toy",
            "cores": {
                "kernel_memory": q([4096, 4096], "words"),
                "neuron_memory": q([4096, 4096], "words"),
                "bias_memory": q([64, 64], "words"),
                "synops_ceiling": q(1.0e6, "SynOp/s"),
            },
            "latency": {"per_layer": q(1e-6, "s", "derived")},
            "power": {"static": q(1e-3, "W", "measured"), "sensor": q(2e-4, "W", "measured")},
            "energy": {"per_synop": q(1e-9, "J", "derived", range=[5e-10, 2e-9])},
        },
        file="toy.yaml",
    )


@pytest.fixture
def toy_net(layers):
    return layers.chain(layers.conv("a", 1, 2, 1, (4, 4)), layers.conv("b", 2, 2, 1, (4, 4)))


def test_power_energy_latency_by_hand(toy_net, toy_profile):
    est = estimate(toy_net, toy_profile, {"a": 1000, "b": 3000}, 0.5)
    assert est.fits and est.violations == ()
    assert est.synops == 4000 and est.synops_per_s == 8000
    assert est.power_static_w == pytest.approx(1e-3)
    assert est.power_dynamic_w == pytest.approx(8e-6)  # 1 nJ × 8000 /s
    assert est.power_w == pytest.approx(1.008e-3)
    assert est.power_w_range == pytest.approx((1e-3 + 4e-6, 1e-3 + 16e-6))
    assert est.energy_per_inference_j == pytest.approx(5.04e-4)  # 1.008 mW × 0.5 s
    assert est.dynamic_energy_per_inference_j == pytest.approx(4e-6)  # 1 nJ × 4000
    assert est.latency_s == pytest.approx(2e-6)  # 2 layers × 1 µs
    assert est.power_confidence == "derived"  # the weaker of measured static and derived E/SynOp
    a, b = est.layers
    assert (a.core, b.core) == (0, 1)
    assert a.synops_per_s == 2000 and a.ceiling_utilisation == pytest.approx(2e-3)
    assert b.ceiling_utilisation == pytest.approx(6e-3)
    assert set(est.provenance) >= {"power_static", "energy_per_synop", "latency_per_layer", "synops_ceiling"}


def test_sensor_power_is_added_on_request(toy_net, toy_profile):
    est = estimate(toy_net, toy_profile, {"a": 0, "b": 0}, 1.0, include_sensor=True)
    assert est.power_w == pytest.approx(1.2e-3) and "power_sensor" in est.provenance


def test_first_layer_synops_from_input_events(toy_net, toy_profile):
    # 1×1 conv with 2 output channels: every input event makes 2 SynOps
    est = estimate(toy_net, toy_profile, None, 1.0, input_events_per_sample=100)
    assert est.layers[0].synops == pytest.approx(200)
    assert est.layers[1].synops is None and est.synops == pytest.approx(200)
    assert any("lower bounds" in w for w in est.warnings)


def test_no_synops_leaves_power_unknown(toy_net, toy_profile):
    est = estimate(toy_net, toy_profile, None, 1.0)
    assert est.synops is None and est.power_w is None and est.energy_per_inference_j is None
    assert est.power_static_w == pytest.approx(1e-3) and est.latency_s == pytest.approx(2e-6)
    assert "unknown activity (SynOps): power and energy per inference are unknown" in est.warnings


def test_over_the_ceiling_warns_that_the_core_would_stall(toy_net, toy_profile):
    est = estimate(toy_net, toy_profile, {"a": 2e6, "b": 0}, 1.0)
    assert est.layers[0].ceiling_utilisation == pytest.approx(2.0) and est.layers[0].stalls
    assert [r.name for r in est.stalled_cores] == ["a"] and est.to_dict()["stalled_cores"] == [0]
    assert est.warnings[0] == (
        "core 0 (a) receives 2e+06 SynOps/s, 2.0× its ceiling of 1e+06: this core would "
        "stall the chip (mean rate over the sample; bursts go higher)"
    )
    assert "200.0 % STALL" in format_table(est)


@pytest.mark.parametrize(
    "synops, duration, match",
    [
        ({"zz": 1}, 1.0, "SynOps given for unknown layers: zz"),
        ({"a": -1}, 1.0, "SynOps of layer a must be a finite non-negative number"),
        ({"a": float("nan")}, 1.0, "SynOps of layer a must be a finite non-negative number"),
        (None, 0.0, "sample duration"),
    ],
)
def test_bad_inputs_raise_input_error(toy_net, toy_profile, synops, duration, match):
    with pytest.raises(InputError, match=match):
        estimate(toy_net, toy_profile, synops, duration)


def test_speck2f_nmnist(nmnist_net, speck2f):
    est = estimate(nmnist_net, speck2f, {"conv1": 1e5, "conv2": 5e4, "conv3": 1e4, "fc": 1e3}, 0.1)
    assert est.fits and [r.core for r in est.layers] == [0, 1, 2, 3]
    assert est.power_w == pytest.approx(4.2e-4 + 2e-11 * 1.61e6)
    assert est.latency_s == pytest.approx(4 * 3.36e-6 / 9, rel=1e-4)


def test_json_has_the_design_fields(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 32, 3, (64, 64), padding=1, stride=3))
    data = json.loads(format_json(estimate(net, speck2f, {"conv1": 10.0}, 1.0)))
    assert {
        "target",
        "fits",
        "layers",
        "violations",
        "synops",
        "synops_per_s",
        "power_w",
        "energy_per_inference_j",
        "latency_s",
    } <= set(data)
    assert data["target"] == "speck2f" and data["fits"] is False
    assert {"name", "kernel_memory", "neuron_memory", "bias_memory", "core", "synops"} <= set(data["layers"][0])
    assert data["violations"] and all(set(v) == {"code", "rule", "layer", "message", "fix"} for v in data["violations"])
    assert data["provenance"]["power_static"]["confidence"] == "published"


def test_table_shows_fit_violations_and_power_confidence(layers, speck2f, nmnist_net):
    ok = format_table(estimate(nmnist_net, speck2f, {"conv1": 1e5}, 0.1))
    assert ok.startswith("Target speck2f (layer-per-core): fits\n") and "confidence: derived" in ok
    net = layers.chain(layers.conv("conv1", 2, 32, 3, (64, 64), padding=1))
    bad = format_table(estimate(net, speck2f, None, 0.1))
    assert "DOES NOT FIT" in bad
    assert "SPK010 neuron-memory [conv1]" in bad and "fix: halve out_channels of conv1 (32 → 16)" in bad
    header = bad.splitlines()[2]
    assert header.split() == [
        "layer",
        "kind",
        "kernel",
        "neuron",
        "bias",
        "core",
        "SynOps/sample",
        "SynOps/s",
        "spikes/s",
        "ceiling",
        "fit",
    ]


def test_markdown_has_a_table_and_violations(layers, speck2f):
    net = layers.chain(layers.conv("conv1", 2, 32, 3, (64, 64), padding=1))
    md = format_markdown(estimate(net, speck2f, None, 0.1))
    assert "| layer | kind | kernel |" in md and "### Violations" in md and "| SPK010 |" in md


@pytest.mark.parametrize(
    "value, unit, text",
    [(5.2e-4, "W", "520 µW"), (1.61e6, "", "1.61 M"), (None, "W", "—"), (0, "J", "0 J"), (0.1, "s", "100 ms")],
)
def test_si(value, unit, text):
    assert si(value, unit) == text
