"""Event readers on any bytes: every format of ``data.formats`` and the ``.npy`` input files load to valid
events (or a raster) or give an InputError naming the file; headers and packets that claim more data than
the file holds are refused before anything is allocated."""

from __future__ import annotations

import io
import struct
import tracemalloc

import numpy as np
import pytest
from byte_mutations import damaged, loads_or_names_file
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_formats import aedat2_bytes, aedat4_bytes, aedat31_bytes, make_events, nmnist_bytes

from qsnn_deploy.data import formats
from qsnn_deploy.data.events import EVENT_DTYPE, read_event_file
from qsnn_deploy.data.formats import AEDAT4_MAX_PACKET, AEDAT4_MIN_BUDGET, read_recording
from qsnn_deploy.errors import InputError

CHEAP = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
EVENTS = make_events(n=30, w=128, h=128)


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


VALID = {
    "n.bin": (nmnist_bytes(EVENTS), b""),
    "a.aedat4": (aedat4_bytes(EVENTS), b"#!AER-DAT4.0\r\n"),
    "lz4.aedat4": (aedat4_bytes(EVENTS, compression=1), b"#!AER-DAT4.0\r\n"),
    "zstd.aedat4": (aedat4_bytes(EVENTS, compression=3), b"#!AER-DAT4.0\r\n"),
    "v2.aedat": (aedat2_bytes(EVENTS), b"#!AER-DAT2.0\r\n"),
    "v31.aedat": (aedat31_bytes(EVENTS), b"#!AER-DAT3.1\r\n#!END-HEADER\r\n"),
    "e.npy": (_npy(EVENTS), b"\x93NUMPY"),
}


def _events(path):
    ev = read_recording(path)
    assert ev.dtype == EVENT_DTYPE and ev.ndim == 1 and ev.size > 0
    assert np.all(np.diff(ev["t"]) >= 0) and ev["x"].min() >= 0 and ev["y"].min() >= 0
    return ev


@pytest.mark.filterwarnings("ignore::UserWarning")  # unsorted timestamps are sorted with a warning
@pytest.mark.parametrize("name", sorted(VALID))
@CHEAP
@given(data=st.data())
def test_recording_readers_on_damaged_bytes(tmp_path, name, data):
    raw, magic = VALID[name]
    loads_or_names_file(_events, tmp_path / name, data.draw(damaged(raw, prefix=magic)))


RASTER = (np.random.default_rng(0).random((3, 2, 8, 8)) < 0.3).astype(np.float32)


def _input(path):
    got = read_event_file(path)
    if got.kind == "raster":
        assert got.raster.ndim == 5 and np.all(np.isfinite(got.raster)) and got.raster.min() >= 0
    else:
        assert got.events.dtype == EVENT_DTYPE
    return got


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("arr", [EVENTS, RASTER], ids=["events", "raster"])
@CHEAP
@given(data=st.data())
def test_npy_input_files_on_damaged_bytes(tmp_path, arr, data):
    raw = _npy(arr)
    loads_or_names_file(_input, tmp_path / "input.npy", data.draw(damaged(raw, prefix=raw[:10])))


def _npy_header(dtype, shape) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


@pytest.mark.parametrize("dtype, shape", [(EVENT_DTYPE, (10**9,)), ("<f4", (10**3, 10, 2, 128, 128))])
def test_npy_claiming_a_billion_values_is_refused_from_its_header(tmp_path, dtype, shape):
    path = tmp_path / "huge.npy"
    path.write_bytes(_npy_header(dtype, shape) + bytes(64))
    with pytest.raises(InputError, match=r"its header claims shape") as err:
        read_event_file(path)
    assert str(path) in err.value.message


def test_aedat31_packet_claiming_a_billion_events_is_refused(tmp_path):
    head = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n"
    packet = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 10**9, 10**9, 10**9) + bytes(64)
    (tmp_path / "huge.aedat").write_bytes(head + packet)
    with pytest.raises(InputError, match="announces 8000000000 bytes") as err:
        read_recording(tmp_path / "huge.aedat")
    assert str(tmp_path / "huge.aedat") in err.value.message


@pytest.mark.parametrize("compression", [1, 3], ids=["lz4", "zstd"])
def test_aedat4_packet_that_decompresses_without_bound_is_refused(tmp_path, compression):
    """A compression bomb: kilobytes that expand past the packet cap are cut at the cap, then refused."""
    from test_formats import _compressor, _fb_ioheader

    bomb = _compressor(compression)(bytes(AEDAT4_MAX_PACKET + 4096))
    raw = b"#!AER-DAT4.0\r\n" + _fb_ioheader(compression, -1, "") + struct.pack("<iI", 0, len(bomb)) + bomb
    path = tmp_path / "bomb.aedat4"
    path.write_bytes(raw)
    assert len(raw) < 2**20
    with pytest.raises(InputError, match="expands? to more than") as err:
        read_recording(path)
    assert str(path) in err.value.message


def _zero_events_packet(n: int) -> bytes:
    """A valid size-prefixed EVTS flatbuffer of ``n`` all-zero events (x = y = t = 0, OFF): it compresses to
    almost nothing."""
    from test_formats import _fb_event_packet

    head = _fb_event_packet(np.zeros(0, EVENT_DTYPE))[4:-4]  # without its size prefix and its count (0)
    buf = head + struct.pack("<I", n) + bytes(16 * n)
    return struct.pack("<I", len(buf)) + buf


def _aedat4_of_packets(compression: int, packet: bytes, count: int) -> bytes:
    from test_formats import _compressor, _fb_ioheader

    pk = _compressor(compression)(packet)
    return b"#!AER-DAT4.0\r\n" + _fb_ioheader(compression, -1, "") + (struct.pack("<iI", 0, len(pk)) + pk) * count


@pytest.mark.parametrize("packet_mib", [4, 64])
def test_aedat4_packets_expanding_past_the_file_budget_are_refused_before_allocating(tmp_path, packet_mib):
    """Issue 15: 32 ZSTD packets of valid zero events, each within the packet cap, expand to 128 MiB or 2 GiB
    from a file of a few KB; the reader stops at its budget (16 MiB for a small file), before holding them."""
    n = (min(packet_mib * 2**20, AEDAT4_MAX_PACKET) - 64) // 16
    raw = _aedat4_of_packets(3, _zero_events_packet(n), 32)
    path = tmp_path / "bomb.aedat4"
    path.write_bytes(raw)
    assert len(raw) < 2**17 and 32 * 16 * n > 7 * AEDAT4_MIN_BUDGET  # a file of KBs
    tracemalloc.start()
    try:
        with pytest.raises(
            InputError,
            match=rf"expand to more than {AEDAT4_MIN_BUDGET} bytes, the most read from "
            rf"a file of {len(raw)} bytes",
        ) as err:
            read_recording(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in err.value.message
    assert peak < 3 * AEDAT4_MIN_BUDGET, f"{peak} bytes held while refusing"


def test_aedat4_budget_grows_with_the_file(tmp_path, monkeypatch):
    """Without the floor, the budget is AEDAT4_MAX_EXPANSION x the file size: random events (ZSTD compresses
    them ~3x) are read; zero events (~1000x) are refused."""
    monkeypatch.setattr(formats, "AEDAT4_MIN_BUDGET", 0)
    ev = make_events(n=2000, w=346, h=260)
    good = tmp_path / "events.aedat4"
    good.write_bytes(aedat4_bytes(ev, chunks=4, compression=3))
    assert np.array_equal(read_recording(good)["t"], np.sort(ev["t"]))
    bad = tmp_path / "zeros.aedat4"
    bad.write_bytes(_aedat4_of_packets(3, _zero_events_packet(2**16), 4))
    with pytest.raises(InputError, match="compression bomb") as err:
        read_recording(bad)
    assert str(bad) in err.value.message
    assert 4 * 16 * 2**16 > formats.AEDAT4_MAX_EXPANSION * bad.stat().st_size


@CHEAP
@given(raw=st.binary(max_size=512))
@example(raw=b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4',")  # a header cut inside its dict (tokenize error)
def test_npy_header_parser_on_random_headers(tmp_path, raw):
    loads_or_names_file(_input, tmp_path / "h.npy", b"\x93NUMPY" + raw)
