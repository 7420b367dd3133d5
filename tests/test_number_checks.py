"""The one check of "a finite number" / "a whole number" that the model spec, checkpoint and NIR metadata
readers share (qsnn_deploy/inputs.py), and the values on which the three former copies differed or crashed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from qsnn_deploy.errors import InputError
from qsnn_deploy.inputs import is_number, is_whole_number
from qsnn_deploy.nets.checkpoint import load_checkpoint
from qsnn_deploy.nets.zoo import load_spec, spec_from_dict

REFERENCE = Path(__file__).resolve().parents[1] / "models" / "digits_speck.pt"
HUGE = 10**400  # an int a float cannot hold: math.isfinite and float() raise OverflowError on it


@pytest.mark.parametrize(
    "value, expected",
    [
        (0, True),
        (-3, True),
        (2.5, True),
        (np.float64(2.5), True),
        (2**1000, True),
        (True, False),
        (False, False),
        (float("nan"), False),
        (float("inf"), False),
        (-float("inf"), False),
        (HUGE, False),
        (np.int64(2), False),
        ("1", False),
        (None, False),
        ([1], False),
        (1 + 0j, False),
    ],
)
def test_is_number(value, expected):
    assert is_number(value) is expected


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [
        ((3,), {}, True),
        ((3.0,), {}, False),
        ((3.0,), {"integral_floats": True}, True),
        ((3.5,), {"integral_floats": True}, False),
        ((float("inf"),), {"integral_floats": True}, False),
        ((0, 1), {}, False),
        ((1, 1, 5), {}, True),
        ((5, 1, 5), {}, True),
        ((6, 1, 5), {}, False),
        ((-7, -7, 7), {}, True),
        ((-8, -7, 7), {}, False),
        ((True, 0), {}, False),
        ((HUGE, 0), {}, False),
    ],
)
def test_is_whole_number(args, kwargs, expected):
    assert is_whole_number(*args, **kwargs) is expected


def _spec_dict() -> dict:
    return load_spec("digits_speck").to_dict()


@pytest.mark.parametrize(
    "place, message",
    [
        (("defaults", "lr"), "'defaults.lr' must be a positive number, got"),
        (("defaults", "epochs"), "'defaults.epochs' must be an integer >= 1, got"),
        (("input_shape",), "'input_shape' must be an integer in 1.."),
        (("neuron", "threshold"), "'neuron.threshold' must be a positive number, got"),
    ],
)
def test_model_spec_refuses_an_int_beyond_a_float(place, message):
    """A 400-digit integer in a model YAML was an OverflowError (exit 1) where a number is expected."""
    data = _spec_dict()
    if place == ("input_shape",):
        data["input_shape"] = [2, HUGE, 32]
    else:
        data[place[0]][place[1]] = HUGE
    with pytest.raises(InputError, match=message):
        spec_from_dict(data, "model.yaml")


def test_neuron_parameter_beyond_a_float_is_refused():
    data = _spec_dict()
    data["neuron"] = {"type": "lif", "beta": HUGE}
    with pytest.raises(InputError, match="neuron parameter 'beta' must be a finite number"):
        spec_from_dict(data, "model.yaml")


@pytest.mark.parametrize(
    "key, value",
    [
        ("dt_us", HUGE),
        ("duration_us", float("nan")),
        ("time_bins", 0),
        ("time_bins", 2.0),
        ("auxiliary_readouts", True),
    ],
)
def test_checkpoint_entries(tmp_path, key, value):
    payload = torch.load(REFERENCE, map_location="cpu", weights_only=True)
    path = tmp_path / "checkpoint.pt"
    torch.save({**payload, key: value}, path)
    with pytest.raises(InputError, match=f"checkpoint '.*checkpoint.pt' is damaged: '{key}' is") as err:
        load_checkpoint(path)
    assert err.value.exit_code == 3
