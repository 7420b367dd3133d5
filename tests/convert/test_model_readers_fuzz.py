"""Model readers on any bytes: checkpoints and NIR files that are random, truncated, mutated or hold
wrong keys, types and shapes load or give an InputError naming the file (exit 3; a valid model that Speck
cannot run, exit 4) — never an internal error (exit 1), never a hang or an unbounded allocation."""

from __future__ import annotations

import functools
import tempfile
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from byte_mutations import damaged, loads_or_names_file, mutated
from click.testing import CliRunner
from helpers import random_network, run_cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qsnn_deploy.convert.loader import load_network
from qsnn_deploy.convert.nir_io import write_nir
from qsnn_deploy.errors import ConstraintError, InputError
from qsnn_deploy.ir import Network

REFERENCE = Path(__file__).resolve().parents[2] / "models" / "digits_speck.pt"
MODEL_ERRORS = (InputError, ConstraintError)
CHEAP = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch on garbage pickles
KEYERROR_SEED = 62  # np.random.default_rng(62): 4096 bytes on which torch.load raises KeyError (issue 15)


def _random_file(seed: int, n: int = 4096) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _records(path: Path = REFERENCE) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _zip(records: dict[str, bytes]) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in records.items():
            z.writestr(name, data)
    return buf.getvalue()


RECORDS = _records()
PICKLE = next(n for n in RECORDS if n.endswith("data.pkl"))


def _read(path: Path) -> Network | None:
    net = load_network(path)
    assert isinstance(net, Network) and net.layers
    return net


# ------------------------------------------------------------------------------------------ checkpoints


def test_the_keyerror_file_of_issue_15(tmp_path):
    """The file that gave `internal error (KeyError: ...)`, exit 1: torch.load raises KeyError on it."""
    raw = _random_file(KEYERROR_SEED)
    path = tmp_path / "random.pt"
    path.write_bytes(raw)
    with pytest.raises(KeyError):  # the foreign parser's behaviour the reader must absorb (torch pinned)
        torch.load(path, map_location="cpu", weights_only=True)
    with pytest.raises(InputError, match=r"not a readable PyTorch checkpoint \(not the zip archive") as err:
        load_network(path)
    assert str(path) in err.value.message
    # the same bytes as the pickle of a well-formed torch zip reach torch.load itself: its KeyError too
    inside = tmp_path / "inside.pt"
    inside.write_bytes(
        _zip({"archive/data.pkl": b"\x80\x02" + raw, "archive/version": b"3\n", "archive/byteorder": b"little"})
    )
    with pytest.raises(KeyError):
        torch.load(inside, map_location="cpu", weights_only=True)
    with pytest.raises(InputError, match=r"not a readable PyTorch checkpoint \(KeyError\)") as err:
        load_network(inside)
    assert str(inside) in err.value.message


def test_random_checkpoint_through_the_cli_is_exit_3(tmp_path):
    """The command of issue 15, as a real subprocess."""
    path = tmp_path / "random.pt"
    path.write_bytes(_random_file(KEYERROR_SEED))
    proc = run_cli("convert", path, "--target", "speck2f", "--out", tmp_path / "out", check=False)
    assert proc.returncode == 3, proc.stderr
    assert str(path) in proc.stderr and "internal error" not in proc.stderr


@CHEAP
@given(raw=damaged(REFERENCE.read_bytes()))
@example(raw=_random_file(KEYERROR_SEED))
def test_damaged_checkpoint_bytes(tmp_path, raw):
    loads_or_names_file(_read, tmp_path / "checkpoint.pt", raw, MODEL_ERRORS)


@CHEAP
@given(pickle=st.one_of(mutated(RECORDS[PICKLE]), st.binary(max_size=4096).map(lambda b: b"\x80\x02" + b)))
def test_damaged_pickle_inside_a_valid_zip(tmp_path, pickle):
    """Mutations that pass the zip layer reach torch's unpickler and the checkpoint's content checks."""
    loads_or_names_file(_read, tmp_path / "checkpoint.pt", _zip({**RECORDS, PICKLE: pickle}), MODEL_ERRORS)


PAYLOAD = torch.load(REFERENCE, map_location="cpu", weights_only=True)
GARBAGE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(),
    st.text(max_size=8),
    st.lists(st.integers(-3, 10**6), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
    st.builds(
        lambda shape, v: torch.full(shape, v), st.lists(st.integers(0, 3), max_size=3).map(tuple), st.floats(width=32)
    ),
)


def _payload_keys() -> list[tuple[str, ...]]:
    keys = [(k,) for k in PAYLOAD]
    keys += [("model_spec", k) for k in PAYLOAD["model_spec"]]
    keys += [("model_spec", "layers", 0, k) for k in PAYLOAD["model_spec"]["layers"][0]]
    keys += [("model_spec", "neuron", k) for k in PAYLOAD["model_spec"]["neuron"]]
    keys += [("state_dict", k) for k in PAYLOAD["state_dict"]]
    return keys


def _replace(doc, key: tuple, value, delete: bool):
    import copy

    doc = copy.deepcopy(doc)
    inner = doc
    for k in key[:-1]:
        inner = inner[k]
    if delete:
        del inner[key[-1]]
    else:
        inner[key[-1]] = value
    return doc


@CHEAP
@given(key=st.sampled_from(_payload_keys()), value=GARBAGE, delete=st.booleans())
@example(key=("model_spec", "input_shape"), value=[2, 10**6, 10**6], delete=False)  # a billion-pixel claim
@example(key=("state_dict", "blocks.0.conv.weight"), value=torch.full((16, 2, 3, 3), float("nan")), delete=False)
@example(key=("dt_us",), value="fast", delete=False)
@example(key=("model_spec", "layers", 0, "bias"), value=torch.zeros(0), delete=False)  # found by make fuzz
def test_checkpoint_with_wrong_keys_and_types(tmp_path, key, value, delete):
    """A valid torch file whose content is wrong: a key missing, a value of the wrong type or shape."""
    path = tmp_path / "checkpoint.pt"
    torch.save(_replace(PAYLOAD, key, value, delete), path)
    loads_or_names_file(_read, path, path.read_bytes(), MODEL_ERRORS)


def test_a_huge_declared_model_is_refused_before_it_is_built(tmp_path):
    path = tmp_path / "huge.pt"
    torch.save(_replace(PAYLOAD, ("model_spec", "layers", 2, "out_channels"), 60000, False), path)
    with pytest.raises(InputError, match="declares .* weights, more than its .* bytes can hold") as err:
        load_network(path)
    assert str(path) in err.value.message


def test_a_compressed_record_is_refused_before_torch_reads_it(tmp_path):
    """A zip bomb: a record that expands far beyond the file is never handed to torch."""
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in RECORDS.items():
            z.writestr(name, data)
        z.writestr("checkpoint.pt/data/99", bytes(10**7))
    with pytest.raises(InputError, match="is compressed or claims") as err:
        load_network(path)
    assert str(path) in err.value.message


# ------------------------------------------------------------------------------------------ NIR


@functools.cache
def _nir_bytes(kind: str = "chain") -> bytes:
    """A chip-ready NIR file: a chain, or a graph with a branch, a merge and per-destination pooling."""
    from graph_nets import mixed_pooling

    net = mixed_pooling(0, quantized=True) if kind == "graph" else random_network(0, quantized=True, bias=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.nir"
        write_nir(net, path)
        return path.read_bytes()


NIR_KINDS = st.sampled_from(["chain", "graph"])


@CHEAP
@given(data=st.data())
def test_damaged_nir_bytes(tmp_path, data):
    nir_bytes = _nir_bytes(data.draw(NIR_KINDS))
    raw = data.draw(damaged(nir_bytes, prefix=nir_bytes[:8]))
    loads_or_names_file(_read, tmp_path / "model.nir", raw, MODEL_ERRORS)


def _h5_tree(raw: bytes, path: Path) -> dict:
    path.write_bytes(raw)
    with h5py.File(path, "r") as f:

        def walk(group):
            return {k: walk(v) if isinstance(v, h5py.Group) else v[()] for k, v in group.items()}

        return walk(f)


def _h5_write(path: Path, tree: dict) -> None:
    def write(group, data):
        for key, value in data.items():
            if isinstance(value, dict):
                write(group.create_group(key), value)
            elif isinstance(value, str):
                group.create_dataset(key, data=value, dtype=h5py.string_dtype())
            else:
                group.create_dataset(key, data=value)

    with h5py.File(path, "w") as f:
        write(f, tree)


def _paths(tree: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for k, v in tree.items():
        out.append(prefix + (k,))
        if isinstance(v, dict):
            out += _paths(v, prefix + (k,))
    return out


NIR_GARBAGE = st.recursive(
    st.one_of(
        st.integers(-(2**31), 2**31),
        st.floats(),
        st.text(st.characters(exclude_characters="\x00"), max_size=6),  # h5py cannot write a NUL in text
        st.binary(max_size=6).map(np.bytes_),
        st.lists(st.floats(), max_size=5).map(np.array),
        st.lists(st.integers(-5, 2**20), max_size=5).map(lambda v: np.array(v, dtype=np.int64)),
        st.tuples(st.integers(0, 3), st.integers(0, 3)).map(lambda s: np.ones(s)),
        st.complex_numbers(allow_nan=False).map(np.complex128),
    ),
    lambda children: st.dictionaries(
        st.sampled_from(["type", "nodes", "edges", "weight", "shape", "x"]), children, min_size=1, max_size=3
    ),
    max_leaves=6,
)


@CHEAP
@given(data=st.data())
@example(data=None)
def test_nir_with_wrong_fields_types_and_nesting(tmp_path, data):
    """A readable HDF5 file whose NIR tree has a value replaced (wrong type, shape, NaN, nested garbage) or
    removed."""
    nir_bytes = _nir_bytes("chain" if data is None else data.draw(NIR_KINDS))
    tree = _h5_tree(nir_bytes, tmp_path / "valid.nir")
    if data is None:  # nested garbage: a subgraph in a subgraph in ... deeper than any real graph
        node = tree["node"]["nodes"]["c1.conv"]
        for _ in range(40):
            node = {"type": "NIRGraph", "nodes": {"n": node}, "edges": np.zeros((0, 2), dtype="S1")}
        tree["node"]["nodes"]["c1.conv"] = node
    else:
        key = data.draw(st.sampled_from(_paths(tree)))
        tree = _replace(tree, key, data.draw(NIR_GARBAGE), data.draw(st.booleans()))
    path = tmp_path / "model.nir"
    _h5_write(path, tree)
    loads_or_names_file(_read, path, path.read_bytes(), MODEL_ERRORS)


def test_nir_dataset_claiming_a_billion_values_is_refused(tmp_path):
    """A chunked, unwritten dataset reads as fill values: 10^9 of them from a file of kilobytes."""
    nir_bytes = _nir_bytes()
    path = tmp_path / "model.nir"
    path.write_bytes(nir_bytes)
    with h5py.File(path, "a") as f:
        del f["node/nodes/c1.conv/weight"]
        f.create_dataset("node/nodes/c1.conv/weight", shape=(10**9,), dtype="f8", chunks=(1024,))
    with pytest.raises(InputError, match="claims 8000000000 bytes") as err:
        load_network(path)
    assert str(path) in err.value.message


def test_nir_links_to_other_files_are_refused(tmp_path):
    nir_bytes = _nir_bytes()
    path = tmp_path / "model.nir"
    path.write_bytes(nir_bytes)
    with h5py.File(path, "a") as f:
        f["node/nodes/c1.conv/extra"] = h5py.ExternalLink("/etc/hostname", "/")
    with pytest.raises(InputError, match="soft or external link") as err:
        load_network(path)
    assert str(path) in err.value.message


# ------------------------------------------------------------------------------------------ through the CLI

RUNNER = CliRunner()


def _convert_exit(path: Path, raw: bytes, out: Path) -> None:
    from qsnn_deploy.cli.main import cli

    path.write_bytes(raw)
    result = RUNNER.invoke(cli, ["convert", str(path), "--target", "speck2f", "--out", str(out), "--overwrite"])
    assert result.exit_code in (0, 3, 4), result.output
    if result.exit_code:
        assert str(path) in result.output and "internal error" not in result.output, result.output


@settings(CHEAP, max_examples=12)
@given(raw=damaged(REFERENCE.read_bytes()))
@example(raw=_random_file(KEYERROR_SEED))
@example(raw=_random_file(17))  # torch.load: IndexError
@example(raw=_random_file(54))  # torch.load: UnicodeDecodeError
def test_cli_convert_of_damaged_checkpoint_never_exits_1(tmp_path, raw):
    _convert_exit(tmp_path / "checkpoint.pt", raw, tmp_path / "out")


@settings(CHEAP, max_examples=12)
@given(data=st.data())
def test_cli_convert_of_damaged_nir_never_exits_1(tmp_path, data):
    nir_bytes = _nir_bytes(data.draw(NIR_KINDS))
    _convert_exit(tmp_path / "model.nir", data.draw(damaged(nir_bytes, prefix=nir_bytes[:8])), tmp_path / "out")


@pytest.mark.parametrize(
    "key, value, match",
    [
        (("c1.conv", "stride"), np.array([0, 0]), "must be at least 1"),  # found by `make fuzz`: a division by zero
        (("c2.pool", "kernel_size"), np.array([0, 0]), "must be at least 1"),
        (("c1.conv", "weight"), np.full((4, 2, 3, 3), np.nan), "NaN or infinite"),
        (("c1.conv", "groups"), np.zeros(0), "differs between height and width|whole numbers"),
        (("c1.if", "v_threshold"), "high", "not numeric"),
    ],
)
def test_nir_field_values_that_no_chip_network_has(tmp_path, key, value, match):
    tree = _h5_tree(_nir_bytes(), tmp_path / "valid.nir")
    tree["node"]["nodes"][key[0]][key[1]] = value
    path = tmp_path / "model.nir"
    _h5_write(path, tree)
    with pytest.raises((InputError, ConstraintError), match=match) as err:
        load_network(path)
    assert str(path) in err.value.message
