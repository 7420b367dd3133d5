"""Reading input files with clear errors: bytes, UTF-8 text, YAML, and short reprs of what was found.

Every reader of a user's file goes through these, so that any bytes (random, truncated, not UTF-8,
YAML that nests without end) give an :class:`~qsnn_deploy.errors.InputError` naming the file (exit 3).
"""

from __future__ import annotations

import math
import reprlib
from pathlib import Path
from typing import Any, TypeGuard

from .errors import InputError, QsnnError

_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxtuple = 3, 16, 8, 16
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 60, 60, 40


def short_repr(value: Any) -> str:
    """A bounded ``repr`` for error messages: nested or aliased YAML values can be exponentially large."""
    text = _SHORT.repr(value)
    return text if len(text) <= 200 else text[:196] + " ..."


def is_number(value: Any) -> TypeGuard[float]:
    """A finite real number as a file holds one: an int or a float (numpy's float64 included), not NaN, not
    infinite and not an int beyond a float's range (10**400, which ``float()`` would refuse); never a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def is_whole_number(
    value: Any, lo: float | None = None, hi: float | None = None, integral_floats: bool = False
) -> bool:
    """An int within ``lo``..``hi`` (both inclusive, None: unbounded); with ``integral_floats`` also a float
    without a fraction (3.0, as JSON or HDF5 may store a count); never a bool."""
    if not is_number(value) or (isinstance(value, float) and not (integral_floats and value.is_integer())):
        return False
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def existing_file(path: str | Path, what: str = "File", fix: str = "check the path") -> Path:
    """``path`` as a Path; missing or not a file is an InputError naming it (``what``: e.g. "Recording")."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} not found", str(p), fix)
    if not p.is_file():
        raise InputError(f"{what} is not a file", str(p), "pass a file, not a directory")
    return p


def read_bytes(path: str | Path, what: str = "File", fix: str = "check the path") -> bytes:
    """The bytes of ``path``; missing, not a file or unreadable is an InputError naming it."""
    p = existing_file(path, what, fix)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InputError(
            f"The file could not be read ({exc.strerror or exc})", str(p), "check that the file is readable"
        ) from None


def decode_text(raw: bytes, where: str, what: str = "the file") -> str:
    """UTF-8 text of ``raw`` (a leading byte-order mark is dropped); anything else names the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{what} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}, line {line})",
            where=where,
            fix="save it as UTF-8 text; the file may be binary or damaged",
        ) from None


def parse_yaml(text: str, where: str, what: str = "the file") -> Any:
    """``yaml.safe_load`` (never builds Python objects) with every failure of the parser as an InputError."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f", line {mark.line + 1}" if mark is not None else ""
        raise InputError(
            f"{what} is not valid YAML: {getattr(exc, 'problem', None) or exc}",
            where=f"{where}{at}",
            fix="check the indentation and quoting near that line",
        ) from None
    except RecursionError:
        raise InputError(
            f"{what} nests too deeply to be read", where=where, fix="the file is damaged or not a configuration file"
        ) from None
    except (ValueError, OverflowError) as exc:  # e.g. PyYAML's timestamp constructor on 2001-13-45
        raise InputError(
            f"{what} holds a value YAML cannot construct ({exc})", where=where, fix="quote the value to keep it as text"
        ) from None


def yaml_from_bytes(raw: bytes, where: str, what: str = "the file") -> Any:
    """The YAML document in the bytes of a file (a user's path or a packaged resource): :func:`decode_text`
    then :func:`parse_yaml`; every failure is an InputError naming ``where``."""
    return parse_yaml(decode_text(raw, where, what), where, what)


def name_file(exc: QsnnError, where: str) -> QsnnError:
    """``exc`` with ``where`` (the file) leading its location, unless its message already names it."""
    if where not in exc.message:
        exc.where = f"{where}, {exc.where}" if exc.where else where
        exc.args = (exc.message,)
    return exc
