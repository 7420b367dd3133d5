"""YAML readers on any bytes: hardware profiles and model files that are random, not UTF-8, truncated,
mutated or hold values of the wrong type load or give an InputError naming the file (exit 3)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from byte_mutations import damaged, loads_or_names_file
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qsnn_deploy.errors import InputError
from qsnn_deploy.hw.profile import Profile, load_profile
from qsnn_deploy.nets.zoo import ModelSpec, load_spec

ROOT = Path(__file__).resolve().parents[1]
PROFILE = (ROOT / "hw_profiles" / "speck2f.yaml").read_bytes()
MODEL = (ROOT / "models" / "digits_speck.yaml").read_bytes()
CHEAP = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
READERS = {"profile.yaml": (PROFILE, load_profile, Profile), "model.yaml": (MODEL, load_spec, ModelSpec)}


def _reader(kind: type):
    def read(path):
        got = (load_profile if kind is Profile else load_spec)(path)
        assert isinstance(got, kind)
        return got

    return read


@pytest.mark.parametrize("name", sorted(READERS))
@CHEAP
@given(data=st.data())
@example(data=None)
def test_yaml_files_on_damaged_bytes(tmp_path, name, data):
    raw, _, kind = READERS[name]
    if data is None:
        bad = raw[:40] + b"\x87\xff" + raw[40:]  # not UTF-8: the UnicodeDecodeError of issue 15
    else:
        bad = data.draw(damaged(raw))
    loads_or_names_file(_reader(kind), tmp_path / name, bad)


def test_non_utf8_profile_names_the_byte(tmp_path):
    path = tmp_path / "chip.yaml"
    path.write_bytes(b"name: chip\ndescription: caf\xe9\n")
    with pytest.raises(InputError, match=r"not UTF-8 text \(byte 0xe9 at offset 27, line 2\)") as err:
        load_profile(path)
    assert str(path) in err.value.message


VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)


def _keys(doc, prefix=()) -> list[tuple]:
    out = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for k, v in items:
        out.append(prefix + (k,))
        out += _keys(v, prefix + (k,))
    return out


@pytest.mark.parametrize("name", sorted(READERS))
@CHEAP
@given(data=st.data())
def test_yaml_documents_with_wrong_types(tmp_path, name, data):
    """Valid YAML, wrong content: any key's value replaced by a drawn value (lists, mappings, huge ints, NaN)."""
    raw, _, kind = READERS[name]
    doc = yaml.safe_load(raw)
    key = data.draw(st.sampled_from(_keys(doc)))
    doc = copy.deepcopy(doc)
    inner = doc
    for k in key[:-1]:
        inner = inner[k]
    inner[key[-1]] = data.draw(VALUES)
    loads_or_names_file(_reader(kind), tmp_path / name, yaml.safe_dump(doc).encode())


# 8^9 leaves by aliases, where both readers expect text: refused without expanding (or printing) them
BOMB = (
    "description: [&a [x, x, x, x, x, x, x, x], "
    + ", ".join(f"&{c} [{', '.join(['*' + p] * 8)}]" for p, c in zip("abcdefgh", "bcdefghi"))
    + "]\n"
)
HEAD = {
    "model.yaml": "name: x\ninput_shape: [2, 8, 8]\nlayers: [{type: linear, out_features: 2}]\n",
    "profile.yaml": "schema_version: 1\nname: x\n",
}


@pytest.mark.parametrize("name", sorted(READERS))
@pytest.mark.parametrize(
    "text, match",
    [
        (BOMB, "'description' must be text|expected text"),
        ("[" * 5000 + "]" * 5000, "nests too deeply"),
        ("name: 2001-13-45\n", "YAML cannot construct"),  # PyYAML's date constructor raises ValueError
    ],
)
def test_yaml_that_expands_nests_or_cannot_be_built(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_text(HEAD[name] + text if text is BOMB else text)
    with pytest.raises(InputError, match=match) as err:
        READERS[name][1](path)
    assert str(path) in err.value.message
    assert len(err.value.message) < 2000
