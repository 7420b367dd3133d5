"""The model zoo: every shipped model loads; bad model files give clear errors."""

import pytest

from qsnn_deploy.errors import InputError
from qsnn_deploy.nets.zoo import load_spec, zoo_names


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
