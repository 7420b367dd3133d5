"""Where a dataset comes from (``input_stage``) and the recording description ``record`` writes."""

from __future__ import annotations

import json

import pytest
from byte_mutations import damaged, loads_or_names_file
from hypothesis import HealthCheck, given, settings
from test_folder import make_folder

from qsnn_deploy.data import load_dataset
from qsnn_deploy.data.folder import load_folder
from qsnn_deploy.data.options import DataOptions
from qsnn_deploy.data.origin import (
    RECORDING_FILE,
    check_origin,
    check_stage,
    origin_record,
    read_recording_info,
    write_recording_info,
)
from qsnn_deploy.errors import InputError

STAGE = {"pool": 2, "roi": [1, 2, 30, 31], "flip_x": True, "flip_y": False, "merge_polarity": False}
DESCRIPTION = {
    "format": "qsnn-deploy-recording",
    "schema_version": 1,
    "sensor_size": [128, 128, 2],
    "stage": STAGE,
    "output_size": [64, 64, 2],
    "device": "speck2fdevkit:0",
}


def test_the_builtin_data_says_it_is_generated():
    ds = load_dataset("digits-dvs", "test", progress=False)
    assert ds.origin == {"sensor_size": [34, 34, 2], "stage": None, "downsample": [1, 1], "synthetic": True}
    assert ds.head(3).origin == ds.origin


def test_a_folder_records_its_sensor_and_pooling(tmp_path):
    make_folder(tmp_path, w=30, h=31)
    ds = load_folder(tmp_path, "train", progress=False, log=lambda m: None)
    assert ds.origin == origin_record((30, 31, 2))
    pooled = load_folder(tmp_path, "train", options=DataOptions(input_size=(15, 16)), progress=False, log=len)
    assert pooled.origin == origin_record((30, 31, 2), (2, 2)) and pooled.sensor_size == (15, 16, 2)


def test_the_recording_description_sets_the_sensor_size(tmp_path):
    """Recordings that reach only part of the sensor are not taken for a smaller sensor."""
    make_folder(tmp_path, w=30, h=31)
    write_recording_info(tmp_path, (128, 128, 2), STAGE, (30, 31, 2), "speck2fdevkit:0")
    logs: list[str] = []
    ds = load_folder(tmp_path, "test", progress=False, log=logs.append)
    assert ds.sensor_size == (30, 31, 2) and any(RECORDING_FILE in m for m in logs)
    assert ds.origin == origin_record((128, 128, 2), (1, 1), STAGE)
    write_recording_info(tmp_path, (128, 128, 2), None, (64, 64, 2), "speck2fdevkit:0")
    assert load_folder(tmp_path, "test", progress=False, log=logs.append).sensor_size == (64, 64, 2)
    write_recording_info(tmp_path, (128, 128, 2), None, (20, 20, 2), "speck2fdevkit:0")
    with pytest.raises(InputError, match="outside"):  # the events do not fit the size it gives
        load_folder(tmp_path, "test", progress=False, log=logs.append)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        {"pool": 3, "roi": None, "flip_x": False, "flip_y": False, "merge_polarity": False},
        {"pool": 1, "roi": [0, 0, 0, 4], "flip_x": False, "flip_y": False, "merge_polarity": False},
        {"pool": 1, "roi": None, "flip_x": 1, "flip_y": False, "merge_polarity": False},
        {"pool": 1, "roi": None, "flip_x": False},
    ],
)
def test_bad_origins_are_refused(bad):
    good = origin_record((128, 128, 2), (4, 4), STAGE)
    assert check_origin(good, "here") == good and check_stage(None, "here") is None
    if bad is None:
        for broken in ({**good, "sensor_size": [128, 128]}, {**good, "downsample": [0, 1]}, [], {**good, "x": 1}):
            with pytest.raises(InputError, match="input_stage"):
                check_origin(broken, "here")
        return
    with pytest.raises(InputError, match="sensor stage"):
        check_origin({**good, "stage": bad}, "here")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=damaged(json.dumps(DESCRIPTION).encode()))
def test_any_bytes_in_the_recording_description_read_or_name_it(tmp_path_factory, raw):
    folder = tmp_path_factory.mktemp("rec")
    got = loads_or_names_file(lambda p: read_recording_info(p.parent), folder / RECORDING_FILE, raw)
    assert got is None or set(got) >= {"sensor_size", "stage", "output_size", "device"}


def test_a_newer_description_says_to_upgrade(tmp_path):
    (tmp_path / RECORDING_FILE).write_text(json.dumps({"format": "qsnn-deploy-recording", "schema_version": 9}))
    with pytest.raises(InputError, match="upgrade qsnn-deploy"):
        read_recording_info(tmp_path)
    assert read_recording_info(tmp_path / "nothing") is None
