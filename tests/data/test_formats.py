"""Readers of real event-file formats: tiny files written here byte by byte from the specs."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.data.events import EVENT_DTYPE
from qsnn_deploy.data.formats import (
    SUPPORTED_SUFFIXES,
    read_aedat,
    read_aedat4,
    read_nmnist_bin,
    read_npy_columns,
    read_npy_events,
    read_recording,
    relative_time,
)
from qsnn_deploy.errors import InputError

# ----------------------------------------------------------------------------- writers (the specs)


def make_events(n: int = 50, w: int = 34, h: int = 34, seed: int = 0, t0: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ev = np.empty(n, EVENT_DTYPE)
    ev["x"] = rng.integers(0, w, n)
    ev["y"] = rng.integers(0, h, n)
    ev["t"] = t0 + np.sort(rng.integers(0, 5_000, n))
    ev["p"] = rng.integers(0, 2, n)
    return ev


def nmnist_bytes(ev: np.ndarray) -> bytes:
    """Orchard's 40-bit records: x, y, p<<7 | t[22:16], t[15:8], t[7:0] (t < 2^23)."""
    out = bytearray()
    for x, y, t, p in zip(ev["x"], ev["y"], ev["t"], ev["p"]):
        t = int(t)
        assert t < 2**23
        out += bytes([int(x), int(y), (int(p) << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def write_nmnist(path: Path, ev: np.ndarray) -> Path:
    path.write_bytes(nmnist_bytes(ev))
    return path


def _fb_ioheader(compression: int, data_table: int, info: str) -> bytes:
    """Size-prefixed flatbuffer IOHeader {compression: int32; dataTablePosition: int64; infoNode: string}."""
    text = info.encode() + b"\0"
    # buf: [root u32][vtable 10 bytes][pad 2][table: soffset i32, compression i32, dtp i64, info u32][string]
    vt_pos, tbl_pos = 4, 16
    vtable = struct.pack("<5H", 10, 20, 4, 8, 16)
    string_pos = tbl_pos + 20
    table = struct.pack("<iiqI", tbl_pos - vt_pos, compression, data_table, string_pos - (tbl_pos + 16))
    buf = struct.pack("<I", tbl_pos) + vtable + b"\0\0" + table + struct.pack("<I", len(text) - 1) + text
    buf += b"\0" * (-len(buf) % 4)
    return struct.pack("<I", len(buf)) + buf


def _fb_event_packet(ev: np.ndarray) -> bytes:
    """Size-prefixed flatbuffer EventPacket {elements: [Event]} with identifier EVTS,
    Event = struct {int64 t; int16 x; int16 y; bool on} (16 bytes with padding)."""
    vt_pos, tbl_pos, vec_pos = 8, 16, 24
    vtable = struct.pack("<3H", 6, 8, 4)
    table = struct.pack("<iI", tbl_pos - vt_pos, vec_pos - (tbl_pos + 4))
    elems = b"".join(
        struct.pack("<qhh?3x", int(t), int(x), int(y), bool(p))
        for x, y, t, p in zip(ev["x"], ev["y"], ev["t"], ev["p"])
    )
    buf = struct.pack("<I", tbl_pos) + b"EVTS" + vtable + b"\0\0" + table + struct.pack("<I", len(ev)) + elems
    return struct.pack("<I", len(buf)) + buf


def _fb_other_packet(ident: bytes) -> bytes:
    """A size-prefixed flatbuffer of another type (e.g. frames): an empty table."""
    buf = struct.pack("<I", 12) + ident + struct.pack("<2H", 4, 4) + struct.pack("<i", 4)
    return struct.pack("<I", len(buf)) + buf


AEDAT4_INFO = (
    '<dv version="2.0"><node name="outInfo" path="/mainModule/output/">'
    '<node name="0" path="/mainModule/output/0/">'
    '<attr key="compression" type="string">NONE</attr>'
    '<attr key="typeIdentifier" type="string">EVTS</attr>'
    '<node name="info" path="/mainModule/output/0/info/">'
    '<attr key="sizeX" type="int">346</attr><attr key="sizeY" type="int">260</attr>'
    "</node></node>"
    '<node name="1" path="/mainModule/output/1/">'
    '<attr key="typeIdentifier" type="string">FRME</attr></node>'
    "</node></dv>"
)


def _compressor(compression: int):
    """IOHeader CompressionType: 0 NONE, 1 LZ4, 2 LZ4_HIGH, 3 ZSTD, 4 ZSTD_HIGH (each packet compressed alone)."""
    if compression == 0:
        return lambda b: b
    if compression in (1, 2):
        import lz4.frame

        return lz4.frame.compress
    import zstandard

    return zstandard.ZstdCompressor().compress


def aedat4_bytes(
    ev: np.ndarray, chunks: int = 2, compression: int = 0, info: str = AEDAT4_INFO, frame_packets: bool = True
) -> bytes:
    out = b"#!AER-DAT4.0\r\n" + _fb_ioheader(compression, -1, info)
    pack = _compressor(compression)
    for part in np.array_split(ev, chunks):
        if frame_packets:
            fr = pack(_fb_other_packet(b"FRME"))
            out += struct.pack("<iI", 1, len(fr)) + fr
        pk = pack(_fb_event_packet(part))
        out += struct.pack("<iI", 0, len(pk)) + pk
    return out


def write_aedat4(path: Path, ev: np.ndarray, **kw) -> Path:
    path.write_bytes(aedat4_bytes(ev, **kw))
    return path


def dvs128_address(x, y, p):
    """jAER DVS128: raw x in bits 1-7 (displayed x = 127 - raw), raw y in bits 8-14 (bottom-up),
    bit 0 set = OFF."""
    return ((127 - int(y)) << 8) | ((127 - int(x)) << 1) | (1 - int(p))


def aedat2_bytes(ev: np.ndarray, chip: str = "ch.unizh.ini.jaer.chip.retina.DVS128") -> bytes:
    head = (
        b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n"
        b"# Data format is int32 address, int32 timestamp (8 bytes total)\r\n"
        + f"# AEChip: {chip}\r\n".encode()
        + b"# created Mon Jan 01 00:00:00 CET 2024\r\n"
    )
    body = b"".join(
        struct.pack(">Ii", dvs128_address(x, y, p), int(t)) for x, y, t, p in zip(ev["x"], ev["y"], ev["t"], ev["p"])
    )
    return head + body


def write_aedat2(path: Path, ev: np.ndarray, **kw) -> Path:
    path.write_bytes(aedat2_bytes(ev, **kw))
    return path


def aedat31_bytes(ev: np.ndarray, overflow: int = 0) -> bytes:
    head = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"
    n = len(ev)
    # a 'special event' packet (type 0) first, which must be skipped
    special = struct.pack("<hhiiiiii", 0, 1, 8, 4, 0, 1, 1, 1) + struct.pack("<Ii", 1, 0)
    # polarity packet with one extra invalid event (valid bit 0) that must be dropped
    pol = struct.pack("<hhiiiiii", 1, 1, 8, 4, overflow, n + 1, n + 1, n)
    for x, y, t, p in zip(ev["x"], ev["y"], ev["t"], ev["p"]):
        pol += struct.pack("<Ii", (int(x) << 17) | (int(y) << 2) | (int(p) << 1) | 1, int(t))
    pol += struct.pack("<Ii", (5 << 17) | (5 << 2), int(ev["t"][-1]))
    return head + special + pol


# ----------------------------------------------------------------------------- round trips


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == EVENT_DTYPE
    for f in "xytp":
        np.testing.assert_array_equal(a[f], b[f], err_msg=f)


def test_nmnist_round_trip(tmp_path):
    ev = make_events()
    _same(read_nmnist_bin(write_nmnist(tmp_path / "a.bin", ev)), ev)
    _same(read_recording(tmp_path / "a.bin"), ev)


@pytest.mark.filterwarnings("ignore:.*not sorted")
def test_nmnist_bit_layout_and_overflow(tmp_path):
    # x=33, y=2, ON, t=0x7FFFFF (all 23 bits) / an overflow record (y=240) / x=1, y=0, OFF, t=5
    raw = bytes([33, 2, 0xFF, 0xFF, 0xFF, 0, 240, 0, 0, 0, 1, 0, 0x00, 0x00, 0x05])
    (tmp_path / "b.bin").write_bytes(raw)
    ev = read_nmnist_bin(tmp_path / "b.bin")
    assert ev.tolist() == [(1, 0, 5 + 2**13, 0), (33, 2, 2**23 - 1, 1)]  # sorted by t


def test_aedat4_round_trip(tmp_path):
    ev = make_events(n=40, w=346, h=260, t0=1_700_000_000_000_000)  # absolute µs, as DV stores
    got = read_aedat4(write_aedat4(tmp_path / "a.aedat4", ev))
    _same(got, ev)
    _same(read_recording(tmp_path / "a.aedat4"), ev)
    assert relative_time(got)["t"][0] == 0


def test_aedat4_without_stream_description(tmp_path):
    ev = make_events(n=10)
    _same(read_aedat4(write_aedat4(tmp_path / "a.aedat4", ev, info="")), ev)


@pytest.mark.parametrize("compression", [1, 2, 3, 4])
def test_aedat4_lz4_and_zstd_packets_round_trip(tmp_path, compression):
    ev = make_events(n=40)
    _same(read_aedat4(write_aedat4(tmp_path / "c.aedat4", ev, compression=compression)), ev)


def test_aedat2_round_trip_dvs128_orientation(tmp_path):
    ev = make_events(n=30, w=128, h=128)
    _same(read_aedat(write_aedat2(tmp_path / "a.aedat", ev)), ev)
    _same(read_recording(tmp_path / "a.aedat"), ev)
    # one event by hand: raw x = 0, raw y = 0, bit 0 clear (ON) -> displayed (127, 127), p = 1
    (tmp_path / "b.aedat").write_bytes(b"#!AER-DAT2.0\r\n" + struct.pack(">Ii", 0, 7))
    assert read_aedat(tmp_path / "b.aedat").tolist() == [(127, 127, 7, 1)]


def test_aedat2_special_events_and_wraparound(tmp_path):
    body = (
        struct.pack(">Ii", 0x8000, 10)  # special (sync) event: dropped
        + struct.pack(">Ii", 1, 2**31 - 1)  # OFF at raw (0,0), t = 2^31 - 1
        + struct.pack(">Ii", 0, -(2**31))
    )  # wraps to 2^31
    (tmp_path / "w.aedat").write_bytes(b"#!AER-DAT2.0\r\n" + body)
    ev = read_aedat(tmp_path / "w.aedat")
    assert ev["t"].tolist() == [2**31 - 1, 2**31] and ev["p"].tolist() == [0, 1]


def test_aedat31_round_trip(tmp_path):
    ev = make_events(n=20, w=128, h=128)
    (tmp_path / "g.aedat").write_bytes(aedat31_bytes(ev, overflow=1))
    got = read_aedat(tmp_path / "g.aedat")
    want = ev.copy()
    want["t"] += 2**31
    _same(got, want)


def test_npy_round_trip_and_columns(tmp_path):
    ev = make_events()
    np.save(tmp_path / "a.npy", ev)
    _same(read_npy_events(tmp_path / "a.npy"), ev)
    _same(read_recording(tmp_path / "a.npy"), ev)
    # tonic's DVS Gesture on disk: plain float columns x, y, p, t with t in ms
    cols = np.stack([ev["x"], ev["y"], ev["p"], ev["t"] / 1000.0], axis=1)
    np.save(tmp_path / "g.npy", cols)
    _same(read_npy_columns(tmp_path / "g.npy", "xypt", time_scale=1000), ev)
    with pytest.raises(InputError, match="not a recording of events"):
        read_npy_events(tmp_path / "g.npy")


# ----------------------------------------------------------------------------- errors


def _raises_naming(path: Path, match: str):
    with pytest.raises(InputError, match=match) as err:
        read_recording(path)
    assert err.value.exit_code == 3
    assert str(path) in err.value.message
    return err.value


def test_nmnist_truncated_and_empty(tmp_path):
    raw = nmnist_bytes(make_events(n=4))
    (tmp_path / "t.bin").write_bytes(raw[:-2])
    _raises_naming(tmp_path / "t.bin", "not a multiple of the 5-byte")
    (tmp_path / "e.bin").write_bytes(b"")
    _raises_naming(tmp_path / "e.bin", "empty")


def test_nmnist_errors_of_tonics_reader_name_the_file(tmp_path, monkeypatch):
    """The .bin records are decoded by tonic.io.read_mnist_file; what it raises is an InputError naming the file."""
    tonic_io = pytest.importorskip("tonic.io")

    def broken(*args, **kwargs):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(tonic_io, "read_mnist_file", broken)
    write_nmnist(tmp_path / "a.bin", make_events(n=4))
    err = _raises_naming(tmp_path / "a.bin", "tonic's N-MNIST reader could not decode the file")
    assert "ValueError: operands could not be broadcast" in err.message


def test_nmnist_file_of_overflow_records_is_refused_before_tonic_reads_it(tmp_path, monkeypatch):
    """tonic adds 2^13 to every later record once per overflow record: 10^5 of them would be 5 G updates."""
    tonic_io = pytest.importorskip("tonic.io")
    monkeypatch.setattr(tonic_io, "read_mnist_file", lambda *a, **k: pytest.fail("tonic's reader was called"))
    n = 100_000
    raw = bytes([0, 240, 0, 0, 0]) * (n - 1) + bytes([1, 2, 0, 0, 5])
    (tmp_path / "o.bin").write_bytes(raw)
    _raises_naming(tmp_path / "o.bin", f"holds {n - 1} timestamp-overflow records \\(y = 240\\) among {n} records")


def test_aedat4_corrupt(tmp_path):
    raw = aedat4_bytes(make_events(n=10))
    (tmp_path / "t.aedat4").write_bytes(raw[:-7])
    _raises_naming(tmp_path / "t.aedat4", "truncated")
    (tmp_path / "h.aedat4").write_bytes(raw[:20])
    _raises_naming(tmp_path / "h.aedat4", "IOHeader")
    (tmp_path / "m.aedat4").write_bytes(b"not an aedat file at all")
    _raises_naming(tmp_path / "m.aedat4", "AEDAT 4.0 signature")
    # a packet whose flatbuffer offsets point outside it
    bad = bytearray(raw)
    first = raw.rindex(b"EVTS") - 4  # root offset of the last event packet's flatbuffer
    bad[first : first + 4] = struct.pack("<I", 10**6)
    (tmp_path / "c.aedat4").write_bytes(bytes(bad))
    _raises_naming(tmp_path / "c.aedat4", "corrupt")
    # only frames, no events
    only = b"#!AER-DAT4.0\r\n" + _fb_ioheader(0, -1, "") + struct.pack("<iI", 1, 20) + _fb_other_packet(b"FRME")
    (tmp_path / "f.aedat4").write_bytes(only)
    _raises_naming(tmp_path / "f.aedat4", "no events")


def test_aedat_errors(tmp_path):
    raw = aedat2_bytes(make_events(n=5, w=128, h=128))
    (tmp_path / "t.aedat").write_bytes(raw[:-3])
    _raises_naming(tmp_path / "t.aedat", "truncated")
    (tmp_path / "d.aedat").write_bytes(aedat2_bytes(make_events(n=5), chip="eu.seebetter.ini.chips.davis.DAVIS240C"))
    _raises_naming(tmp_path / "d.aedat", "DAVIS240C.*not supported")
    (tmp_path / "v3.aedat").write_bytes(b"#!AER-DAT3.0\r\n#!END-HEADER\r\n")
    _raises_naming(tmp_path / "v3.aedat", "AEDAT version 3.0 is not supported")
    (tmp_path / "n.aedat").write_bytes(b"\x00\x01\x02")
    _raises_naming(tmp_path / "n.aedat", "no AEDAT header")
    (tmp_path / "b.aedat").write_bytes(b"#!AER-DAT2.0\r\n" + struct.pack(">Ii", 0x10000, 1))
    _raises_naming(tmp_path / "b.aedat", "does not fit the DVS128")
    ev = make_events(n=5, w=128, h=128)
    (tmp_path / "g.aedat").write_bytes(aedat31_bytes(ev)[:-5])
    _raises_naming(tmp_path / "g.aedat", "3.1 file is truncated")


def test_npy_corrupt_and_unknown_suffix(tmp_path):
    np.save(tmp_path / "a.npy", make_events())
    raw = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(raw[: len(raw) - 40])
    _raises_naming(tmp_path / "t.npy", "truncated or corrupt")
    (tmp_path / "x.txt").write_text("1 2 3 4")
    err = _raises_naming(tmp_path / "x.txt", "Unsupported recording type '.txt'")
    for s in SUPPORTED_SUFFIXES:
        assert s in err.fix
    _raises_naming(tmp_path / "missing.bin", "not found")


@pytest.mark.filterwarnings("ignore:.*not sorted")
def test_nmnist_matches_tonic_reader(tmp_path):
    tonic_io = pytest.importorskip("tonic.io")
    ev = make_events(n=200, seed=3)
    raw = bytearray(nmnist_bytes(ev))
    for i in (40, 120):  # overflow records inside the stream
        raw[i * 5 : i * 5] = bytes([0, 240, 0, 0, 0])
    (tmp_path / "x.bin").write_bytes(bytes(raw))
    ours = read_nmnist_bin(tmp_path / "x.bin")
    theirs = tonic_io.read_mnist_file(
        str(tmp_path / "x.bin"), dtype=np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
    )
    theirs = theirs[np.argsort(theirs["t"], kind="stable")]
    for f in "xytp":
        np.testing.assert_array_equal(ours[f], theirs[f], err_msg=f)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mutated_files_fail_cleanly(tmp_path):
    """Flipped, inserted or cut bytes give events or an InputError naming the file, never a traceback."""
    ev = make_events(n=30, w=128, h=128)
    np.save(tmp_path / "a.npy", ev)
    sources = {
        "m.bin": nmnist_bytes(ev),
        "m.aedat4": aedat4_bytes(ev),
        "m2.aedat": aedat2_bytes(ev),
        "m3.aedat": aedat31_bytes(ev),
        "m.npy": (tmp_path / "a.npy").read_bytes(),
    }
    rng = np.random.default_rng(0)
    for name, raw in sources.items():
        path = tmp_path / name
        for _ in range(100):
            b = bytearray(raw)
            op = rng.integers(3)
            if op == 0:
                for i in rng.integers(0, len(b), rng.integers(1, 6)):
                    b[i] = rng.integers(256)
            elif op == 1:
                b = b[: rng.integers(len(b))]
            else:
                i = rng.integers(len(b))
                b = b[:i] + bytes(rng.integers(0, 256, rng.integers(1, 20)).astype(np.uint8)) + b[i:]
            path.write_bytes(bytes(b))
            try:
                read_recording(path)
            except InputError as err:
                assert str(path) in err.message
