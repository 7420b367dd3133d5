"""Event validation and event-file reading: happy paths and every error path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from qsnn_deploy.data.events import EVENT_DTYPE, EventInput, read_event_file, validate_events
from qsnn_deploy.errors import InputError

SENSOR = (34, 34, 2)


def make_events(n=5, dtype=EVENT_DTYPE, sort=True):
    ev = np.zeros(n, dtype=dtype)
    ev["x"] = np.arange(n) % 34
    ev["y"] = (np.arange(n) * 7) % 34
    ev["t"] = np.arange(n) * 100 if sort else np.arange(n)[::-1] * 100
    ev["p"] = np.arange(n) % 2
    return ev


# ---- validate_events -------------------------------------------------------------------


def test_validate_casts_other_integer_dtypes_and_drops_extra_fields():
    dt = np.dtype([("t", "<u8"), ("x", "u1"), ("y", "<i4"), ("p", "?"), ("extra", "<f4")])
    ev = make_events(6, dt)
    out = validate_events(ev, SENSOR, "here")
    assert out.dtype == EVENT_DTYPE
    assert np.array_equal(out["x"], ev["x"]) and np.array_equal(out["p"], ev["p"].astype(int))


def test_validate_sorts_unsorted_times_with_warning():
    ev = make_events(5, sort=False)
    with pytest.warns(UserWarning, match="here: event timestamps were not sorted"):
        out = validate_events(ev, SENSOR, "here")
    assert np.all(np.diff(out["t"]) >= 0)
    assert sorted(out["x"].tolist()) == sorted(ev["x"].tolist())


def test_validate_sorted_input_gives_no_warning_and_empty_is_fine():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(validate_events(make_events(4), SENSOR, "w")) == 4
        assert len(validate_events(np.zeros(0, EVENT_DTYPE), SENSOR, "w")) == 0


def test_validate_without_sensor_size_only_checks_signs():
    ev = make_events(3)
    ev["x"][0] = 1000
    assert validate_events(ev, None, "w")["x"][0] == 1000


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "x",
            34,
            "Event field 'x' reaches 34, outside the sensor (width 34, sensor size "
            "(34, 34, 2)). Where: f.npy. Fix: use the sensor size of the recording, or "
            "drop events with x >= 34.",
        ),
        (
            "y",
            40,
            "Event field 'y' reaches 40, outside the sensor (height 34, sensor size "
            "(34, 34, 2)). Where: f.npy. Fix: use the sensor size of the recording, or "
            "drop events with y >= 34.",
        ),
        (
            "p",
            2,
            "Event field 'p' reaches 2, outside the sensor (number of polarities 2, "
            "sensor size (34, 34, 2)). Where: f.npy. Fix: use the sensor size of the "
            "recording, or drop events with p >= 2.",
        ),
        (
            "p",
            -1,
            "Event field 'p' has negative values (min -1). Where: f.npy. Fix: map OFF "
            "events to p=0 and ON events to p=1.",
        ),
        (
            "t",
            -5,
            "Event field 't' has negative values (min -5). Where: f.npy. Fix: events "
            "must have non-negative t; shift or drop the offending events.",
        ),
    ],
)
def test_validate_out_of_range(field, value, message):
    ev = make_events(4)
    ev[field][2] = value
    with pytest.raises(InputError) as err:
        validate_events(ev, SENSOR, "f.npy")
    assert str(err.value) == message
    assert err.value.exit_code == 3


def test_validate_missing_field():
    ev = np.zeros(3, dtype=[("x", "<i2"), ("y", "<i2"), ("ts", "<i8"), ("p", "<i1")])
    with pytest.raises(InputError) as err:
        validate_events(ev, SENSOR, "f.npy")
    assert str(err.value) == (
        "Events lack the field(s) t (found: x, y, ts, p). Where: f.npy. Fix: store events "
        "with fields x, y, t (microseconds) and p."
    )


def test_validate_float_field_and_bad_shapes():
    dt = [("x", "<i2"), ("y", "<i2"), ("t", "<f8"), ("p", "<i1")]
    with pytest.raises(InputError, match="Event field 't' has dtype float64, not an integer"):
        validate_events(np.zeros(2, dt), SENSOR, "f")
    with pytest.raises(InputError, match="must be a 1-D array, got shape \\(2, 2\\)"):
        validate_events(np.zeros((2, 2), EVENT_DTYPE), SENSOR, "f")
    with pytest.raises(InputError, match="not a structured array"):
        validate_events(np.zeros((3, 4)), SENSOR, "f")
    with pytest.raises(InputError, match="not three positive integers"):
        validate_events(make_events(2), (34, 34), "f")


# ---- read_event_file: happy paths ------------------------------------------------------


def test_read_events_file(tmp_path):
    path = tmp_path / "rec.npy"
    np.save(path, make_events(7))
    got = read_event_file(path, SENSOR)
    assert got.kind == "events" and got.raster is None
    assert got.events.dtype == EVENT_DTYPE and len(got.events) == 7
    assert read_event_file(str(path)).kind == "events"  # str path, no sensor size


def test_read_unsorted_events_file_warns_with_path(tmp_path):
    path = tmp_path / "rec.npy"
    np.save(path, make_events(5, sort=False))
    with pytest.warns(UserWarning, match=str(path)):
        got = read_event_file(path)
    assert np.all(np.diff(got.events["t"]) >= 0)


@pytest.mark.parametrize("shape", [(3, 2, 34, 34), (4, 3, 2, 34, 34)])
@pytest.mark.parametrize("dtype", ["u1", "i4", "f4", "f8", "?"])
def test_read_raster_file(tmp_path, shape, dtype):
    path = tmp_path / "raster.npy"
    np.save(path, (np.arange(np.prod(shape)) % 3).reshape(shape).astype(dtype))
    got = read_event_file(path, SENSOR)
    assert got.kind == "raster" and got.events is None
    assert got.raster.dtype == np.float32
    assert got.raster.shape == (shape if len(shape) == 5 else (1, *shape))


def test_event_input_is_consistent():
    with pytest.raises(ValueError):
        EventInput("raster", raster=np.zeros((2, 2, 2, 2), np.float32))
    with pytest.raises(ValueError):
        EventInput("video")


# ---- read_event_file: error paths (the message names the file) --------------------------


def expect_error(path, message, sensor_size=None):
    with pytest.raises(InputError) as err:
        read_event_file(path, sensor_size)
    assert str(err.value) == message
    assert str(path) in str(err.value)
    assert err.value.exit_code == 3


def test_missing_file(tmp_path):
    path = tmp_path / "nope.npy"
    expect_error(
        path, f"Event file not found. Where: {path}. Fix: check the path (it is relative to the current directory)."
    )


def test_directory(tmp_path):
    path = tmp_path / "dir.npy"
    path.mkdir()
    expect_error(path, f"Event input is not a file. Where: {path}. Fix: pass a .npy file, not a directory.")


@pytest.mark.parametrize("name", ["rec.txt", "rec"])
def test_wrong_extension(tmp_path, name):
    path = tmp_path / name
    path.write_text("x")
    suffix = path.suffix or "(none)"
    expect_error(
        path,
        f"Unsupported event file type '{suffix}'. Where: {path}. Fix: use one "
        "of: .npy (structured events x, y, t, p or a raster (T, C, H, W) / "
        "(N, T, C, H, W)).",
    )


def test_corrupt_file(tmp_path):
    path = tmp_path / "bad.npy"
    path.write_bytes(b"this is not numpy at all")
    expect_error(
        path,
        "The file is not a .npy array (it lacks the NumPy header); it may be "
        f"corrupt or in another format. Where: {path}. Fix: re-save it with "
        "np.save(path, array).",
    )


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.npy"
    np.save(path, make_events(100))
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(InputError) as err:
        read_event_file(path)
    assert str(err.value).startswith("The file could not be read as a .npy array; it may be truncated or corrupt")
    assert str(err.value).endswith(f"Where: {path}. Fix: re-save it with np.save(path, array).")


def test_bad_header(tmp_path):
    path = tmp_path / "hdr.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': garbage}")
    with pytest.raises(InputError) as err:
        read_event_file(path)
    assert str(err.value).startswith("The file ")
    assert str(err.value).endswith(f"Where: {path}. Fix: re-save it with np.save(path, array).")


def test_pickled_objects_are_never_loaded(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    expect_error(
        path,
        "The file holds Python objects, which are never loaded (loading them "
        f"could run code). Where: {path}. Fix: save a plain numeric or "
        "structured array (no object dtype) with np.save.",
    )


def test_npz_archive_named_npy(tmp_path):
    path = tmp_path / "arch.npy"
    with open(path, "wb") as f:
        np.savez(f, a=np.zeros(3))
    expect_error(
        path,
        f"The file is an .npz archive, not a single .npy array. Where: {path}. "
        "Fix: save one array with np.save (events or a raster) and pass that file.",
    )


def test_wrong_ndim(tmp_path):
    path = tmp_path / "img.npy"
    np.save(path, np.zeros((34, 34)))
    expect_error(
        path,
        "The array has 2 dimension(s) (34, 34); a raster needs shape "
        f"(T, C, H, W) or (N, T, C, H, W). Where: {path}. Fix: save spike counts "
        "with shape (T, C, H, W) or (N, T, C, H, W), or save events as a "
        "structured array with fields x, y, t, p.",
    )


def test_wrong_dtype(tmp_path):
    path = tmp_path / "c.npy"
    np.save(path, np.zeros((1, 2, 3, 3), np.complex64))
    expect_error(
        path,
        f"The raster has dtype complex64, not a number type. Where: {path}. "
        "Fix: save spike counts as an integer or float array.",
    )


def test_negative_raster(tmp_path):
    path = tmp_path / "neg.npy"
    r = np.zeros((2, 2, 3, 3), np.float32)
    r[1, 0, 2, 2] = -1.5
    np.save(path, r)
    expect_error(
        path,
        "The raster has negative values (min -1.5); spike counts cannot be "
        f"negative. Where: {path}. Fix: clip the raster at 0 or split signed "
        "values into two polarity channels.",
    )


def test_nan_and_empty_raster(tmp_path):
    path = tmp_path / "nan.npy"
    np.save(path, np.full((1, 1, 2, 2), np.nan))
    expect_error(
        path,
        f"The raster contains NaN or infinite values. Where: {path}. Fix: "
        "replace them with finite non-negative spike counts.",
    )
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros((0, 2, 3, 3)))
    expect_error(
        path,
        f"The raster is empty (shape (0, 2, 3, 3)). Where: {path}. Fix: save at "
        "least one time step, channel and pixel.",
    )


def test_raster_sensor_mismatch(tmp_path):
    path = tmp_path / "r.npy"
    np.save(path, np.zeros((3, 2, 28, 28)))
    expect_error(
        path,
        "The raster's (C, H, W) = (2, 28, 28) does not match the sensor size "
        f"(W, H, P) = (34, 34, 2). Where: {path}. Fix: save the raster with "
        "(C, H, W) = (2, 34, 34) or give the matching sensor size.",
        SENSOR,
    )


def test_events_outside_sensor_in_file(tmp_path):
    path = tmp_path / "big.npy"
    ev = make_events(3)
    ev["x"][1] = 50
    np.save(path, ev)
    expect_error(
        path,
        "Event field 'x' reaches 50, outside the sensor (width 34, sensor size "
        f"(34, 34, 2)). Where: {path}. Fix: use the sensor size of the recording, "
        "or drop events with x >= 34.",
        SENSOR,
    )
