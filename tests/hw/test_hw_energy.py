"""Power, energy and latency terms of each profile kind, by hand; several targets side by side."""

import json

import pytest

from qsnn_deploy.hw import estimate, load_profile
from qsnn_deploy.hw.report import (
    format_comparison_json,
    format_comparison_markdown,
    format_comparison_table,
    format_markdown,
    format_table,
)
from qsnn_deploy.hw.schema import profile_from_dict
from qsnn_deploy.ir import Network


def q(value, unit="", conf="assumed", **kw):
    return {"value": value, "unit": unit, "source": "test", "confidence": conf, **kw}


@pytest.fixture
def toy_net(layers):
    # a: 1→2 channels, 1×1, on 4×4 (32 neurons, 32 MACs); b: 2→2 (32 neurons, 64 MACs)
    return layers.chain(layers.conv("a", 1, 2, 1, (4, 4)), layers.conv("b", 2, 2, 1, (4, 4)))


def cores(n=2):
    return {
        "kernel_memory": q([4096] * n, "words"),
        "neuron_memory": q([4096] * n, "words"),
        "bias_memory": q([64] * n, "words"),
    }


def test_every_energy_term_by_hand(toy_net):
    prof = profile_from_dict(
        {
            "schema_version": 1,
            "name": "all",
            "cores": cores(),
            "power": {"static": q(1e-3, "W", "measured")},
            "energy": {
                "per_synop": q(1e-9, "J", "derived"),
                "per_spike": q(2e-9, "J"),
                "per_neuron_update": q(1e-12, "J", "simulated"),
                "per_mac": q(5e-12, "J", "published"),
            },
        }
    )
    est = estimate(toy_net, prof, {"a": 1000, "b": 3000}, 0.5, spikes_per_layer={"a": 10, "b": 30})
    # per inference: 4000 SynOps, 40 spikes, 64 neurons × 500 time steps, 96 MACs
    assert (est.synops, est.spikes, est.macs) == (4000, 40, 96)
    terms = {t.name: t for t in est.power_terms}
    assert set(terms) == {"resting", "synops", "spikes", "neuron_updates", "macs"}
    assert terms["neuron_updates"].count == 32000
    dynamic_j = 4000 * 1e-9 + 40 * 2e-9 + 32000 * 1e-12 + 96 * 5e-12
    assert est.dynamic_energy_per_inference_j == pytest.approx(dynamic_j)
    assert est.power_dynamic_w == pytest.approx(dynamic_j / 0.5)
    assert est.power_w == pytest.approx(1e-3 + dynamic_j / 0.5)
    assert est.energy_per_inference_j == pytest.approx(0.5e-3 + dynamic_j)
    assert est.power_confidence == "assumed"  # the weakest term (per_spike)
    assert est.spikes_per_s == 80 and est.layers[1].spikes_per_s == 60


def test_sensor_is_added_only_when_the_profile_has_one(toy_net):
    est = estimate(toy_net, load_profile("dynapcnn"), None, 1.0, include_sensor=True)
    assert "dynapcnn has no sensor power figure; the sensor is not counted" in est.warnings
    est = estimate(toy_net, load_profile("speck2f"), {"a": 0, "b": 0}, 1.0, include_sensor=True)
    assert est.power_w == pytest.approx(4.2e-4 + 6.898e-4)


@pytest.fixture
def stepped():
    """A time-stepped chip: 8 cores of 8 neurons and 1000 B, no resting power."""
    return profile_from_dict(
        {
            "schema_version": 1,
            "name": "stepped",
            "architecture": "neuron-cores",
            "cores": {"count": q(8), "neurons": q(8), "synaptic_memory": q(1000, "B"), "fan_in": q(64)},
            "latency": {"per_synop": q(1e-9, "s"), "per_neuron_update": q(1e-8, "s"), "timestep_min": q(5e-8, "s")},
            "energy": {"per_synop": q(1e-11, "J", "simulated")},
        }
    )


def test_time_stepped_placement_latency_and_power_by_hand(toy_net, stepped):
    est = estimate(toy_net, stepped, {"a": 1000, "b": 3000}, 0.5)
    # 32 neurons per layer, 8 per core (the 8000 bits of a core hold 1000 or 500 synapses of 8 bits) → 4 + 4 cores
    assert [r.cores for r in est.layers] == [4, 4] and (est.cores_used, est.cores_available) == (8, 8)
    assert est.fits and est.mapping is None and est.layers[0].kernel_memory is None
    # 500 steps; busiest core: 8 neurons × 10 ns + 3000/500/4 = 1.5 SynOps × 1 ns = 81.5 ns > 50 ns floor
    assert est.latency.per_step_s == pytest.approx(8.15e-8) and est.latency_s == pytest.approx(2 * 8.15e-8)
    assert est.latency.kind == "time-stepped" and est.latency.confidence == "assumed"
    # no resting power in the profile: no total, the dynamic part alone
    assert est.power_w is None and est.energy_per_inference_j is None and est.includes == ()
    assert est.power_dynamic_w == pytest.approx(4000 * 1e-11 / 0.5)
    assert est.total_unknown == "no static power in profile"
    assert (
        "stepped declares no resting (static) power: its total power and energy are unknown; the dynamic part "
        "is given (compare targets on it)"
    ) in est.warnings
    assert est.neuron_updates == 64 * 500
    assert "2 time steps × 81.5 ns" in format_table(est)


def test_time_stepped_chip_slower_than_real_time_is_flagged(toy_net, stepped):
    fast = Network(toy_net.layers, toy_net.input_shape, dt_us=0.05)
    est = estimate(fast, stepped, {"a": 1000, "b": 3000}, 0.5)
    assert any("would run slower than real time" in w for w in est.warnings)


def test_time_stepped_without_synops_counts_neuron_updates_only(toy_net, stepped):
    est = estimate(toy_net, stepped, None, 0.5)
    assert est.latency.per_step_s == pytest.approx(8e-8) and est.power_w is None
    assert "SynOps unknown: the time step counts neuron updates only (a lower bound)" in est.warnings


def test_dense_accelerator_prices_the_macs_of_the_ann(toy_net):
    prof = profile_from_dict(
        {
            "schema_version": 1,
            "name": "dense",
            "architecture": "dense-accelerator",
            "energy": {"per_mac": q(1e-12, "J", "derived", range=[1e-13, 1e-12])},
        }
    )
    est = estimate(toy_net, prof, None, 0.5)  # MACs need no activity
    assert est.fits and est.macs == 96 and [r.macs for r in est.layers] == [32, 64]
    assert est.power_w is None and est.power_w_range is None and est.energy_per_inference_j is None
    assert est.power_dynamic_w == pytest.approx(96e-12 / 0.5) and est.power_confidence == "derived"
    dynamic = est.energy_part("dynamic")
    assert dynamic.range_w == pytest.approx((96e-13 / 0.5, 96e-12 / 0.5))
    assert est.dynamic_energy_per_inference_j == pytest.approx(96e-12) and est.latency_s is None
    assert "dense declares no latency terms: latency is unknown" in est.warnings
    assert format_table(est).splitlines()[2].split() == ["layer", "kind", "outputs", "MACs/inference"]


def test_packaged_comparison_profiles_on_the_nmnist_net(nmnist_net):
    synops = {"conv1": 1e5, "conv2": 5e4, "conv3": 1e4, "fc": 1e3}
    loihi = estimate(nmnist_net, load_profile("loihi"), synops, 0.1, spikes_per_layer={"fc": 10})
    # float net: 9-bit synapses (the profile's); cores 10 + 12 + 2 + 1 (see test_hw_neurocore)
    assert loihi.fits and loihi.cores_used == 25 and loihi.architecture == "neuron-cores"
    assert loihi.power_w > 0.104 and loihi.latency.kind == "time-stepped"
    generic = estimate(nmnist_net, load_profile("generic-45nm"), None, 0.1)
    macs = 8 * 34 * 34 * 2 * 9 + 16 * 17 * 17 * 8 * 9 + 16 * 4 * 4 * 16 * 9 + 10 * 256
    assert generic.macs == macs and generic.power_dynamic_w == pytest.approx(macs * 4.6e-12 / 0.1)
    assert generic.power_w is None and generic.total_unknown == "no static power in profile"


def test_side_by_side_formats(nmnist_net):
    names = ["speck2f", "loihi", "generic-45nm"]
    ests = [estimate(nmnist_net, load_profile(n), {"conv1": 1e5}, 0.1) for n in names]
    table = format_comparison_table(ests)
    assert table.startswith("Side by side (same network, same activity):")
    rows = table.splitlines()[2:7]
    assert rows[0].split()[:3] == ["target", "architecture", "fits"]
    assert [r.split()[0] for r in rows[2:]] == names
    assert table.count("Target ") == 3
    data = json.loads(format_comparison_json(ests))
    assert isinstance(data, list) and [d["target"] for d in data] == names
    assert data[2]["architecture"] == "dense-accelerator" and data[2]["macs"] > 0
    md = format_comparison_markdown(ests)
    assert md.startswith("## Side by side") and md.count("### Estimate for") == 3


def test_markdown_of_a_neuron_cores_estimate(nmnist_net):
    md = format_markdown(estimate(nmnist_net, load_profile("loihi"), None, 0.1))
    assert "| layer | kind | neurons | fan-in | cores |" in md and "(neuron-cores)" in md
