"""`qsnn-deploy train` with the issue-7 methods: --bits auto, --ann, --integer-only (tiny real runs)."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import checkpoint_predictions, run_cli

SMALL = ("--limit", "48", "--time-bins", "4", "-q")


def test_bits_auto_warms_up_allocates_within_budget_and_records_it(tmp_path):
    out = tmp_path / "auto"
    run_cli("train", "--bits", "auto", "--bit-budget", "4", "--epochs", "2", *SMALL, "--out", out)
    metrics = json.loads((out / "metrics.json").read_text())
    alloc = metrics["bit_allocation"]
    assert alloc["warmup_epochs"] == 1
    assert alloc["avg_bits"] <= 4.0 + 1e-9
    assert metrics["weight_bits"] == alloc["bits"]
    assert len(set(alloc["bits"].values())) > 1 or set(alloc["bits"].values()) == {4}
    hess = json.loads((out / "hessian.json").read_text())
    assert set(hess["hessian"]["ranking"]) == set(alloc["bits"])
    assert (out / "hessian.png").stat().st_size > 0
    payload = torch.load(out / "checkpoint.pt", weights_only=True)
    layers = payload["model_spec"]["layers"]
    assert {layer["name"]: layer.get("weight_bits", 8) for layer in layers} == alloc["bits"]


def test_bits_auto_from_init_skips_the_warm_up(tiny_run, tmp_path):
    out = tmp_path / "auto_init"
    run_cli("train", "--bits", "auto", "--bit-budget", "6", "--init", tiny_run, "--epochs", "1", *SMALL, "--out", out)
    assert json.loads((out / "metrics.json").read_text())["bit_allocation"]["warmup_epochs"] == 0


@pytest.mark.parametrize(
    "args, words",
    [
        (("--bits", "auto"), "--bit-budget"),
        (("--bit-budget", "4"), "--bits auto"),
        (("--bits", "auto", "--bit-budget", "1"), "budget"),
        (("--bits", "auto", "--bit-budget", "4", "--no-qat"), "--no-qat"),
        (("--ann", "--integer-only"), "pick one"),
        (("--integer-bits", "wb=6"), "--integer-only"),
        (("--integer-only", "--integer-bits", "zz=3"), "zz=3"),
        (("--integer-only", "--integer-bits", "ub=4"), "ub"),
        (("--integer-only", "--synop-target", "1e5"), "--synop-target"),
        (("--ann", "--bits", "4"), "--bits"),
    ],
)
def test_bad_method_options_are_usage_errors_and_write_nothing(tmp_path, args, words):
    out = tmp_path / "run"
    proc = run_cli("train", *args, "--epochs", "2", *SMALL, "--out", out, check=False)
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr
    assert not out.exists()


def test_ann_mode_trains_converts_and_reports_the_snn(tmp_path):
    out = tmp_path / "ann"
    proc = run_cli("train", "--ann", "--synop-target", "5e5", "--epochs", "1", *SMALL, "--out", out, "--format", "json")
    result = json.loads(proc.stdout)
    assert (out / "ann.pt").is_file()
    # the reported SNN is ann.pt converted as `convert --from-ann --no-weight-scaling` does, emulated on the
    # same 48 test samples: the same accuracy and SynOps
    from qsnn_deploy.convert.ann import ann_to_network, load_ann
    from qsnn_deploy.nets.framed import framed_split
    from qsnn_deploy.nets.zoo import load_spec
    from qsnn_deploy.train.ann_net import emulate_snn

    net, _ = ann_to_network(
        load_ann(load_spec("digits_speck"), out / "ann.pt"), (2, 34, 34), None, percentile=None, dt_us=result["dt_us"]
    )
    test = framed_split("digits-dvs", "test", 4, progress=False, limit=48)
    snn = emulate_snn(net, test.frames, test.labels)
    assert result["test_accuracy"] == pytest.approx(snn["accuracy"])
    assert result["synops_per_sample"] == pytest.approx(snn["synops_per_sample"]) and snn["synops_per_sample"] > 0
    assert result["out"] == str(out)


def test_integer_only_with_custom_widths_writes_the_memory_report(tmp_path):
    out = tmp_path / "int"
    proc = run_cli("train", "--integer-only", "--integer-bits", "wb=6,eb=5", "--epochs", "1", *SMALL, "--out", out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["bits"]["wb"] == 6 and metrics["bits"]["eb"] == 5 and metrics["integer_only"]
    assert 0 < metrics["memory_saved"] < 1
    assert (out / "memory.md").is_file() and "below full precision" in proc.stdout


@pytest.mark.parametrize("rule", ["decolle", "ell"])
def test_local_learning_rule_from_the_cli_writes_a_convertible_run(tmp_path, rule):
    out = tmp_path / rule
    proc = run_cli("train", "--learning-rule", rule, "--epochs", "1", *SMALL, "--out", out, "--format", "json")
    metrics = json.loads(proc.stdout)
    assert metrics["rule"] == rule
    # the reported accuracy is the saved checkpoint's (readouts dropped) on the same 48 test samples
    want, labels = checkpoint_predictions(out, limit=48)
    assert metrics["test_accuracy"] == pytest.approx(float((want == labels).mean()))
    conv = run_cli("convert", out / "checkpoint.pt", "--target", "speck2f", "--out", tmp_path / f"b_{rule}")
    assert "auxiliary readout" in conv.stderr
    assert (tmp_path / f"b_{rule}" / "model.nir").is_file()


@pytest.mark.parametrize(
    "args, words",
    [
        (("--feedback-alignment",), "--learning-rule"),
        (("--learning-rule", "ell", "--synop-target", "1e5"), "--synop-target"),
        (("--learning-rule", "ell", "--ann"), "pick one"),
    ],
)
def test_bad_learning_rule_options(tmp_path, args, words):
    proc = run_cli("train", *args, "--epochs", "1", *SMALL, "--out", tmp_path / "r", check=False)
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr


def test_neuron_option_trains_bptt_with_that_neuron_and_convert_refuses_the_leak(tmp_path):
    out = tmp_path / "lif"
    run_cli("train", "--neuron", "lif:beta=0.8", "--epochs", "1", *SMALL, "--out", out)
    spec = torch.load(out / "checkpoint.pt", weights_only=True)["model_spec"]
    assert spec["neuron"]["type"] == "lif" and spec["neuron"]["beta"] == 0.8
    proc = run_cli("convert", out / "checkpoint.pt", "--target", "speck2f", "--out", tmp_path / "b", check=False)
    assert proc.returncode == 4 and "leak" in proc.stderr


def test_decolle_decays_are_per_millisecond_and_training_turns_them_into_decays_per_bin(tmp_path):
    run_cli("train", "--neuron", "decolle", "--epochs", "1", *SMALL, "--out", tmp_path / "bptt")
    spec = torch.load(tmp_path / "bptt" / "checkpoint.pt", weights_only=True)["model_spec"]["neuron"]
    dt_ms = json.loads((tmp_path / "bptt" / "metrics.json").read_text())["dt_us"] / 1000
    assert dt_ms > 1 and spec["step_ms"] == dt_ms
    assert spec["alpha"] == pytest.approx(0.9**dt_ms) and spec["alpha_rp"] == pytest.approx(0.65**dt_ms)
    rule = ("--learning-rule", "ell", "--neuron", "decolle-simple:alpha=0.5,step_ms=2")
    run_cli("train", *rule, "--epochs", "1", *SMALL, "--out", tmp_path / "local")
    metrics = json.loads((tmp_path / "local" / "metrics.json").read_text())
    assert metrics["neuron_params"] == {"alpha": pytest.approx(0.5 ** (metrics["dt_us"] / 2000)), "step_ms": dt_ms}


@pytest.mark.parametrize(
    "value, words", [("lfi", "lif"), ("lif:beta", "no value"), ("lif:beta=x", "cannot read"), ("lif:gamma=1", "gamma")]
)
def test_bad_neuron_option(tmp_path, value, words):
    proc = run_cli("train", "--neuron", value, "--epochs", "1", *SMALL, "--out", tmp_path / "r", check=False)
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr


def test_a_model_yaml_recipe_fills_options_the_command_line_does_not_give(tmp_path):
    import yaml

    from qsnn_deploy.nets.zoo import load_spec

    recipe = load_spec("digits_speck").to_dict() | {"name": "recipe", "train": {"lr_schedule": "multistep", "bits": 4}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    proc = run_cli("train", "--model", path, "--epochs", "1", *SMALL, "--out", tmp_path / "a")
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["lr_schedule"] == "multistep" and set(metrics["weight_bits"].values()) == {4}
    assert "from recipe's YAML: --bits 4, --lr-schedule multistep" in proc.stderr
    run_cli("train", "--model", path, "--lr-schedule", "constant", "--epochs", "1", *SMALL, "--out", tmp_path / "b")
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["lr_schedule"] == "constant"


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"averaged_epochs": [41, 42, 80], "kept": "mean"}, "the mean weights of epochs 41–80 (3), validation"),
        ({"kept": "last epoch"}, "last epoch 80, validation accuracy 97.50%"),
        ({"kept": "best epoch"}, "epoch 80, best validation accuracy 97.50%"),
        ({"kept": "last epoch", "validation_accuracy": None}, "last epoch 80, no validation split"),
    ],
)
def test_the_result_line_names_what_the_run_kept(fields, says):
    from qsnn_deploy.cli.train_cmd import _summary

    m = {
        "test_accuracy": 0.98,
        "float_test_accuracy": 0.98,
        "synops_per_sample": 3e5,
        "bits_label": "int8",
        "selected_epoch": 80,
        "validation_accuracy": 0.975,
        "averaged_epochs": None,
    }
    line = _summary("bptt", m | fields)
    assert says in line, line
    assert ("best validation accuracy" in line) == (fields["kept"] == "best epoch")
