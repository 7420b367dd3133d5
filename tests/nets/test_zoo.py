"""The model zoo: every shipped model loads; bad model files give clear errors."""

from pathlib import Path

import pytest

from qsnn_deploy.errors import InputError
from qsnn_deploy.nets.zoo import RECIPE_KEYS, load_spec, zoo_names


def test_digits_speck_shapes():
    spec = load_spec("digits_speck")
    assert spec.input_shape == (2, 34, 34) and spec.n_classes == 10
    assert spec.layer_input_shapes() == [(2, 34, 34), (16, 17, 17), (32, 8, 8), (32, 4, 4)]
    assert spec.layers[-1].type == "linear"


@pytest.mark.parametrize("name", zoo_names())
def test_every_zoo_model_builds(name):
    from qsnn_deploy.nets.network import SpikingCNN

    spec = load_spec(name)
    net = SpikingCNN(spec).to_network(1000.0)
    assert net.n_classes == spec.n_classes


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "name: x\ninput_shape: [2, 8, 8]\nlayers: [{type: conv, out_channels: 4, kernal_size: 3}]",
            "unknown key 'kernal_size'.*did you mean 'kernel_size'",
        ),
        ("name: x\ninput_shape: [2, 8]\nlayers: [{type: conv, out_channels: 4}]", r"'input_shape' must be \[C, H, W\]"),
        ("name: x\ninput_shape: [2, 8, 8]\nlayers: [{type: pool}]", "each layer needs 'type: conv' or 'type: linear'"),
        ("name: x\ninput_shape: [2, 8, 8]\nlayers: [{type: conv, out_channels: 4, kernel_size: 9}]", "shrinks"),
        ("name: [unclosed", "not valid YAML"),
    ],
)
def test_bad_model_files(tmp_path, text, message):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_spec(path)


def test_unknown_zoo_name_suggests():
    with pytest.raises(InputError, match="did you mean 'digits_speck'"):
        load_spec("digit_speck")


def test_recipe_keys_are_the_train_options_a_recipe_may_set():
    from qsnn_deploy.train.config import RECIPE_KEYS as TRAIN_RECIPE_KEYS

    assert RECIPE_KEYS == TRAIN_RECIPE_KEYS


def test_an_unknown_recipe_key_is_refused_when_the_yaml_is_read(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "models" / "nmnist_speck.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("train: {window_ms: 300}", "train: {window_ms: 300, lr_shedule: cosine}", 1))
    with pytest.raises(InputError, match="unknown key 'lr_shedule'") as exc:
        load_spec(bad)
    assert "lr_schedule" in str(exc.value.fix)
