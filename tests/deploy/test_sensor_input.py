"""The chip's DVS stage for ``deploy --live``: from the options, from the model's training data, or centred."""

from __future__ import annotations

import numpy as np
import pytest

from qsnn_deploy.data.events import EVENT_DTYPE
from qsnn_deploy.data.origin import origin_record
from qsnn_deploy.deploy.sensor_input import dvs_layer_fields, live_input, replay_stage
from qsnn_deploy.emulate.sensor import SensorStage
from qsnn_deploy.errors import ConstraintError, InputError, UsageError
from qsnn_deploy.ir import ChipLayer, Network

SPECK = (128, 128, 2)


def net_for(c: int, h: int, w: int, **metadata) -> Network:
    """One strided conv on a (c, h, w) input; ``metadata`` as training writes it."""
    layer = ChipLayer("c1", np.ones((3, c, 3, 3)), (c, h, w), stride=2)
    return Network((layer,), (c, h, w), dt_us=1000.0, metadata=dict(metadata))


@pytest.mark.parametrize(
    "size, origin, want",
    [
        # recorded on a 128x128 sensor, pooled by 4 in training: the DVS layer pools by 4
        ((2, 32, 32), origin_record(SPECK, (4, 4)), SensorStage(pool=4)),
        # one channel: polarities merged
        ((1, 64, 64), origin_record(SPECK, (2, 2)), SensorStage(pool=2, merge_polarity=True)),
        # recorded with pooling 2 and a flip, pooled by 2 more in training: one DVS stage of pool 4
        (
            (2, 32, 32),
            origin_record(SPECK, (2, 2), SensorStage(pool=2, flip_x=True).to_dict()),
            SensorStage(pool=4, flip_x=True),
        ),
        # recorded with a region of interest, not pooled in training: the same region
        (
            (2, 40, 50),
            origin_record(SPECK, (1, 1), SensorStage(pool=2, roi=(3, 4, 50, 40)).to_dict()),
            SensorStage(pool=2, roi=(3, 4, 50, 40)),
        ),
    ],
)
def test_the_stage_follows_the_training_data(size, origin, want):
    got = live_input(net_for(*size, input_stage=origin, dataset="folder:x"), SPECK)
    assert got.how == "training data" and got.stage == want and got.notes == ()


@pytest.mark.parametrize(
    "size, origin, pool, roi",
    [
        ((2, 34, 34), origin_record((34, 34, 2), synthetic=True), 2, (15, 15, 34, 34)),  # digits-dvs
        ((2, 32, 32), origin_record((34, 34, 2), synthetic=True), 4, None),
        ((2, 12, 12), None, 4, (10, 10, 12, 12)),  # a model without the record (e.g. an imported NIR graph)
        ((2, 90, 120), origin_record((240, 180, 2), (2, 2)), 1, (4, 19, 120, 90)),  # DAVIS240 data
    ],
)
def test_other_data_gets_the_widest_centred_view_and_a_note(size, origin, pool, roi):
    meta = {"dataset": "somewhere"} if origin is None else {"input_stage": origin, "dataset": "somewhere"}
    got = live_input(net_for(*size, **meta), SPECK)
    assert got.how == "centred view" and got.stage == SensorStage(pool=pool, roi=roi)
    assert got.stage.output_size(SPECK) == (size[2], size[1], size[0])
    (note,) = got.notes
    assert "expect lower accuracy" in note and "qsnn-deploy record" in note and "somewhere" in note


def test_options_win_and_must_give_the_model_input():
    net = net_for(2, 32, 32, input_stage=origin_record(SPECK, (4, 4)))
    mine = SensorStage(pool=2, roi=(16, 16, 32, 32), flip_y=True)
    assert live_input(net, SPECK, mine).stage == mine and live_input(net, SPECK, mine).how == "options"
    with pytest.raises(UsageError, match=r"into 64x64x2 .* model takes 32x32x2"):  # the user's options: exit 2
        live_input(net, SPECK, SensorStage(pool=2))
    with pytest.raises(UsageError, match="exceeds the 64x64 pooled sensor"):
        live_input(net, SPECK, SensorStage(pool=2, roi=(40, 0, 32, 32)))


@pytest.mark.parametrize(
    "size, origin, match",
    [
        ((2, 16, 16), origin_record(SPECK, (8, 8)), "pooled by 8; the chip's DVS layer pools by 1, 2, 4"),
        ((2, 32, 16), origin_record(SPECK, (4, 8)), "pools both alike"),
        (
            (2, 16, 16),
            origin_record(SPECK, (2, 2), SensorStage(pool=2, roi=(0, 0, 32, 32)).to_dict()),
            "crops after pooling once",
        ),
        ((3, 32, 32), None, "3 input channels"),
        ((2, 130, 130), None, "larger than the chip's 128x128 sensor"),
    ],
)
def test_what_the_dvs_layer_cannot_do_is_exit_4(size, origin, match):
    meta = {} if origin is None else {"input_stage": origin}
    with pytest.raises(ConstraintError, match=match) as err:
        live_input(net_for(*size, **meta), SPECK)
    assert err.value.exit_code == 4 and err.value.fix


def test_a_damaged_record_is_bad_input_and_no_sensor_is_usage():
    with pytest.raises(InputError, match="input_stage") as err:
        live_input(net_for(2, 32, 32, input_stage={"sensor_size": "big"}, source="m.nir"), SPECK)
    assert "m.nir" in err.value.message
    with pytest.raises(UsageError, match="no on-chip sensor"):
        live_input(net_for(2, 32, 32), None)


def test_dvs_layer_fields_as_sinabs_writes_them():
    """origin = the region's first column/row, cut = its last, both after pooling (sinabs dvs_layer.py)."""
    fields = dvs_layer_fields(SensorStage(pool=2, roi=(3, 4, 50, 40), flip_x=True), SPECK, 5)
    assert fields == {
        "pooling": {"x": 2, "y": 2},
        "origin": {"x": 3, "y": 4},
        "cut": {"x": 52, "y": 43},
        "mirror": {"x": True, "y": False},
        "mirror_diagonal": False,
        "merge": False,
        "pass_sensor_events": True,
        "monitor_enable": False,
        "destinations": [{"layer": 5, "enable": True}],
    }
    whole = dvs_layer_fields(SensorStage(merge_polarity=True), SPECK, None, monitor=True)
    assert whole["cut"] == {"x": 127, "y": 127} and whole["merge"] and whole["monitor_enable"]
    assert whole["destinations"] == []


def _events(xmax: int, ymax: int, p: int = 2) -> np.ndarray:
    ev = np.zeros(3, EVENT_DTYPE)
    ev["x"], ev["y"], ev["p"], ev["t"] = [0, xmax, 1], [0, 1, ymax], [0, p - 1, 0], [0, 1, 2]
    return ev


def test_a_replayed_recording_gets_the_stage_it_needs():
    # trained on takes recorded with pooling 2 (64x64 files), pooled by 2 more in training: a 32x32 model
    rec = origin_record(SPECK, (2, 2), SensorStage(pool=2).to_dict())
    net = net_for(2, 32, 32, input_stage=rec)
    assert replay_stage(net, _events(31, 31)) is None  # fits the model as it is
    assert replay_stage(net, _events(63, 40)) == (SensorStage(pool=2), (64, 64, 2))  # a take: the loader's pooling
    assert replay_stage(net, _events(127, 3)) == (SensorStage(pool=4), SPECK)  # a raw recording: the whole stage
    assert replay_stage(net, _events(128, 3)) is None  # not from that sensor
    one = net_for(1, 32, 32, input_stage=rec)
    assert replay_stage(one, _events(63, 0)) == (SensorStage(pool=2, merge_polarity=True), (64, 64, 2))
    assert replay_stage(one, _events(31, 31)) is None  # x, y fit: a polarity mismatch is the emulator's exit 3
    assert (
        replay_stage(net_for(2, 32, 32, input_stage=origin_record((34, 34, 2), synthetic=True)), _events(33, 0)) is None
    )
    with pytest.raises(ConstraintError, match="pooled by 8x8"):
        replay_stage(net_for(2, 16, 16, input_stage=origin_record(SPECK, (8, 8))), _events(127, 0))
