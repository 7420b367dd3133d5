"""TrainConfig: frozen, checked when made, and the one place the options of `qsnn-deploy train` come from."""

import dataclasses
import subprocess
import sys

import click
import pytest
import yaml
from helpers import run_cli

from qsnn_deploy.errors import UsageError
from qsnn_deploy.train.config import MODEL_DEFAULTS, RECIPE_KEYS, ResolvedConfig, TrainConfig, from_options, options
from qsnn_deploy.train.resume import check_resume_options

# the `train:` keys of a BPTT run's config.yaml (and of its resume state): the file format (keys are added, as
# average_weights was; a file without one reads its default)
RECORD_KEYS = [
    "model",
    "dataset",
    "epochs",
    "batch_size",
    "lr",
    "time_bins",
    "seed",
    "device",
    "quantize",
    "synop_penalty",
    "synop_target",
    "synop_anneal",
    "synop_start",
    "synop_goal",
    "synop_control",
    "average_weights",
    "synop_weights",
    "distill",
    "distill_weight",
    "distill_temperature",
    "limit",
    "bits",
    "bit_budget",
    "init",
    "lr_schedule",
    "lr_period",
    "loss",
    "patience",
    "val_fraction",
    "neuron",
    "data_root",
    "download",
    "window_ms",
    "test_fraction",
    "denoise_us",
    "augment",
    "shift_px",
    "sensor_size",
    "nproc",
]


def test_frozen_and_changed_with_replace():
    cfg = TrainConfig(epochs=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 4  # type: ignore[misc]
    assert dataclasses.replace(cfg, epochs=4).epochs == 4 and cfg.epochs == 3
    with pytest.raises(UsageError, match="must be >= 1"):
        dataclasses.replace(cfg, epochs=0)  # replace checks too


def test_a_bptt_run_records_the_options_of_the_file_format():
    assert list(TrainConfig().record()) == RECORD_KEYS


def test_the_command_has_one_option_per_field_with_its_help():
    from qsnn_deploy.cli.train_cmd import train

    params = {p.name: p for p in train.params}
    for opt in options():
        param = params[opt.name]
        assert param.opts == [opt.flag] and param.help == opt.help
    assert set(params) - {o.name for o in options()} == {
        "seeds",
        "resume",
        "out",
        "overwrite",
        "fmt",
        "progress",
        "quiet",
    }
    assert params["quantize"].opts == ["--no-qat"]
    assert isinstance(params["lr_schedule"].type, click.Choice) and not params["lr_schedule"].show_default
    assert params["dataset"].show_default and params["dataset"].default == "digits-dvs"


def test_methods_and_their_options():
    assert TrainConfig().method == "bptt"
    assert TrainConfig(ann=True).method == "ann"
    assert TrainConfig(integer_only=True).method == "integer-only"
    assert TrainConfig(learning_rule="fell").method == "local-rule"
    with pytest.raises(UsageError, match="--learning-rule ell does not take --bits, --nproc"):
        TrainConfig(learning_rule="ell", bits="4", nproc=2)
    with pytest.raises(UsageError, match="--ann does not take --neuron"):
        TrainConfig(ann=True, neuron="lif")
    TrainConfig(learning_rule="ell", neuron="lif", shift_px=1, lr=1e-3, quantize=False)  # what a local rule takes


def test_the_method_registry_covers_every_method():
    from qsnn_deploy.train.config import METHODS
    from qsnn_deploy.train.trainer import METHODS as REGISTRY

    assert list(REGISTRY) == list(METHODS)


def test_options_and_recipe(tmp_path):
    assert TrainConfig(patience=2).val_fraction == 0.1  # every BPTT run holds out 10% for validation
    cfg = from_options({"model": None, "dataset": "nmnist", "epochs": None}, given={"dataset"})
    assert cfg.model == "auto" and cfg.epochs is None
    recipe = {"name": "r", "input_shape": [2, 34, 34], "n_classes": 10, "dataset": "digits-dvs"}
    recipe |= {"layers": [{"type": "linear", "out_features": 10}], "train": {"loss": "mse-count", "bits": 4}}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    said = []
    cfg = from_options({"model": str(path), "loss": None, "bits": "8"}, given={"model", "bits"}, log=said.append)
    assert cfg.loss == "mse-count" and cfg.bits == "8" and said == ["from r's YAML: --loss mse-count"]
    assert set(recipe["train"]) <= RECIPE_KEYS


def test_resolve_sets_the_model_defaults_in_a_resolved_config():
    from qsnn_deploy.nets.zoo import load_spec

    spec = load_spec("digits_speck")
    cfg = TrainConfig(epochs=3, shift_px=1).resolve(spec)
    defaults = MODEL_DEFAULTS | spec.defaults
    assert isinstance(cfg, ResolvedConfig)
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.time_bins, cfg.shift_px) == (
        3,
        defaults["batch_size"],
        defaults["lr"],
        defaults["time_bins"],
        1,
    )
    assert [f.name for f in dataclasses.fields(cfg)] == [f.name for f in dataclasses.fields(TrainConfig)]
    assert cfg.given() == ["epochs", "batch_size", "lr", "time_bins", "shift_px"]  # against TrainConfig's defaults
    assert ResolvedConfig(**cfg.record()).record() == cfg.record()  # what a resumed run rebuilds
    with pytest.raises(TypeError, match="epochs"):  # a resolved config has them all
        ResolvedConfig(**{k: v for k, v in cfg.record().items() if k != "epochs"})


def test_an_unknown_recipe_key_is_a_bad_model_file(tmp_path):
    recipe = {
        "name": "r",
        "input_shape": [2, 34, 34],
        "n_classes": 10,
        "layers": [{"type": "linear", "out_features": 10}],
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe | {"train": {"lr_shedule": "cosine"}}))
    proc = run_cli("train", "--model", path, "--out", tmp_path / "run", check=False)
    assert (
        proc.returncode == 3 and f"Where: {path}: train" in proc.stderr and "did you mean 'lr_schedule'" in proc.stderr
    )
    assert not (tmp_path / "run").exists()


def test_resume_refuses_what_the_run_does_not_record(tmp_path):
    stored = TrainConfig(epochs=3).record()
    check_resume_options("r", tmp_path / "r", stored, {"epochs": 3, "out": str(tmp_path / "r")})
    with pytest.raises(UsageError, match=r"--no-qat \(the run has quantize=True\); --ann; --seeds"):
        check_resume_options("r", tmp_path / "r", stored, {"quantize": False, "ann": True, "seeds": "0,1"})


def test_the_config_and_its_checks_load_without_torch():
    code = "import sys, qsnn_deploy.train.config as c; c.TrainConfig(); assert 'torch' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
