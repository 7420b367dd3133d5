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
# neuron → the least test accuracy accepted (BPTT); measured after 3 epochs, seed 0: iaf 96.66 %, lif 97.77 %,
# leaky 91.09 %, decolle-simple 76.60 % (QAT; before aa31848 both sat at 10.03 %: their surrogates were read in
# integer units, and decolle-simple's SmoothStep window left a silent neuron without a gradient).
# decolle stays at 10.03 % (chance), kept a strict xfail: its unit-gain traces, with DECOLLE's per-1-ms decays
# applied per 30 ms bin, average the current over the whole sample, P never reaches θ = 1 and digits_speck is
# silent from conv1 on (0 spikes per sample in every layer). The xfail fails the suite the day it learns here.
SILENT = "digits_speck's defaults: decolle's traces stay below θ, no layer spikes, the loss stays at ln 10 (issue 18)"
NEURONS = {"iaf": 0.5, "lif": 0.5, "leaky": 0.45, "decolle": 0.5, "decolle-simple": 0.35}
NEURON_CASES = [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=SILENT)) if n == "decolle" else n
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
