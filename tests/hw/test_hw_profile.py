"""Hardware profiles: packaged data with provenance, strict loading, clear errors."""

import importlib.resources
from pathlib import Path

import pytest
import yaml

from qsnn_deploy.errors import InputError
from qsnn_deploy.hw import CONFIDENCES, Profile, Quantity, list_profiles, load_profile
from qsnn_deploy.hw.schema import SCHEMA


def packaged_text(name: str) -> str:
    return importlib.resources.files("qsnn_deploy.hw_profiles").joinpath(f"{name}.yaml").read_text()


def write_variant(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(packaged_text("speck2f"))
    edit(raw)
    path = tmp_path / "chip.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    return path


def test_packaged_profiles_are_listed_and_load():
    assert set(list_profiles()) == {"speck2e", "speck2f", "dynapcnn", "loihi", "loihi2", "generic-45nm"}
    for name in list_profiles():
        assert load_profile(name).name == name


def test_speck2f_facts(speck2f):
    assert [c.kernel_memory // 1024 for c in speck2f.cores] == [16, 16, 16, 32, 32, 64, 64, 16, 16]
    assert [c.neuron_memory // 1024 for c in speck2f.cores] == [64, 64, 64, 32, 32, 16, 16, 16, 16]
    assert {c.bias_memory for c in speck2f.cores} == {1024}
    c = speck2f.constraints
    assert (c.square_kernel, c.max_kernel_size, c.strides, c.padding, c.pooling) == (
        True,
        16,
        (1, 2, 4, 8),
        (0, 7),
        (1, 2, 4),
    )
    assert (c.max_channels, c.max_input_size, c.max_output_size, c.destinations) == (1024, (128, 128), (64, 64), 2)
    assert (speck2f.weight_bits, speck2f.state_bits) == (8, 16)
    assert speck2f.static_power.value == pytest.approx(4.2e-4) and speck2f.static_power.confidence == "published"
    assert speck2f.energy_per_synop.confidence == "derived" and speck2f.energy_per_synop.range is not None
    assert speck2f.quantity("cores.synops_ceiling").confidence == "secondary"
    assert speck2f.latency_per_layer.value == pytest.approx(3.36e-6 / 9, rel=1e-4)
    assert speck2f.quantity("power.idle_rails.logic").confidence == "measured"


def test_speck2e_has_the_same_cores_as_speck2f(speck2f):
    e = load_profile("speck2e")
    assert e.cores == speck2f.cores and e.constraints == speck2f.constraints
    assert e.samna_module == "samna.speck2e"


def test_alias_loads_the_profile():
    assert load_profile("speck2fdevkit").name == "speck2f"


def _numbers_without_provenance(node, path="", parent=None):
    """Paths of numeric leaves not inside a {value, source, confidence} quantity mapping."""
    bad = []
    if isinstance(node, dict):
        for k, v in node.items():
            bad += _numbers_without_provenance(v, f"{path}.{k}" if path else str(k), node)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            bad += _numbers_without_provenance(v, f"{path}[{i}]", parent)
    elif isinstance(node, (int, float)) and not isinstance(node, bool) and path != "schema_version":
        ok = (
            isinstance(parent, dict)
            and {"source", "confidence"} <= set(parent)
            and str(parent["source"]).strip()
            and parent["confidence"] in CONFIDENCES
        )
        if not ok:
            bad.append(path)
    return bad


@pytest.mark.parametrize("name", list_profiles())
def test_every_number_in_a_packaged_profile_has_source_and_confidence(name):
    raw = yaml.safe_load(packaged_text(name))
    assert _numbers_without_provenance(raw) == []
    # and every string that looks like a number was meant as one (YAML 1.1 reads 1.0e8 as text)
    profile = load_profile(name)
    assert all(isinstance(q, Quantity) for q in profile.quantities.values())


def test_load_by_path_equals_load_by_name(tmp_path, speck2f):
    path = tmp_path / "mychip.yaml"
    path.write_text(packaged_text("speck2f"))
    for target in (path, str(path)):
        p = load_profile(target)
        assert p.cores == speck2f.cores and p.path == str(path)


def test_unknown_target_name_lists_known_profiles_and_suggests():
    with pytest.raises(InputError) as e:
        load_profile("speck2g")
    assert e.value.exit_code == 3
    assert str(e.value) == (
        "unknown target 'speck2g'. Fix: did you mean 'speck2f'? Known profiles: "
        f"{', '.join(list_profiles())} (other names: dynapcnndevkit, generic_45nm, speck, "
        "speck2edevkit, speck2etestboard, speck2fdevkit, speck2fmodule, speck2fmoduledevkit); "
        "or pass the path of a profile YAML file."
    )


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InputError) as e:
        load_profile(missing)
    assert str(e.value).startswith(f"hardware profile file not found. Where: {missing}.")


def test_unknown_key_with_suggestion(tmp_path):
    def edit(raw):
        raw["cores"]["kernel_memmory"] = raw["cores"].pop("kernel_memory")

    path = write_variant(tmp_path, edit)
    with pytest.raises(InputError) as e:
        load_profile(path)
    assert str(e.value) == (
        f"unknown key 'kernel_memmory' in hardware profile. Where: {path}, key 'cores.kernel_memmory'. "
        "Fix: did you mean 'kernel_memory'? allowed keys here: count, kernel_memory, neuron_memory, bias_memory, "
        "destinations, synops_ceiling, neurons, synaptic_memory, fan_in."
    )


def test_unknown_key_inside_a_quantity(tmp_path):
    def edit(raw):
        raw["power"]["static"]["sorce"] = raw["power"]["static"].pop("source")

    path = write_variant(tmp_path, edit)
    with pytest.raises(InputError, match=r"unknown key 'sorce'.*key 'power.static.sorce'.*did you mean 'source'"):
        load_profile(path)


def test_unknown_top_level_key(tmp_path):
    path = write_variant(tmp_path, lambda raw: raw.update(latencyy={}))
    with pytest.raises(InputError, match=r"key 'latencyy'.*did you mean 'latency'"):
        load_profile(path)


def test_bad_value_names_file_and_key(tmp_path):
    def edit(raw):
        raw["cores"]["kernel_memory"]["value"] = [16384, -1, 16384, 32768, 32768, 65536, 65536, 16384, 16384]

    path = write_variant(tmp_path, edit)
    with pytest.raises(InputError) as e:
        load_profile(path)
    assert str(e.value) == (
        "invalid hardware profile: expected a list of non-negative integers, got (16384, -1, 16384, 32768, 32768, "
        f"65536, 65536, 16384, 16384). Where: {path}, key 'cores.kernel_memory.value'."
    )


def test_bad_confidence_suggests(tmp_path):
    path = write_variant(tmp_path, lambda raw: raw["power"]["static"].update(confidence="measurd"))
    with pytest.raises(InputError) as e:
        load_profile(path)
    assert str(e.value) == (
        "invalid hardware profile: confidence 'measurd' is not one of measured, published, simulated, derived, "
        f"secondary, assumed. Where: {path}, key 'power.static'. Fix: did you mean 'measured'."
    )


def test_missing_source(tmp_path):
    path = write_variant(tmp_path, lambda raw: raw["energy"]["per_synop"].pop("source"))
    with pytest.raises(InputError, match=r"missing 'source'.*key 'energy.per_synop.source'"):
        load_profile(path)


def test_exponent_without_sign_is_explained(tmp_path):
    path = tmp_path / "chip.yaml"
    path.write_text(packaged_text("speck2f").replace("value: 4.2e-4", "value: 4.2e4x"))
    with pytest.raises(InputError, match=r"key 'power.static'"):
        load_profile(path)
    path.write_text(packaged_text("speck2f").replace("value: 4.2e-4", "value: 4.2e4"))
    with pytest.raises(InputError, match=r"is not a number.*key 'power.static'.*write the exponent with a sign"):
        load_profile(path)


def test_an_integer_beyond_a_float_is_refused_by_key(tmp_path):
    # 10**400 made math.isfinite raise OverflowError (exit 1); it is refused like any other non-number
    big = "1" + "0" * 400
    path = tmp_path / "chip.yaml"
    path.write_text(packaged_text("speck2f").replace("value: 4.2e-4", f"value: {big}"))
    with pytest.raises(InputError, match=r"is not a number.*key 'power.static'"):
        load_profile(path)
    path.write_text(packaged_text("speck2f").replace("value: 4.2e-4", "value: 4.2e-4\n    range: [0, " + big + "]"))
    with pytest.raises(InputError, match=r"expected \[low, high\].*key 'power.static.range'"):
        load_profile(path)


def test_core_lists_of_different_length(tmp_path):
    path = write_variant(tmp_path, lambda raw: raw["cores"]["bias_memory"].update(value=[1024] * 8))
    with pytest.raises(InputError, match=r"lists 8 cores but cores.kernel_memory lists 9.*key 'cores.bias_memory'"):
        load_profile(path)


def test_missing_required_key(tmp_path):
    path = write_variant(tmp_path, lambda raw: raw["cores"].pop("neuron_memory"))
    with pytest.raises(InputError, match=r"required key is missing.*key 'cores.neuron_memory'"):
        load_profile(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ncores: [\n")
    with pytest.raises(InputError, match=rf"not valid YAML.*Where: {path}, line \d+"):
        load_profile(path)


def test_unsupported_schema_version(tmp_path):
    path = write_variant(tmp_path, lambda raw: raw.update(schema_version=99))
    with pytest.raises(InputError, match=r"version 99 is not supported.*key 'schema_version'"):
        load_profile(path)


def test_quantity_validates_itself():
    with pytest.raises(InputError, match="outside its range"):
        Quantity(5.0, "J", "x", "derived", range=(1.0, 2.0))
    with pytest.raises(InputError, match="non-empty 'source'"):
        Quantity(1, "", " ", "assumed")
    assert Quantity([1, 2], "", "s", "published").value == (1, 2)


def test_profile_validates_itself():
    with pytest.raises(InputError, match="has no cores"):
        Profile("x", cores=())


def test_schema_quantity_sections_have_no_free_keys_where_typos_matter():
    # free-form keys are only allowed in 'info' and 'power.idle_rails'
    assert "*" not in SCHEMA["power"] and "*" not in SCHEMA["latency"] and "*" not in SCHEMA["energy"]


def test_dynapcnn_has_speck_cores_and_says_it_is_legacy(speck2f):
    d = load_profile("dynapcnndevkit")
    assert d.name == "dynapcnn" and d.architecture == "layer-per-core"
    assert d.cores == speck2f.cores and d.constraints == speck2f.constraints
    assert d.samna_module == "samna.dynapcnn" and d.sensor_power is None
    assert "samna 0.46.0 dropped the DynapcnnDevKit" in d.notes[0] and "PR #278" in d.notes[0]
    assert {d.static_power.confidence, d.energy_per_synop.confidence, d.latency_per_layer.confidence} == {"assumed"}


def test_loihi_profiles():
    l1, l2 = load_profile("loihi"), load_profile("loihi2")
    assert (l1.architecture, l1.cores) == ("neuron-cores", ())
    assert vars(l1.neuro_cores) == {"count": 128, "neurons": 1024, "synaptic_memory_bytes": 131072, "fan_in": 4096}
    assert vars(l2.neuro_cores) == {"count": 128, "neurons": 8192, "synaptic_memory_bytes": 196608, "fan_in": None}
    assert l1.quantity("energy.per_synop").value == pytest.approx(23.6e-12)
    assert {l1.quantity(f"energy.{k}").confidence for k in ("per_synop", "per_spike", "per_neuron_update")} == {
        "simulated"
    }
    assert {l2.quantity(f"energy.{k}").confidence for k in ("per_synop", "per_spike", "per_neuron_update")} == {
        "assumed"
    }
    assert (l1.weight_bits, l2.weight_bits) == (9, 8)
    assert l2.quantity("latency.per_synop").value == pytest.approx(3.5e-9 / 5)


def test_generic_45nm_is_a_dense_accelerator_with_horowitz_energies():
    g = load_profile("generic_45nm")
    assert g.name == "generic-45nm" and g.architecture == "dense-accelerator" and g.cores == ()
    mac = g.quantity("energy.per_mac")
    assert mac.value == pytest.approx(3.7e-12 + 0.9e-12) and mac.range == pytest.approx((0.2e-12 + 0.03e-12, 4.6e-12))
    assert g.static_power is None and g.quantity("latency.per_layer") is None


def test_profile_json_names_the_architecture():
    d = load_profile("loihi").to_dict()
    assert d["architecture"] == "neuron-cores" and d["neuro_cores"]["neurons"] == 1024 and d["notes"]


def _loihi_variant(tmp_path, edit):
    raw = yaml.safe_load(packaged_text("loihi"))
    edit(raw)
    path = tmp_path / "chip.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    return path


def test_neuron_cores_profile_needs_its_core_limits(tmp_path):
    path = _loihi_variant(tmp_path, lambda raw: raw["cores"].pop("neurons"))
    with pytest.raises(InputError) as e:
        load_profile(path)
    assert str(e.value) == (
        f"invalid hardware profile: required key is missing. Where: {path}, key 'cores.neurons'. "
        "Fix: a neuron-cores profile needs cores.neurons."
    )


def test_core_keys_of_another_architecture_are_refused(tmp_path):
    def edit(raw):
        raw["cores"]["neurons"] = {"value": 1024, "source": "x", "confidence": "assumed"}

    path = write_variant(tmp_path, edit)
    with pytest.raises(InputError) as e:
        load_profile(path)
    assert str(e.value) == (
        f"invalid hardware profile: does not apply to a layer-per-core chip. Where: {path}, key 'cores.neurons'. "
        "Fix: remove it, or set 'architecture' to the chip's kind (layer-per-core, neuron-cores, dense-accelerator)."
    )


def test_unknown_architecture_suggests(tmp_path):
    path = _loihi_variant(tmp_path, lambda raw: raw.update(architecture="neuron-core"))
    with pytest.raises(
        InputError,
        match=r"unknown architecture 'neuron-core'.*did you mean 'neuron-cores'.*"
        r"key 'architecture'",
    ):
        load_profile(path)
