"""Golden report for the demo model (digits_speck) on speck2f, loihi and generic-45nm, with per-metric tolerances.

The network is built from the zoo with seeded weights (no training) and discretised like ``convert``;
the activity is fixed in the golden file (measured once by the binned emulator on a seeded synthetic
raster, which a second test re-measures). Regenerate after an intended change with
``QSNN_UPDATE_GOLDEN=1 pytest tests/hw/test_hw_golden.py`` and review the diff.
"""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.data.digits_dvs import DURATION_US
from qsnn_deploy.hw import estimate, load_profile
from qsnn_deploy.ir import ChipLayer, Network
from qsnn_deploy.nets.zoo import load_spec
from qsnn_deploy.quant.chip import discretize_network

GOLDEN = Path(__file__).parent / "golden" / "digits_speck.json"
TARGETS = ("speck2f", "loihi", "generic-45nm")
UPDATE = os.environ.get("QSNN_UPDATE_GOLDEN") == "1"

#: relative tolerance per metric; 0 means exact. Activity comes from the emulator and may drift a little
#: if its semantics are refined; everything else is arithmetic on the profile and must not move.
TOLERANCE = {
    "fits": 0,
    "kernel_memory": 0,
    "neuron_memory": 0,
    "bias_memory": 0,
    "core": 0,
    "cores": 0,
    "cores_used": 0,
    "macs": 0,
    "neurons": 0,
    "violations": 0,
    "synops": 1e-9,
    "spikes": 1e-9,
    "power_w": 1e-9,
    "energy_per_inference_j": 1e-9,
    "latency_s": 1e-9,
    "power_terms_w": 1e-9,
    "dynamic_energy_per_inference_j": 1e-9,
    "includes": 0,
}
ACTIVITY_TOLERANCE = 0.02


def digits_speck_network(seed: int = 0) -> Network:
    """The zoo's digits_speck with seeded Gaussian weights (std √(2 / fan-in)), discretised as convert does."""
    spec = load_spec("digits_speck")
    rng = np.random.default_rng(seed)
    layers = []
    for d, (c, h, w) in zip(spec.layers, spec.layer_input_shapes()):
        kh, kw = (h, w) if d.type == "linear" else (d.kernel_size, d.kernel_size)
        weight = rng.normal(0.0, math.sqrt(2.0 / (c * kh * kw)), (d.out_channels, c, kh, kw))
        layers.append(
            ChipLayer(
                d.name,
                weight,
                (c, h, w),
                stride=d.stride,
                padding=d.padding,
                pool=d.pool,
                threshold=spec.threshold,
                reset=spec.reset,
                kind="linear" if d.type == "linear" else "conv",
            )
        )
    bins = spec.defaults["time_bins"]
    net = Network(
        tuple(layers),
        spec.input_shape,
        DURATION_US / bins,
        {"model": spec.name, "time_bins": bins, "duration_us": float(DURATION_US)},
    )
    return discretize_network(net)


def measure_activity(net: Network) -> dict:
    """Mean SynOps and spikes per sample on 4 seeded synthetic rasters (about 2 % of pixels fire per bin)."""
    from helpers import random_raster

    from qsnn_deploy.emulate.binned import run_binned

    raster = random_raster(4, net.metadata["time_bins"], net.input_shape, rate=0.02, seed=1)
    res = run_binned(net, raster)
    return {
        "synops": dict(zip(res.layer_names, res.layer_synops.mean(0).tolist())),
        "spikes": dict(zip(res.layer_names, res.layer_spikes.mean(0).astype(float).tolist())),
    }


def metrics(est) -> dict:
    return {
        "fits": est.fits,
        "cores_used": est.cores_used,
        "macs": est.macs,
        "violations": [v.code for v in est.violations],
        "synops": est.synops,
        "spikes": est.spikes,
        "power_w": est.power_w,
        "energy_per_inference_j": est.energy_per_inference_j,
        "latency_s": est.latency_s,
        "dynamic_energy_per_inference_j": est.dynamic_energy_per_inference_j,
        "includes": list(est.includes),
        "power_terms_w": {t.name: t.power_w for t in est.power_terms},
        "layers": {
            r.name: {
                "kernel_memory": r.kernel_memory,
                "neuron_memory": r.neuron_memory,
                "bias_memory": r.bias_memory,
                "core": r.core,
                "cores": r.cores,
                "neurons": r.neurons,
                "macs": r.macs,
            }
            for r in est.layers
        },
    }


def close(got, want, rel, where):
    if isinstance(want, dict):
        assert set(got) == set(want), where
        for k in want:
            close(got[k], want[k], TOLERANCE.get(k, rel), f"{where}.{k}")
    elif isinstance(want, float) and rel:
        assert got == pytest.approx(want, rel=rel), where
    else:
        assert got == want, where


@pytest.fixture(scope="module")
def golden():
    net = digits_speck_network()
    if UPDATE:
        activity = measure_activity(net)
        doc = {
            "model": "digits_speck (zoo, seeded weights, seed 0)",
            "sample_duration_s": DURATION_US / 1e6,
            "activity": activity,
            "targets": {},
        }
        for t in TARGETS:
            est = estimate(
                net, load_profile(t), activity["synops"], DURATION_US / 1e6, spikes_per_layer=activity["spikes"]
            )
            doc["targets"][t] = metrics(est)
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(doc, indent=2) + "\n")
    return net, json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("target", TARGETS)
def test_golden_report(golden, target):
    net, doc = golden
    act = doc["activity"]
    est = estimate(net, load_profile(target), act["synops"], doc["sample_duration_s"], spikes_per_layer=act["spikes"])
    close(metrics(est), doc["targets"][target], 0, target)


def test_golden_facts_by_hand(golden):
    _, doc = golden
    speck = doc["targets"]["speck2f"]
    assert speck["fits"] and {k: v["core"] for k, v in speck["layers"].items()} == {
        "conv1": 0,
        "conv2": 1,
        "conv3": 2,
        "fc": 3,
    }
    assert [speck["layers"][n]["kernel_memory"] for n in ("conv1", "conv2", "conv3", "fc")] == [512, 8192, 16384, 8192]
    assert (
        doc["targets"]["generic-45nm"]["macs"]
        == 2 * 9 * 16 * 17 * 17 + 16 * 9 * 32 * 17 * 17 + 32 * 9 * 32 * 8 * 8 + 512 * 10
    )


def test_golden_activity_is_what_the_emulator_measures(golden):
    pytest.importorskip("torch")
    net, doc = golden
    got = measure_activity(net)
    for kind in ("synops", "spikes"):
        for name, want in doc["activity"][kind].items():
            assert got[kind][name] == pytest.approx(want, rel=ACTIVITY_TOLERANCE, abs=1.0), f"{kind}.{name}"
