"""Scale computations of the converters on edge values: ANN weight scaling by a subnormal percentile, the
unscaled lower bound of huge weights, batch norm with zero variance, a LIF time constant of zero (issue 15)."""

from pathlib import Path

import numpy as np
import pytest
import sinabs.layers as sl
import torch
from helpers import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from nir_layouts import write_layout
from torch import nn

from qsnn_deploy.convert.ann import scale_weights, unscaled_lower_bound
from qsnn_deploy.convert.from_torch import network_from_module
from qsnn_deploy.convert.nir_import import ImportOptions
from qsnn_deploy.convert.nir_io import read_nir
from qsnn_deploy.errors import InputError


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1e38), st.sampled_from([0.0, 1.4e-45, 1e-40, 1e-300])), min_size=2, max_size=2))
def test_scale_weights_never_leaves_infinite_weights(lambdas):
    """ANN weight scaling by λ_{l−1}/λ_l: a subnormal λ multiplies by up to 7e44, beyond float32."""
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2, 3))
    try:
        scaled = scale_weights(ann, lambdas)
    except InputError as e:
        assert "overflows" in str(e) and "--no-weight-scaling" in str(e)
        return
    for p in scaled.parameters():
        assert torch.isfinite(p).all()


def test_unscaled_lower_bound_stays_finite_for_huge_weights():
    assert unscaled_lower_bound(np.array([[1e307]])) == -np.finfo(np.float64).max
    assert unscaled_lower_bound(np.array([[1e38]])) == pytest.approx(-(2**14) * 1e38 / 127)
    assert unscaled_lower_bound(np.array([[5e-324]])) == -1.0


def test_batchnorm_with_zero_variance_and_eps_is_an_input_error():
    iaf = sl.IAFSqueeze(batch_size=1, spike_threshold=1.0, min_v_mem=-1.0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2, eps=0.0), iaf).eval()
    model[1].running_var.zero_()
    with pytest.raises(InputError, match="batch norm '1' cannot be folded"):
        network_from_module(model, (1, 5, 5))


@pytest.mark.parametrize("field", ["tau", "r"])
def test_lif_time_constant_zero_is_an_input_error(tmp_path, field):
    """τ and r divide in the leak gain r·dt/τ and the default dt = τ/r."""
    nodes = {
        "input": {"type": "Input", "shape": np.array([1, 4, 4])},
        "conv": {
            "type": "Conv2d",
            "input_shape": np.array([4, 4]),
            "weight": np.ones((2, 1, 3, 3)),
            "stride": np.array([1, 1]),
            "padding": np.array([1, 1]),
            "dilation": np.array([1, 1]),
            "groups": np.int64(1),
            "bias": np.zeros(2),
        },
        "lif": {
            "type": "LIF",
            "tau": np.full((2, 4, 4), 1e-3),
            "r": np.full((2, 4, 4), 10.0),
            "v_leak": np.zeros((2, 4, 4)),
            "v_threshold": np.ones((2, 4, 4)),
        },
        "output": {"type": "Output", "shape": np.array([2, 4, 4])},
    }
    nodes["lif"][field] = np.zeros((2, 4, 4))
    write_layout(tmp_path / "g.nir", nodes, [("input", "conv"), ("conv", "lif"), ("lif", "output")], "1.0.8")
    with pytest.raises(InputError, match=f"'{field}' of 'lif' is 0; it must be positive and finite"):
        read_nir(tmp_path / "g.nir", ImportOptions(approximate_leak=True))


# --- bad values in a user's file: exit 3 naming the file and the layer, never "internal error" (exit 1) ---


def _clean_exit_3(proc, *fragments):
    err = proc.stderr.strip()
    assert proc.returncode == 3, err
    assert err.startswith("Error: ") and "internal error" not in err and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_ann_state_dict_with_non_finite_weight_exits_3(tmp_path, bad):
    """A NaN/inf ANN weight used to reach the discretiser's ValueError (exit 1) with --no-weight-scaling."""
    from qsnn_deploy.convert.ann import ann_from_spec
    from qsnn_deploy.nets.zoo import load_spec

    state = ann_from_spec(load_spec("digits_speck")).state_dict()
    name = next(k for k in state if k.endswith(".weight"))
    state[name][0].view(-1)[0] = bad
    torch.save(state, tmp_path / "ann.pt")
    proc = run_cli(
        "convert",
        tmp_path / "ann.pt",
        "--from-ann",
        "digits_speck",
        "--no-weight-scaling",
        "--time-bins",
        "4",
        "--out",
        tmp_path / "b",
        check=False,
    )
    _clean_exit_3(
        proc, f"tensor '{name}' holds NaN or infinite", str(tmp_path / "ann.pt"), f"layer {name.split('.')[0]}"
    )
    assert not (tmp_path / "b").exists()


def test_nir_too_small_for_a_chip_scale_exits_3_naming_file_and_layer(tmp_path):
    """Threshold and weights of 1e-310: every candidate scale overflows float64. The discretiser names the
    layer, convert adds the file."""
    nodes = {
        "input": {"type": "Input", "shape": np.array([1, 4, 4])},
        "conv": {
            "type": "Conv2d",
            "input_shape": np.array([4, 4]),
            "weight": np.full((2, 1, 3, 3), 1e-310),
            "stride": np.array([1, 1]),
            "padding": np.array([1, 1]),
            "dilation": np.array([1, 1]),
            "groups": np.int64(1),
            "bias": np.zeros(2),
        },
        "if": {"type": "IF", "r": np.ones((2, 4, 4)), "v_threshold": np.full((2, 4, 4), 1e-310)},
        "output": {"type": "Output", "shape": np.array([2, 4, 4])},
    }
    path = tmp_path / "tiny.nir"
    write_layout(path, nodes, [("input", "conv"), ("conv", "if"), ("if", "output")], "1.0.8")
    proc = run_cli("convert", path, "--out", tmp_path / "b", check=False)
    _clean_exit_3(proc, "too small for a finite chip scale", f"Where: {path}, layer conv")


def test_sweep_names_the_baseline_whose_drive_overflows(tmp_path, monkeypatch):
    """Percentile normalisation of a baseline with weights near float32's maximum: an InputError naming the
    baseline checkpoint and the layer (was a ValueError: exit 1). The SynOp-target training is stubbed."""
    from qsnn_deploy.nets.checkpoint import save_checkpoint
    from qsnn_deploy.nets.network import SpikingCNN
    from qsnn_deploy.nets.zoo import load_spec
    from qsnn_deploy.train import sweep as sweep_mod
    from qsnn_deploy.train import trainer

    model = SpikingCNN(load_spec("digits_speck"), quantize=False)
    with torch.no_grad():
        model.blocks[0].conv.weight.fill_(3e38)
    save_checkpoint(tmp_path / "base.pt", model, {"dt_us": 1000.0, "time_bins": 3})

    def fake_train(cfg, out, **kwargs):  # the target runs: an ordinary checkpoint the sweep can score
        save_checkpoint(
            Path(out) / "checkpoint.pt", SpikingCNN(load_spec("digits_speck")), {"dt_us": 1000.0, "time_bins": 3}
        )
        return {"test_accuracy": 0.0, "synops_per_sample": 0.0, "validation_accuracy": 0.0}

    monkeypatch.setattr(trainer, "train", fake_train)
    with pytest.raises(InputError, match="input drive of layer 'conv1' overflows") as caught:
        sweep_mod.run_sweep(
            [1e5],
            tmp_path / "s",
            baseline=str(tmp_path / "base.pt"),
            first_layer_factors=[],
            percentiles=[99.0],
            calibration_samples=8,
            limit=8,
            device="cpu",
            progress=False,
            log=lambda *_: None,
        )
    assert caught.value.exit_code == 3 and caught.value.where == f"{tmp_path / 'base.pt'}, layer conv1"
    assert not (tmp_path / "s").exists()
