"""Readers for event recordings in the formats real event datasets ship in.

Every reader takes a path and returns a validated, time-sorted ``EVENT_DTYPE`` array
(``x, y, t, p``; ``p = 1`` is an ON event, ``p = 0`` OFF). Timestamps are returned **as
stored** in the file, in microseconds: N-MNIST and AEDAT 2.0 start near 0, AEDAT 4 and
AEDAT 3.1 usually carry absolute times (µs since the epoch or since the camera started).
Use :func:`relative_time` to make them start at 0 (``folder:PATH`` datasets do this per
recording). A corrupt, truncated or wrong-format file raises :class:`InputError` (exit 3)
naming the file, never a raw traceback.

Who decodes what (the maintained readers of the field where they read the format alike and safely; ours where
none does, and why), as measured with tonic 1.7.0 and aedat 2.3.0:

- ``.bin``: tonic's ``tonic.io.read_mnist_file``; ours only checks the size and bounds the overflow records first.
- ``.aedat4``: ours. ``aedat`` (behind ``tonic.io.read_aedat4``) aborts the interpreter on damaged files (a Rust
  panic in a destructor: SIGABRT on a 1.4 KB mutated file), decompresses a packet without bound (an 8.6 KB file
  took 620 MB) and refuses files without a complete stream description (sizeX/sizeY of every stream).
- ``.aedat`` 2.0: ours. ``tonic.io.read_dvs_128`` fails on every file (it unpacks two of the three values
  ``read_aedat_header_from_file`` returns) and masks bit 15, so jAER special events could not be dropped.
- ``.aedat`` 3.1: ours. ``tonic.io.read_dvs_ibm`` fails likewise, and reads every packet as 8-byte polarity
  events (no event type, valid bit or timestamp overflow).
- ``.npy``: numpy's ``np.load`` (``allow_pickle=False``) after our header check; tonic has no reader for it.

Formats (by suffix, :func:`read_recording` dispatches):

- ``.bin``: N-MNIST / N-Caltech101 (Orchard et al. 2015). 5 bytes per event: x (8 bit),
  y (8 bit), polarity (1 bit, 1 = ON) and a 23-bit timestamp (µs), big-endian bit order.
  Records with ``y == 240`` are timestamp-overflow markers: every later timestamp grows by
  2^13 (the rule of the dataset's own reader, which tonic's ``read_mnist_file`` follows). A file
  whose overflow records would cost tonic's reader more than ``NMNIST_MAX_OVERFLOW_WORK`` record
  updates is refused as corrupt. The first ``.bin`` read imports tonic (and torch with it, ~1.5 s).
- ``.aedat4``: iniVation DV (AEDAT 4.0): ``#!AER-DAT4.0\\r\\n``, a size-prefixed flatbuffer
  ``IOHeader`` (compression, data-table position, XML stream description), then packets
  ``int32 stream id, int32 size, flatbuffer`` (size-prefixed, identifier ``EVTS`` for
  events: ``Event {int64 t; int16 x; int16 y; bool on}``, 16 bytes each). Events of the
  lowest-numbered event stream are returned. Uncompressed files are decoded with numpy
  alone; LZ4-compressed files (DV's default) need the ``lz4`` package and ZSTD-compressed
  ones ``zstandard`` (a clear error names the missing package). Decompressed packets may total at
  most ``AEDAT4_MAX_EXPANSION`` (100) times the file's size, or 16 MiB for small files: a file that
  expands further is refused as corrupt before more is held.
- ``.aedat``: jAER AEDAT 2.0 (MNIST-DVS, DVS128 recordings): ``#`` header lines, then
  big-endian ``(uint32 address, int32 timestamp µs)`` pairs, DVS128 address layout
  (addresses with bit 15 set are jAER special/sync events and are dropped). The
  image orientation follows jAER's display with row 0 at the top: ``x = 127 - ((addr >> 1)
  & 0x7F)``, ``y = 127 - ((addr >> 8) & 0x7F)``; ``p = 1 - (addr & 1)`` (jAER: bit 0 set is
  an OFF event). 32-bit timestamp wrap-arounds are unwrapped. AEDAT 3.1 (cAER, e.g. the raw
  DVS Gesture files) is read too: little-endian packets with a 28-byte header; polarity
  events (type 1) give ``x = data >> 17``, ``y = (data >> 2) & 0x7FFF``, ``p = (data >> 1)
  & 1`` and ``t = tsOverflow << 31 | ts``; invalid events and other event types are
  skipped. Other AEDAT 2.0 chips (DAVIS...) and AEDAT 3.0 are refused with a clear error.
- ``.npy``: a structured array with fields ``x, y, t, p`` (loaded as ``events.read_event_file`` does);
  a plain ``(N, 4)`` column array (tonic's on-disk layout of DVS Gesture and POKER-DVS) is
  read by :func:`read_npy_columns` given the column order.
"""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..inputs import existing_file, read_bytes
from .events import EVENT_DTYPE, _load_npy, validate_events

__all__ = [
    "READERS",
    "SUPPORTED_SUFFIXES",
    "read_recording",
    "read_nmnist_bin",
    "read_aedat4",
    "read_aedat",
    "read_npy_events",
    "read_npy_columns",
    "relative_time",
]

_FIX_RESAVE = "re-download or re-export the recording; if it is intact, convert it to a .npy structured array"


def _where(path) -> str:
    return str(path)


def _events(x, y, t, p, path) -> np.ndarray:
    ev = np.empty(len(t), dtype=EVENT_DTYPE)
    for name, col in (("x", x), ("y", y), ("t", t), ("p", p)):
        ev[name] = col
    return validate_events(ev, None, _where(path))


def _no_events(path, detail: str = "") -> InputError:
    return InputError(
        f"The recording holds no events{detail}", _where(path), "remove the empty recording or record it again"
    )


def relative_time(events: np.ndarray) -> np.ndarray:
    """A copy of time-sorted ``events`` with ``t`` counted from the first event (µs)."""
    out = events.copy()
    if out.size:
        out["t"] -= out["t"][0]
    return out


# --------------------------------------------------------------------------- N-MNIST .bin

NMNIST_OVERFLOW_Y = 240
NMNIST_OVERFLOW_US = 2**13
NMNIST_MAX_OVERFLOW_WORK = 2**32
"""Most record updates tonic's ``read_mnist_file`` may make for timestamp-overflow records: it adds 2^13 to every
later record once per overflow record (about 8 G updates/s), so a file of nothing but overflow records would
take hours. Each stands for 2^13 µs, so a 300 ms recording needs at most ~37 among its thousands of events (some
10^5 updates); 2^32 takes about half a second, and keeps tonic's 32-bit timestamps below their wrap (2^32 µs)."""


def read_nmnist_bin(path: str | Path) -> np.ndarray:
    """Read an N-MNIST / N-Caltech101 ``.bin`` recording (40-bit records, see module doc) with tonic's
    ``tonic.io.read_mnist_file``; the checks around it (size, overflow records) are ours."""
    path = Path(path)
    raw = read_bytes(path, "Recording")
    if len(raw) == 0:
        raise InputError("The file is empty (0 bytes); it may be truncated", _where(path), _FIX_RESAVE)
    if len(raw) % 5:
        raise InputError(
            f"The file has {len(raw)} bytes, not a multiple of the 5-byte N-MNIST event record; "
            "it is truncated or not an N-MNIST .bin file",
            _where(path),
            _FIX_RESAVE,
        )
    n = len(raw) // 5
    overflow = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8)[1::5] == NMNIST_OVERFLOW_Y)
    if len(overflow) == n:
        raise _no_events(path, " (only timestamp-overflow records)")
    if int(np.sum(n - overflow)) > NMNIST_MAX_OVERFLOW_WORK:
        raise InputError(
            f"The file holds {len(overflow)} timestamp-overflow records (y = 240) among {n} records, far more than "
            "a recording has (each stands for 8.192 ms); it is corrupt or not an N-MNIST .bin file",
            _where(path),
            _FIX_RESAVE,
        )
    from tonic.io import read_mnist_file

    try:
        ev = read_mnist_file(io.BytesIO(raw), dtype=EVENT_DTYPE, is_stream=True)
    except (ValueError, TypeError, IndexError, OverflowError) as exc:  # none known after the checks above
        raise InputError(
            f"tonic's N-MNIST reader could not decode the file ({type(exc).__name__}: {exc})", _where(path), _FIX_RESAVE
        ) from None
    return validate_events(ev, None, _where(path))


# --------------------------------------------------------------------------- AEDAT 4

AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"
AEDAT4_MAX_PACKET = 2**26  # bytes of one decompressed packet (DV writes packets of a few thousand events)
AEDAT4_MAX_EVENTS = 2**27  # events of one recording read at once (2 GiB as 16-byte flatbuffer events)
AEDAT4_MAX_EXPANSION = 100
"""Decompressed packets may total at most this many times the file's size (or :data:`AEDAT4_MIN_BUDGET`).
DV's event packets (16-byte events, sorted times) compress 2-3x as sensor noise and 3-6x as moving edges
(LZ4 or ZSTD); only a synthetic full-frame flash, raster order at one time, reaches ~120x (ZSTD; LZ4 4x).
100x lets whole recordings of real scenes through, while a compression bomb (zeros: LZ4 ~250x, ZSTD
~30000x) is refused once it has expanded to 100x the file."""
AEDAT4_MIN_BUDGET = 2**24  # bytes every file may expand to, however small (a million events)
_CHUNK = 2**20  # bytes decompressed at a time
_AEDAT4_COMPRESSION = {0: "NONE", 1: "LZ4", 2: "LZ4_HIGH", 3: "ZSTD", 4: "ZSTD_HIGH"}
_FB_EVENT = np.dtype(
    {"names": ["t", "x", "y", "on"], "formats": ["<i8", "<i2", "<i2", "u1"], "offsets": [0, 8, 10, 12], "itemsize": 16}
)


class _Corrupt(Exception):
    """Internal: a flatbuffer offset or length points outside its buffer."""


class _Table:
    """Minimal read-only flatbuffer table access with bounds checks."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        vt = pos - self._i32(pos)
        vt_size = self._u16(vt)
        if vt_size < 4 or vt + vt_size > len(buf):
            raise _Corrupt("vtable")
        self.vt, self.vt_size = vt, vt_size

    def _check(self, pos: int, n: int) -> None:
        if pos < 0 or pos + n > len(self.buf):
            raise _Corrupt("offset out of range")

    def _u16(self, pos):
        self._check(pos, 2)
        return struct.unpack_from("<H", self.buf, pos)[0]

    def _i32(self, pos):
        self._check(pos, 4)
        return struct.unpack_from("<i", self.buf, pos)[0]

    def _u32(self, pos):
        self._check(pos, 4)
        return struct.unpack_from("<I", self.buf, pos)[0]

    def field(self, index: int) -> int:
        """Absolute position of field ``index``, 0 when absent (default value)."""
        slot = 4 + 2 * index
        if slot + 2 > self.vt_size:
            return 0
        off = self._u16(self.vt + slot)
        return self.pos + off if off else 0

    def scalar(self, index: int, fmt: str, default):
        pos = self.field(index)
        if not pos:
            return default
        self._check(pos, struct.calcsize(fmt))
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def vector(self, index: int, item_size: int) -> tuple[int, int] | None:
        """(start, length) of a vector field, None when absent."""
        pos = self.field(index)
        if not pos:
            return None
        start = pos + self._u32(pos)
        n = self._u32(start)
        self._check(start + 4, n * item_size)
        return start + 4, n

    def string(self, index: int) -> str | None:
        vec = self.vector(index, 1)
        if vec is None:
            return None
        start, n = vec
        return self.buf[start : start + n].decode("utf-8", errors="replace")


def _size_prefixed_root(buf: bytes, pos: int = 0) -> tuple[bytes, _Table, bytes]:
    """Parse a size-prefixed flatbuffer at ``buf[pos:]``: (its bytes, root table, identifier)."""
    if pos + 8 > len(buf):
        raise _Corrupt("truncated flatbuffer")
    size = struct.unpack_from("<I", buf, pos)[0]
    body = buf[pos + 4 : pos + 4 + size]
    if len(body) != size or size < 8:
        raise _Corrupt("truncated flatbuffer")
    root = struct.unpack_from("<I", body, 0)[0]
    return body, _Table(body, root), body[4:8]


def _aedat4_streams(info: str | None) -> dict[int, str]:
    """Stream id -> type identifier from the IOHeader's XML (empty when absent/unreadable)."""
    if not info:
        return {}
    try:
        root = ET.fromstring(info)
    except ET.ParseError:
        return {}
    streams = {}
    for out in root.iter("node"):
        if out.get("name") != "outInfo":
            continue
        for node in out.findall("node"):
            try:
                sid = int(node.get("name", ""))
            except ValueError:
                continue
            for attr in node.findall("attr"):
                if attr.get("key") == "typeIdentifier":
                    streams[sid] = (attr.text or "").strip()
    return streams


def _take(pieces, limit: int) -> bytes:
    """Join the output ``pieces`` of a decompressor, stopping once more than ``limit`` bytes came out: at most
    ``limit`` plus one piece is ever held, however much the input claims to expand to."""
    out, n = [], 0
    for piece in pieces:
        out.append(piece)
        n += len(piece)
        if n > limit:
            break
    return b"".join(out)


def _decompressor(kind: str, path: Path) -> tuple[Any, tuple[type[BaseException], ...]]:
    """``decompress(body, limit)`` for the file's compression: the packet's bytes, or more than ``limit``
    bytes (then the caller refuses the file) without ever expanding much further; and the exceptions that
    mean a damaged packet (the codec's own, and ValueError for a frame that ends early)."""
    if kind == "NONE":
        return (lambda b, limit: b), ()
    if kind.startswith("LZ4"):
        try:
            import lz4.frame
        except ImportError:
            raise InputError(
                "The AEDAT4 file is LZ4-compressed and the 'lz4' package is not installed",
                _where(path),
                "pip install lz4, or export the recording uncompressed (DV: compression NONE) "
                "or as a .npy structured array",
            ) from None

        def unlz4(b: bytes, limit: int) -> bytes:
            d = lz4.frame.LZ4FrameDecompressor()

            def pieces():
                yield d.decompress(b, max_length=_CHUNK)
                while not d.eof and not d.needs_input:
                    yield d.decompress(b"", max_length=_CHUNK)

            out = _take(pieces(), limit)
            if len(out) <= limit and not d.eof:
                raise ValueError("the LZ4 frame is incomplete")
            return out

        return unlz4, (RuntimeError, ValueError)  # lz4.frame raises RuntimeError on damaged data
    if kind.startswith("ZSTD"):
        try:
            import zstandard
        except ImportError:
            raise InputError(
                "The AEDAT4 file is ZSTD-compressed and the 'zstandard' package is not installed",
                _where(path),
                "pip install zstandard, or export the recording uncompressed (DV: compression "
                "NONE) or as a .npy structured array",
            ) from None

        def unzstd(b: bytes, limit: int) -> bytes:  # a small packet can claim gigabytes: read in pieces
            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(b))
            return _take(iter(lambda: reader.read(_CHUNK), b""), limit)

        return unzstd, (zstandard.ZstdError, ValueError)
    raise AssertionError(kind)


def read_aedat4(path: str | Path) -> np.ndarray:
    """Read the events of an iniVation AEDAT 4.0 file (see module doc); ``t`` as stored (µs)."""
    path = Path(path)
    raw = read_bytes(path, "Recording")
    if not raw.startswith(AEDAT4_MAGIC):
        head = raw[:14]
        fix = "for AEDAT 2.0/3.1 files use the suffix .aedat" if head.startswith(b"#!AER-DAT") else _FIX_RESAVE
        raise InputError("The file does not start with the AEDAT 4.0 signature '#!AER-DAT4.0'", _where(path), fix)
    try:
        header, table, _ = _size_prefixed_root(raw, len(AEDAT4_MAGIC))
        code = table.scalar(0, "<i", 0)
        data_table = table.scalar(1, "<q", -1)
        info = table.string(2)
    except (_Corrupt, struct.error):
        raise InputError("The AEDAT4 header (IOHeader) is truncated or corrupt", _where(path), _FIX_RESAVE) from None
    if code not in _AEDAT4_COMPRESSION:
        raise InputError(f"The AEDAT4 header names an unknown compression type ({code})", _where(path), _FIX_RESAVE)
    decompress, codec_errors = _decompressor(_AEDAT4_COMPRESSION[code], path)
    streams = _aedat4_streams(info)
    event_streams = sorted(s for s, kind in streams.items() if kind == "EVTS")
    pos = len(AEDAT4_MAGIC) + 4 + len(header)
    end = data_table if 0 < data_table <= len(raw) else len(raw)
    chunks: dict[int, list[np.ndarray]] = {}
    total = expanded = 0
    budget = min(AEDAT4_MAX_EVENTS * _FB_EVENT.itemsize, max(AEDAT4_MIN_BUDGET, AEDAT4_MAX_EXPANSION * len(raw)))
    while pos < end:
        if pos + 8 > end:
            raise InputError(
                f"The AEDAT4 file is truncated (a packet header at byte {pos} is cut off)", _where(path), _FIX_RESAVE
            )
        sid, size = struct.unpack_from("<iI", raw, pos)
        body = raw[pos + 8 : pos + 8 + size]
        if len(body) != size or pos + 8 + size > end:
            raise InputError(
                f"The AEDAT4 file is truncated (packet at byte {pos} announces {size} bytes, "
                f"{min(len(body), max(end - pos - 8, 0))} remain)",
                _where(path),
                _FIX_RESAVE,
            )
        pos += 8 + size
        if event_streams and sid != event_streams[0]:
            continue  # only the lowest-numbered event stream
        limit = min(AEDAT4_MAX_PACKET, budget - expanded) if code else AEDAT4_MAX_PACKET
        try:
            data = decompress(body, limit)
        except codec_errors as exc:
            raise InputError(
                f"An AEDAT4 packet could not be decompressed ({type(exc).__name__}: {exc})", _where(path), _FIX_RESAVE
            ) from None
        if len(data) > AEDAT4_MAX_PACKET:
            raise InputError(
                f"An AEDAT4 packet at byte {pos - 8 - size} expands to more than {AEDAT4_MAX_PACKET} "
                "bytes; the file is corrupt",
                _where(path),
                _FIX_RESAVE,
            )
        if len(data) > limit:
            raise InputError(
                f"The AEDAT4 packets up to byte {pos} expand to more than {budget} bytes, the most read from a "
                f"file of {len(raw)} bytes (recorded events compress 2-6x); the file is corrupt or a compression "
                "bomb",
                _where(path),
                "if the recording is intact, export it uncompressed (DV: compression NONE) or as a .npy structured "
                "array",
            )
        expanded += len(data)
        try:
            fb, packet, ident = _size_prefixed_root(data)
            if ident != b"EVTS":
                if event_streams:
                    raise _Corrupt(f"packet identifier {ident!r} in an event stream")
                continue  # no stream description: skip frames, IMU, triggers
            vec = packet.vector(0, _FB_EVENT.itemsize)
        except (_Corrupt, struct.error) as exc:
            raise InputError(
                f"An AEDAT4 event packet of stream {sid} is corrupt ({exc})", _where(path), _FIX_RESAVE
            ) from None
        if vec is None:
            continue
        start, n = vec
        total += n
        if total > AEDAT4_MAX_EVENTS:
            raise InputError(
                f"The AEDAT4 recording holds more than {AEDAT4_MAX_EVENTS} events, more than is read at once",
                _where(path),
                "cut the recording into shorter files",
            )
        chunks.setdefault(sid, []).append(np.frombuffer(fb, _FB_EVENT, count=n, offset=start))
    if not chunks:
        raise _no_events(path, " (no polarity-event packets)")
    arr = np.concatenate(chunks.pop(min(chunks)))
    del chunks  # the decompressed packets: only the events' copy is kept
    return _events(arr["x"], arr["y"], arr["t"], arr["on"] != 0, path)


# --------------------------------------------------------------------------- jAER AEDAT 2.0 / 3.1

DVS128_SIZE = 128
_AEDAT3_HEADER = struct.Struct("<hhiiiiii")  # type, source, size, tsOffset, tsOverflow, capacity, number, valid


def _jaer_header(raw: bytes) -> tuple[str | None, str, int]:
    """The version (after ``#!AER-DAT``, None without that line), the chip (after ``AEChip:``, "" without
    it) and the byte where data starts (0: no ``#`` header). AEDAT 3.x ends at ``#!END-HEADER``; other
    comment lines are skipped, however many."""
    version, chip, pos = None, "", 0
    while pos < len(raw) and raw[pos : pos + 1] == b"#":
        nl = raw.find(b"\n", pos)
        if nl < 0:
            nl = len(raw) - 1
        line = raw[pos : nl + 1]
        pos = nl + 1
        if line.startswith(b"#!END-HEADER"):
            break
        if version is None and line.startswith(b"#!AER-DAT"):
            version = line[len(b"#!AER-DAT") :].decode("latin-1").strip()
        elif not chip and b"AEChip:" in line:
            chip = line.split(b"AEChip:", 1)[1].decode("latin-1").strip()
    return version, chip, pos


def read_aedat(path: str | Path) -> np.ndarray:
    """Read a jAER AEDAT 2.0 (DVS128 address layout) or cAER AEDAT 3.1 file (see module doc)."""
    path = Path(path)
    raw = read_bytes(path, "Recording")
    if raw.startswith(AEDAT4_MAGIC):
        raise InputError("The file is AEDAT 4.0 but has the suffix .aedat", _where(path), "rename it to .aedat4")
    version, chip, start = _jaer_header(raw)
    if version is None:
        # jAER files without a version line are AEDAT 1.0/2.0-like; accept only with a header
        if not start:
            raise InputError("The file has no AEDAT header ('#!AER-DAT...' comment lines)", _where(path), _FIX_RESAVE)
        version = "2.0"
    if version.startswith("2"):
        if chip and "DVS128" not in chip and "Tmpdiff128" not in chip:
            raise InputError(
                f"AEDAT 2.0 from the chip '{chip}' is not supported (only the DVS128 address "
                "layout of MNIST-DVS and DVS128 recordings)",
                _where(path),
                "convert the recording to a .npy structured array (x, y, t, p) or to AEDAT 4 with jAER/DV",
            )
        return _read_aedat2(raw, start, path)
    if version.startswith("3.1"):
        return _read_aedat31(raw, start, path)
    raise InputError(
        f"AEDAT version {version} is not supported",
        _where(path),
        "supported: AEDAT 2.0 (DVS128), 3.1 and 4.0 (.aedat4); convert other "
        "versions to AEDAT 4 with DV or to a .npy structured array",
    )


def _read_aedat2(raw: bytes, start: int, path: Path) -> np.ndarray:
    body = len(raw) - start
    if body == 0:
        raise _no_events(path)
    if body % 8:
        raise InputError(
            f"The AEDAT 2.0 event data has {body} bytes, not a multiple of the 8-byte "
            "(address, timestamp) record; the file is truncated",
            _where(path),
            _FIX_RESAVE,
        )
    rec = np.frombuffer(raw, dtype=[("addr", ">u4"), ("t", ">u4")], offset=start)
    addr = rec["addr"].astype(np.int64)
    if np.any(addr > 0xFFFF):
        bad = int(addr[addr > 0xFFFF][0])
        raise InputError(
            f"Address 0x{bad:x} does not fit the DVS128 layout (16 bits); the recording comes "
            "from another chip or is corrupt",
            _where(path),
            "convert the recording to a .npy structured array (x, y, t, p) or to AEDAT 4",
        )
    t = rec["t"].astype(np.int64)
    wraps = np.concatenate([[0], np.cumsum(np.diff(t) < -(2**31))])
    t = t + wraps * 2**32
    keep = (addr & 0x8000) == 0  # bit 15: jAER special (sync) events, not pixel events
    if not keep.any():
        raise _no_events(path, " (only special/sync events)")
    addr, t = addr[keep], t[keep]
    x = DVS128_SIZE - 1 - ((addr >> 1) & 0x7F)
    y = DVS128_SIZE - 1 - ((addr >> 8) & 0x7F)
    p = 1 - (addr & 1)
    return _events(x, y, t, p, path)


def _read_aedat31(raw: bytes, pos: int, path: Path) -> np.ndarray:
    parts = []
    while pos < len(raw):
        if pos + _AEDAT3_HEADER.size > len(raw):
            raise InputError(
                f"The AEDAT 3.1 file is truncated (packet header at byte {pos})", _where(path), _FIX_RESAVE
            )
        etype, _src, esize, ts_off, ts_ovf, capacity, number, _valid = _AEDAT3_HEADER.unpack_from(raw, pos)
        pos += _AEDAT3_HEADER.size
        if esize <= 0 or capacity < 0 or number < 0 or number > capacity:
            raise InputError(f"An AEDAT 3.1 packet header at byte {pos - 28} is corrupt", _where(path), _FIX_RESAVE)
        n_bytes = capacity * esize
        if pos + n_bytes > len(raw):
            raise InputError(
                f"The AEDAT 3.1 file is truncated (packet at byte {pos - 28} announces "
                f"{n_bytes} bytes, {len(raw) - pos} remain)",
                _where(path),
                _FIX_RESAVE,
            )
        if etype == 1 and number:  # polarity events: uint32 data, int32 timestamp
            if esize < 8 or not 0 <= ts_off <= esize - 4:
                raise InputError(
                    f"An AEDAT 3.1 polarity packet at byte {pos - 28} is corrupt", _where(path), _FIX_RESAVE
                )
            dt = np.dtype(
                {"names": ["data", "ts"], "formats": ["<u4", "<i4"], "offsets": [0, ts_off], "itemsize": esize}
            )
            ev = np.frombuffer(raw, dt, count=number, offset=pos)
            ev = ev[(ev["data"] & 1) == 1]
            parts.append((ev["data"].astype(np.int64), ev["ts"].astype(np.int64) + (np.int64(ts_ovf) << 31)))
        pos += n_bytes
    if not parts or not sum(len(d) for d, _ in parts):
        raise _no_events(path, " (no valid polarity events)")
    data = np.concatenate([d for d, _ in parts])
    t = np.concatenate([ts for _, ts in parts])
    return _events(data >> 17 & 0x7FFF, (data >> 2) & 0x7FFF, t, (data >> 1) & 1, path)


# --------------------------------------------------------------------------- .npy


def read_npy_events(path: str | Path) -> np.ndarray:
    """Read a ``.npy`` structured event array (fields ``x, y, t, p``, t in µs).

    Loading and checks are those of ``events.read_event_file`` (never unpickles)."""
    path = existing_file(path, "Recording")
    arr = _load_npy(path)
    if arr.dtype.names is None:
        shape = "an (N, 4) column array" if arr.ndim == 2 and arr.shape[1] == 4 else f"shape {arr.shape}"
        raise InputError(
            f"The .npy file holds a plain array ({shape}, dtype {arr.dtype}), not a recording of "
            "events (a structured array with fields x, y, t, p)",
            _where(path),
            "save events as a structured array, e.g. with dtype "
            "[('x','<i2'),('y','<i2'),('t','<i8'),('p','<i1')]; for tonic's column layout "
            "use read_npy_columns with the column order",
        )
    ev = validate_events(arr, None, _where(path))
    if ev.size == 0:
        raise _no_events(path)
    return ev


def read_npy_columns(path: str | Path, order: str = "xytp", time_scale: float = 1.0) -> np.ndarray:
    """Read a plain ``(N, 4)`` ``.npy`` column array (tonic's on-disk DVS Gesture / POKER-DVS).

    ``order`` names the columns (``"xypt"`` for DVS Gesture with ``time_scale=1000`` since it
    stores milliseconds, ``"txyp"`` for POKER-DVS); ``t`` is multiplied by ``time_scale`` to
    give microseconds and rounded. A structured array is read as by :func:`read_npy_events`.
    """
    path = Path(path)
    if sorted(order) != sorted("xytp"):
        raise ValueError(f"order must be a permutation of 'xytp', got {order!r}")
    arr = _load_npy(existing_file(path, "Recording"))
    if arr.dtype.names is not None:
        return read_npy_events(path)
    if arr.ndim != 2 or arr.shape[1] != 4 or arr.dtype.kind not in "iuf":
        raise InputError(
            f"The array has shape {arr.shape} and dtype {arr.dtype}; expected (N, 4) numbers "
            f"with columns {', '.join(order)}",
            _where(path),
            "save events as a structured array with fields x, y, t, p",
        )
    if arr.shape[0] == 0:
        raise _no_events(path)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise InputError("The array contains NaN or infinite values", _where(path), _FIX_RESAVE)
    cols = {name: arr[:, i] for i, name in enumerate(order)}
    t = np.rint(cols["t"].astype(np.float64) * time_scale).astype(np.int64)
    xyp = {k: cols[k] for k in "xyp"}
    if any(not np.all(np.equal(np.mod(v, 1), 0)) for v in xyp.values() if v.dtype.kind == "f"):
        raise InputError(
            f"Columns x, y, p (order {order!r}) hold non-integer values", _where(path), "check the column order"
        )
    return _events(xyp["x"].astype(np.int64), xyp["y"].astype(np.int64), t, xyp["p"].astype(np.int64), path)


# --------------------------------------------------------------------------- dispatch

READERS = {
    ".bin": read_nmnist_bin,
    ".aedat4": read_aedat4,
    ".aedat": read_aedat,
    ".npy": read_npy_events,
}
"""Suffix (lower case) -> reader of one recording."""

SUPPORTED_SUFFIXES = tuple(READERS)


def read_recording(path: str | Path) -> np.ndarray:
    """Read one recording, choosing the reader by suffix (:data:`READERS`).

    Returns a validated, time-sorted ``EVENT_DTYPE`` array with ``t`` as stored (µs).

    Raises:
        InputError: unknown suffix (listing the supported ones), missing, corrupt or
            truncated file — always naming the file.
    """
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(
            f"Unsupported recording type '{path.suffix or '(no suffix)'}'",
            _where(path),
            f"use one of: {', '.join(SUPPORTED_SUFFIXES)} (N-MNIST .bin, AEDAT 2.0/3.1 .aedat, "
            "AEDAT 4 .aedat4, structured .npy with fields x, y, t, p)",
        )
    return reader(path)
