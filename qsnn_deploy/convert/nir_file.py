"""Read any NIR graph, from a file of any nir version or from a ``nir.NIRGraph`` in memory (no torch).

``nir.read`` builds node objects of the *installed* nir version and fails on fields it does not
know (a file from nir ≥ 1.0.5 has ``v_reset``, which nir 1.0.4 rejects). This reader takes the HDF5
tree as it is — the layouts of nir 1.0.0 to 1.0.8 differ only in which fields exist, the version
string's type and compression — and leaves the judgement of each field to the importer, which can
then name an unknown field instead of failing with a type error.
"""

from __future__ import annotations

import math
import os
import signal
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from ..inputs import short_repr


@dataclass
class RawNode:
    """One node as stored: its type name, its fields (numpy values) and metadata."""

    name: str
    type: str
    fields: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    graph: RawGraph | None = None  # for a nested NIRGraph


@dataclass
class RawGraph:
    nodes: dict[str, RawNode]
    edges: list[tuple[str, str]]
    metadata: dict[str, Any] = field(default_factory=dict)
    version: str | None = None  # nir version that wrote the file; None for a graph made in memory


# Bounds on what reading a file may build, checked before anything is read (a damaged or hostile file may
# claim anything): the depth of nested groups, the number of HDF5 objects, the bytes of all datasets, and
# how much a compressed dataset may expand (gzip at its best is ~1000:1).
MAX_DEPTH = 32
MAX_OBJECTS = 100_000
MAX_TOTAL_BYTES = 2**30
MAX_EXPANSION = 1100

# What h5py raises on bytes that are not (intact) HDF5: its C library's errors surface as OSError,
# KeyError, ValueError, RuntimeError and TypeError, by the call that meets the damage. Caught only around
# h5py calls (``_Budget.h5``): the same errors from our own code stay internal errors (exit 1).
_H5_ERRORS = (OSError, KeyError, ValueError, RuntimeError, TypeError, IndexError, OverflowError, MemoryError)


class _Budget:
    """What has been read from one file so far, against the bounds above."""

    def __init__(self, where: str):
        self.where, self.objects, self.bytes = where, 0, 0
        self.seen: set = set()

    def refuse(self, what: str, at: str) -> InputError:
        return InputError(
            f"'{self.where}' is not a NIR file this reader accepts: {what}",
            where=f"HDF5 object '{at}'",
            fix="the file may be damaged; export it again with nir.write",
        )

    @contextmanager
    def h5(self, at: str) -> Iterator[None]:
        """Around h5py calls only: what h5py raises on damaged bytes becomes an InputError naming the file."""
        try:
            yield
        except _H5_ERRORS as exc:
            raise InputError(
                f"'{self.where}' is not a readable NIR file ({type(exc).__name__}: {exc})",
                where=f"HDF5 object '{at}'",
                fix="the file may be truncated or not HDF5; export it again",
            ) from None


def _dataset_value(item, name: str, budget: _Budget) -> Any:
    """The value of one HDF5 dataset: numbers, or text (decoded as UTF-8)."""
    import h5py

    with budget.h5(name):
        foreign = bool(item.external) or bool(item.is_virtual)
        dtype, shape, size = item.dtype, item.shape, int(item.size)
        vlen_text = dtype.kind == "O" and h5py.check_string_dtype(dtype) is not None
        stored = int(item.id.get_storage_size())
    if foreign:
        raise budget.refuse("a dataset that reads from other files", name)
    text = dtype.kind == "S" or vlen_text
    if not text and dtype.kind not in "biuf":
        raise budget.refuse(f"a dataset of type {dtype} (NIR stores numbers and text)", name)
    claimed = size * (dtype.itemsize if dtype.kind != "O" else 16)
    if claimed > max(4096, MAX_EXPANSION * stored) or budget.bytes + claimed > MAX_TOTAL_BYTES:
        raise budget.refuse(f"a dataset of shape {shape} claims {claimed} bytes from {stored} stored", name)
    budget.bytes += claimed
    with budget.h5(name):
        value = item[()]
    if not text:
        return value
    try:
        if isinstance(value, bytes):
            return value.decode("utf-8")
        return np.array(
            [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.ravel(value)], dtype=object
        ).reshape(np.shape(value))
    except UnicodeDecodeError:
        raise budget.refuse("text that is not UTF-8", name) from None


def _member(group, key: str, name: str, budget: _Budget) -> Any:
    """The object ``key`` of ``group`` (None where there is none); a soft or external link is refused."""
    import h5py

    with budget.h5(name):
        link = group.get(key, getlink=True)
        item = group.get(key) if isinstance(link, h5py.HardLink) else None
    if link is not None and not isinstance(link, h5py.HardLink):
        raise budget.refuse("a soft or external link", name)
    return item


def _h5_to_dict(group, at: str, budget: _Budget, depth: int = 0) -> dict[str, Any]:
    """The tree under the HDF5 group at ``at`` as nested dicts; only hard links, groups and plain datasets."""
    import h5py

    if depth > MAX_DEPTH:
        raise budget.refuse(f"groups nested more than {MAX_DEPTH} deep", at)
    with budget.h5(at):
        keys = [str(k) for k in group.keys()]
    out: dict[str, Any] = {}
    for key in keys:
        name = f"{at.rstrip('/')}/{key}"
        item = _member(group, key, name, budget)
        budget.objects += 1
        if budget.objects > MAX_OBJECTS or item is None:
            raise budget.refuse("too many objects" if item is not None else "a link to nothing", name)
        if isinstance(item, h5py.Group):
            with budget.h5(name):
                addr = h5py.h5o.get_info(item.id).addr
            if addr in budget.seen:
                raise budget.refuse("a group linked twice (a cycle)", name)
            budget.seen.add(addr)
            out[key] = _h5_to_dict(item, name, budget, depth + 1)
        elif isinstance(item, h5py.Dataset):
            out[key] = _dataset_value(item, name, budget)
        else:
            raise budget.refuse(f"a {type(item).__name__} where NIR stores a group or a dataset", name)
    return out


def _read_tree(path: str) -> tuple[str | None, dict[str, Any]]:
    """The nir version and the tree under ``/node`` of an HDF5 file, as plain values (the child's work)."""
    import h5py

    budget = _Budget(path)
    with budget.h5("/"):
        f = h5py.File(path, "r")
    try:
        node = _member(f, "node", "/node", budget)
        if not isinstance(node, h5py.Group):
            raise InputError(
                f"'{path}' is an HDF5 file without a 'node' group, so not a NIR graph",
                fix="export the model with nir.write or qsnn-deploy",
            )
        item, version = _member(f, "version", "/version", budget), None
        if item is not None:
            version = _dataset_value(item, "/version", budget) if isinstance(item, h5py.Dataset) else None
            if not isinstance(version, str):
                raise budget.refuse("a version that is not text", "/version")
        return version, _h5_to_dict(node, "/node", budget)
    finally:
        with suppress(*_H5_ERRORS):
            f.close()  # read-only: closing loses nothing


def _child_result(path: str) -> tuple:
    """The child's work as a message: ``("ok", tree)``, ``("input", what, where, fix)`` or ``("bug", traceback)``."""
    try:
        return ("ok", _read_tree(path))
    except InputError as exc:
        return ("input", exc.what, exc.where, exc.fix)
    except BaseException:  # noqa: BLE001 - a bug of ours: the parent reports it as one (exit 1)
        return ("bug", traceback.format_exc())


def _read_in_child(path: str, conn: Any) -> None:
    """The forked child: says it started (so a death before this is not blamed on the file), then the result."""
    conn.send(STARTED)
    result = _child_result(path)
    try:
        conn.send(result)
    except BaseException:  # noqa: BLE001 - e.g. a value that does not pickle: a bug of ours too
        conn.send(("bug", traceback.format_exc()))
    conn.close()


def child_main() -> None:
    """The subprocess child (``python -c`` with the path as argument): the same messages, pickled on stdout."""
    import pickle
    import sys

    out = sys.stdout.buffer
    out.write(pickle.dumps(STARTED))
    out.flush()
    result = _child_result(sys.argv[1])
    try:
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:  # noqa: BLE001
        data = pickle.dumps(("bug", traceback.format_exc()))
    out.write(data)
    out.flush()


STARTED = ("started",)


READ_TIMEOUT_ENV = "QSNN_DEPLOY_READ_TIMEOUT_S"


def read_limit_s(size: int) -> float:
    """Seconds the HDF5 walk of a file of ``size`` bytes may take: ``$QSNN_DEPLOY_READ_TIMEOUT_S``, else
    20 s + 1 s per MiB (a real file takes milliseconds per MiB)."""
    env = os.environ.get(READ_TIMEOUT_ENV)
    if env is None:
        return 20.0 + size / 2**20
    try:
        limit = float(env)
    except ValueError:
        limit = math.nan
    if not (math.isfinite(limit) and limit > 0):
        raise UsageError(
            f"${READ_TIMEOUT_ENV} is {short_repr(env)}, not a positive number of seconds",
            fix=f"unset it, or set a number such as {READ_TIMEOUT_ENV}=60",
        )
    return limit


def _ended(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


def _start_method() -> str:
    """'fork' on Linux outside daemonic processes (milliseconds: h5py is already imported), else a fresh
    interpreter through subprocess (macOS and Windows, where forking is unsafe or missing, and daemonic
    multiprocessing workers such as DataLoader's, which may not start children of their own)."""
    import multiprocessing as mp
    import sys

    return "fork" if sys.platform.startswith("linux") and not mp.current_process().daemon else "subprocess"


def _timed_out(path: Path, limit: float) -> InputError:
    return InputError(
        f"'{path}' is not a readable NIR file: reading its HDF5 structure did not finish within {limit:.3g} s",
        fix="the file is damaged (the HDF5 library loops on it); export it again "
        f"(a huge file on a slow disk may need a larger ${READ_TIMEOUT_ENV})",
    )


def _crashed(path: Path, how: str) -> InputError:
    return InputError(
        f"'{path}' is not a readable NIR file: the HDF5 library crashed reading it ({how})",
        fix="the file is damaged; export it again",
    )


def _not_started(how: str, detail: str = "") -> RuntimeError:
    return RuntimeError(
        f"the NIR reader process ended before it started reading ({how})" + (f": {detail}" if detail else "")
    )


def _via_fork(path: Path, limit: float) -> tuple[Any, ...]:
    """The child's message (("crashed", how) if it died after it started); raises on a time-out or a failed start."""
    import multiprocessing as mp
    import time

    import h5py  # noqa: F401 - imported before the fork, so that the child inherits it

    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_read_in_child, args=(str(path), send), name="qsnn-deploy HDF5 reader", daemon=True)
    started, result = False, None
    try:
        child.start()
        send.close()
        deadline = time.monotonic() + limit
        while result is None:
            if not receive.poll(max(0.0, deadline - time.monotonic())):
                if started:
                    raise _timed_out(path, limit)
                raise _not_started(f"no answer within {limit:.3g} s")
            try:
                message = receive.recv()
            except (EOFError, ConnectionError):  # the child ended before it sent more
                break
            if message == STARTED:
                started = True
            else:
                result = message
    finally:
        if child.pid is not None:  # started (start() itself may raise, e.g. a warning made an error)
            if child.is_alive():
                child.kill()
            child.join()
        receive.close()
        send.close()
    if not started:
        raise _not_started(_ended(child.exitcode))
    return result if result is not None else _crashed_result(child.exitcode)


def _crashed_result(code: int | None) -> tuple[str, str]:
    return ("crashed", _ended(code))


START_ALLOWANCE_S = 120.0  # a fresh interpreter's imports on a slow, busy machine; not the file's fault


def _read_with_timeout(stream: Any, n: int, timeout: float) -> bytes | None:
    """``stream.read(n)``, or None when it has not returned within ``timeout`` (pipes cannot be polled on
    every platform, so a daemon thread reads)."""
    import threading

    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(stream.read(n)), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0] if box else None


def _via_subprocess(path: Path, limit: float) -> tuple[Any, ...]:
    """The same in a fresh interpreter; its start-up (imports) is not counted in the limit."""
    import pickle
    import subprocess
    import sys

    code = "from qsnn_deploy.convert.nir_file import child_main; child_main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    head = pickle.dumps(STARTED)
    try:
        if _read_with_timeout(proc.stdout, len(head), START_ALLOWANCE_S) != head:
            proc.kill()
            _, err = proc.communicate()
            last = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise _not_started(_ended(proc.returncode), last[0])
        try:
            body, _ = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            raise _timed_out(path, limit) from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if not body:
        return _crashed_result(proc.returncode)
    return pickle.loads(body)  # noqa: S301 - written by our own child process, not read from the file


def _read_guarded(path: Path) -> tuple[str | None, dict[str, Any]]:
    """:func:`_read_tree` in a child process with a time limit, so that a hang or a crash inside the HDF5
    library (which no Python exception can stop) is an InputError naming the file, while a child that dies
    before it starts, or a bug of ours in it, stays an internal error."""
    limit = read_limit_s(path.stat().st_size)
    result = _via_fork(path, limit) if _start_method() == "fork" else _via_subprocess(path, limit)
    if result[0] == "crashed":
        raise _crashed(path, result[1])
    if result[0] == "input":
        raise InputError(*result[1:])
    if result[0] == "bug":
        lines = result[1].strip().splitlines()
        exc = RuntimeError(f"reading the HDF5 tree of '{path}' failed in the reader process: {lines[-1]}")
        exc.add_note(result[1])  # the child's traceback, shown with --debug
        raise exc
    return result[1]


def _edges(value: Any, where: str) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        raise InputError("'edges' is a group, not a list of node-name pairs", where=where)
    arr = np.asarray(value, dtype=object)
    if arr.size == 0:
        return []
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(f"edges must be pairs of node names, got an array of shape {arr.shape}", where=where)
    if not all(isinstance(v, str) for v in arr.ravel()):
        raise InputError("edges must be pairs of node names (text)", where=where)
    return [(str(a), str(b)) for a, b in arr]


_PORT_FIELDS = ("input_type", "output_type")


def _fields(name: str, data: dict[str, Any], where: str) -> dict[str, Any]:
    """A node's fields, each numbers or text: what the importer can judge (a group where NIR has an array,
    an object array, a complex number are refused here, naming the field)."""
    fields: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in _PORT_FIELDS and len(value) == 1:
            value = next(iter(value.values()))  # nir's {port: shape}, as one shape
        ok = isinstance(value, str) or (
            isinstance(value, (np.ndarray, np.generic)) and np.asarray(value).dtype.kind in "biuf"
        )
        if not ok:
            raise InputError(
                f"field '{key}' of node '{name}' is {type(value).__name__}, not numbers or text",
                where=f"{where}, node {name}",
                fix="the file is damaged or not a NIR graph",
            )
        fields[str(key)] = value
    return fields


def _node_from_dict(name: str, data: Any, where: str, depth: int = 0) -> RawNode:
    if not isinstance(data, dict):
        raise InputError(
            f"node '{name}' is not a group of fields", where=where, fix="the file is not a NIR graph, or it is damaged"
        )
    if "type" not in data:
        raise InputError(
            f"node '{name}' has no 'type' field", where=where, fix="the file is not a NIR graph, or it is damaged"
        )
    data = dict(data)
    kind = data.pop("type")
    if not isinstance(kind, str):
        raise InputError(
            f"the type of node '{name}' is not text", where=where, fix="the file is not a NIR graph, or it is damaged"
        )
    meta = data.pop("metadata", {})
    if meta is not None and not isinstance(meta, dict):
        raise InputError(f"the metadata of node '{name}' is not a group", where=where)
    if kind == "NIRGraph":
        return RawNode(name, kind, {}, meta or {}, _graph_from_dict(data, f"{where}, node {name}", depth=depth + 1))
    return RawNode(name, kind, _fields(name, data, where), meta or {})


def _graph_from_dict(data: dict[str, Any], where: str, version: str | None = None, depth: int = 0) -> RawGraph:
    if depth > MAX_DEPTH:
        raise InputError(f"subgraphs nested more than {MAX_DEPTH} deep", where=where)
    if "nodes" not in data or "edges" not in data:
        raise InputError(
            "the graph has no 'nodes' or no 'edges'", where=where, fix="the file is not a NIR graph, or it is damaged"
        )
    if not isinstance(data["nodes"], dict):
        raise InputError("'nodes' is not a group of nodes", where=where, fix="the file is damaged; export it again")
    nodes = {str(k): _node_from_dict(str(k), v, where, depth) for k, v in data["nodes"].items()}
    meta = data.get("metadata", {})
    if meta is not None and not isinstance(meta, dict):
        raise InputError("the graph's metadata is not a group", where=where)
    return RawGraph(nodes, _edges(data["edges"], where), meta or {}, version)


def read_nir_file(path: str | Path) -> RawGraph:
    """The graph of a NIR file written by any nir 1.x; a missing, damaged or oversized file is an InputError,
    also where the HDF5 library hangs or crashes on it (the HDF5 tree is read in a child process)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"NIR file '{path}' does not exist", fix="check the path, or run `qsnn-deploy convert` first")
    version, data = _read_guarded(path)
    kind = data.get("type", "NIRGraph")
    if kind != "NIRGraph":
        raise InputError(
            f"'{path}' holds a single {short_repr(kind)} node, not a graph", fix="export the whole model as a NIRGraph"
        )
    data.pop("type", None)
    return _graph_from_dict(data, str(path), version)


def _value(value: Any) -> Any:
    """Plain numpy/python values from a node attribute (torch tensors included, without importing torch)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    if isinstance(value, (tuple, list)):
        return np.asarray([_value(v) for v in value])
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    return value


def raw_from_graph(graph: Any) -> RawGraph:
    """A :class:`RawGraph` from a ``nir.NIRGraph`` object (e.g. what ``sinabs.to_nir`` returns)."""
    if type(graph).__name__ != "NIRGraph":
        raise InputError(f"expected a nir.NIRGraph, got {type(graph).__name__}")
    nodes = {}
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        attrs = {k: v for k, v in vars(node).items() if not k.startswith("_")}
        meta = attrs.pop("metadata", {}) or {}
        in_type, out_type = attrs.pop("input_type", None), attrs.pop("output_type", None)
        if kind == "NIRGraph":
            nodes[name] = RawNode(name, kind, {}, meta, raw_from_graph(node))
            continue
        fields = {k: _value(v) for k, v in attrs.items() if v is not None}
        if kind == "Input":
            fields["shape"] = _value((in_type or {}).get("input"))
        elif kind == "Output":
            fields["shape"] = _value((out_type or {}).get("output"))
        elif kind == "Flatten" and (in_type or {}).get("input") is not None:
            fields["input_type"] = _value(in_type["input"])
        nodes[name] = RawNode(name, kind, {k: v for k, v in fields.items() if v is not None}, meta)
    return RawGraph(nodes, [(str(a), str(b)) for a, b in graph.edges], dict(graph.metadata or {}), None)
