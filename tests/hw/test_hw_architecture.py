"""Architectures are one ``StrEnum``: profiles hold its members, and the library names them only through it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from qsnn_deploy.errors import InputError
from qsnn_deploy.hw import ARCHITECTURES, Architecture, Core, Profile, estimate, list_profiles, load_profile
from qsnn_deploy.hw.rules import RULES

ROOT = Path(__file__).resolve().parents[2]


def test_members_are_their_yaml_text_in_the_documented_order():
    assert [str(a) for a in Architecture] == ["layer-per-core", "neuron-cores", "dense-accelerator"]
    assert ARCHITECTURES == tuple(Architecture)
    assert Architecture.NEURON_CORES == "neuron-cores" and f"{Architecture.LAYER_PER_CORE}" == "layer-per-core"
    assert json.dumps({"a": Architecture.DENSE_ACCELERATOR}) == '{"a": "dense-accelerator"}'


def test_profiles_hold_members_whether_read_from_yaml_or_built_from_text():
    for name in list_profiles():
        assert type(load_profile(name).architecture) is Architecture
    built = Profile("mine", (Core(0, 1, 1, 1),), architecture="layer-per-core")  # type: ignore[arg-type]
    assert built.architecture is Architecture.LAYER_PER_CORE and built.has_layer_cores
    with pytest.raises(InputError, match=r"unknown architecture 'layer-per-cores'.*did you mean 'layer-per-core'"):
        Profile("mine", (Core(0, 1, 1, 1),), architecture="layer-per-cores")  # type: ignore[arg-type]


def test_rules_and_estimates_carry_members_and_dicts_carry_plain_text(speck2f, layers):
    assert {type(r.architecture) for r in RULES.values()} == {Architecture}
    assert {r.architecture for r in RULES.values()} == {Architecture.LAYER_PER_CORE, Architecture.NEURON_CORES}
    net = layers.chain(layers.conv("conv1", 2, 4, 3, (8, 8)))
    est = estimate(net, speck2f, {"conv1": 100.0}, 0.1)
    assert est.architecture is Architecture.LAYER_PER_CORE
    for d in (est.to_dict(), load_profile("loihi").to_dict()):
        assert type(d["architecture"]) is str
    assert load_profile("loihi").to_dict()["architecture"] == "neuron-cores"


def architecture_literals(source: str) -> list[int]:
    """Lines of ``source`` with a string constant that is an architecture's text, outside the enum's definition."""
    tree = ast.parse(source)
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Architecture":
            allowed |= {id(n) for n in ast.walk(node)}
    values = {a.value for a in Architecture}
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in values and id(node) not in allowed
    ]


def test_the_literal_check_finds_an_architecture_string():
    assert architecture_literals('x = 1\nif p.architecture == "neuron-cores":\n    pass\n') == [2]
    assert architecture_literals('class Architecture:\n    A = "neuron-cores"\n') == []
    assert architecture_literals('doc = "``neuron-cores`` chips"\n') == []


def test_the_library_names_architectures_only_through_the_enum():
    found = {
        str(path.relative_to(ROOT)): lines
        for folder in ("qsnn_deploy", "cli")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (lines := architecture_literals(path.read_text(encoding="utf-8")))
    }
    assert found == {}
