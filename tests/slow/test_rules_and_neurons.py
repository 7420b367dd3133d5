"""Each learning rule and each neuron model learns digits-dvs: clearly above chance (10 classes, 10 %) after
3 epochs on the whole built-in training split (digits_speck, its defaults otherwise, seed 0).

Thresholds are about half of what was measured, which leaves room for the epoch a run keeps (the last one,
or the best on validation) and for machines that round differently. Measured with
`qsnn-deploy train --learning-rule RULE --epochs 3` and `qsnn-deploy train --neuron NEURON --epochs 3`
(2 shared CPU cores): see each table's comment.
"""

from __future__ import annotations

import json

import pytest
from helpers import run_cli

from qsnn_deploy.nets.zoo import NEURON_PARAMS

pytestmark = pytest.mark.slow

EPOCHS = 3

# rule → the least test accuracy accepted; measured after 3 epochs, seed 0 (train 15 / 15 / 16 / 36 s):
# decolle 72.14 %, ell 97.21 %, bell 93.87 %, fell 96.10 %
RULES = {"decolle": 0.35, "ell": 0.5, "bell": 0.5, "fell": 0.5}
# neuron → the least test accuracy accepted (BPTT); measured after 3 epochs, seed 0: iaf 96.66 %, lif 97.77 %;
# leaky, decolle and decolle-simple 10.03 % (chance): with digits_speck's threshold 1.0 their spikes die out
# by conv3 (0 spikes per sample in conv3 and fc after an epoch, loss stuck at ln 10). Kept as strict xfails:
# they fail the suite the day those neurons learn here, so that the threshold replaces the xfail.
SILENT = "digits_speck's defaults: no spikes reach conv3 with this neuron, the loss stays at ln 10 (issue 18)"
NEURONS = {"iaf": 0.5, "lif": 0.5, "leaky": 0.5, "decolle": 0.5, "decolle-simple": 0.5}
NEURON_CASES = [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=SILENT))
    if n in ("leaky", "decolle", "decolle-simple")
    else n
    for n in sorted(NEURONS)
]


def _train(tmp_path, *args) -> dict:
    out = tmp_path / "run"
    proc = run_cli("train", *args, "--epochs", EPOCHS, "--out", out, "--format", "json", "-q", timeout=1800)
    metrics = json.loads(proc.stdout)
    assert metrics.pop("out") == str(out)
    assert metrics == {k: v for k, v in json.loads((out / "metrics.json").read_text()).items() if k != "history"}
    assert metrics["epochs"] == EPOCHS and metrics["dataset"] == "digits-dvs"
    return metrics


def test_every_rule_and_neuron_is_covered():
    assert set(NEURONS) == set(NEURON_PARAMS)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_learning_rule_learns_digits(tmp_path, rule):
    metrics = _train(tmp_path, "--learning-rule", rule)
    assert metrics["rule"] == rule
    assert metrics["test_accuracy"] >= RULES[rule], metrics["test_accuracy"]


@pytest.mark.parametrize("neuron", NEURON_CASES)
def test_neuron_model_learns_digits(tmp_path, neuron):
    metrics = _train(tmp_path, "--neuron", neuron)
    assert metrics["test_accuracy"] >= NEURONS[neuron], metrics["test_accuracy"]
