"""Targets by the names people use (issue 15, item 8): one resolution for every command — profile names,
the family name (speck → speck2f, with a note), samna's board names as sinabs spells them — and unknown
names refused (exit 3) with a suggestion."""

import ast
import importlib.util
from pathlib import Path

import pytest

from qsnn_deploy.deploy import targets
from qsnn_deploy.deploy.targets import CHIP_TARGETS, SamnaInfo, check_target, resolve_deploy_target
from qsnn_deploy.errors import BackendUnavailable, InputError
from qsnn_deploy.hw import list_profiles, load_profile
from qsnn_deploy.hw.profile import profile_aliases, resolve_target
from qsnn_deploy.hw.schema import profile_from_dict

SPECK_NOTE = "target 'speck' is the Speck family: using speck2f; name a profile to choose another (speck2e)"


def sinabs_dict(module: str, name: str) -> dict:
    """A literal dict assigned to ``name`` in ``sinabs/backend/dynapcnn/<module>.py``, read from the installed
    source (not imported: everything under sinabs.backend.dynapcnn imports samna); values that are names
    (config builder classes) come back as their identifiers."""
    spec = importlib.util.find_spec("sinabs")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("sinabs is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "backend" / "dynapcnn" / f"{module}.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if getattr(target, "id", None) == name:
                return {
                    k.value: getattr(v, "value", getattr(v, "id", None))
                    for k, v in zip(node.value.keys, node.value.values)
                }
    raise AssertionError(f"no {name} in {path}")


def sinabs_device_names() -> list[str]:
    """The board names of sinabs' ChipFactory.supported_devices."""
    return list(sinabs_dict("chip_factory", "supported_devices"))


def test_the_family_name_is_the_current_speck_with_a_note():
    t = resolve_target("speck")
    assert (t.name, t.given, t.note, t.is_path) == ("speck2f", "speck", SPECK_NOTE, False)
    assert load_profile("speck").name == "speck2f"


def test_profile_names_resolve_silently_and_any_case():
    for name in list_profiles():
        assert resolve_target(name).name == name and resolve_target(name).note is None
    assert resolve_target("Speck2fDevKit").name == "speck2f"  # samna's device_type_name


def test_every_alias_resolves_to_its_profile():
    aliases = profile_aliases()
    assert {
        "speck": "speck2f",
        "speck2fdevkit": "speck2f",
        "speck2fmodule": "speck2f",
        "speck2edevkit": "speck2e",
        "dynapcnndevkit": "dynapcnn",
    }.items() <= aliases.items()
    for alias, name in aliases.items():
        assert load_profile(alias).name == name
        assert resolve_target(alias).note is not None


def test_every_board_name_sinabs_knows_deploys_to_its_speck():
    names = sinabs_device_names()
    assert {"speck2fdevkit", "speck2fmodule", "speck2edevkit"} <= set(names)
    for board in names:
        chip = resolve_deploy_target(board).name
        assert chip in CHIP_TARGETS and board.startswith(chip)


def test_a_path_is_passed_through():
    t = resolve_target("chips/my_chip.yaml")
    assert t.is_path and t.name == "chips/my_chip.yaml" and t.note is None


def test_an_alias_claimed_twice_is_refused():
    def prof(name):
        return profile_from_dict(
            {"schema_version": 1, "name": name, "architecture": "dense-accelerator", "aliases": ["board"]}
        )

    with pytest.raises(InputError, match="the name 'board' is claimed by profiles a and b"):
        profile_aliases([prof("a"), prof("b")])


def test_a_family_no_profile_claims_asks_for_a_profile():
    with pytest.raises(InputError) as err:
        resolve_target("generic")
    assert err.value.exit_code == 3
    assert str(err.value) == "target 'generic' is a family of profiles, not one profile. Fix: name one: generic-45nm."


def test_unknown_names_suggest_also_other_names():
    with pytest.raises(InputError) as err:
        resolve_target("spek")
    assert err.value.exit_code == 3 and err.value.what == "unknown target 'spek'"
    assert err.value.fix.startswith("did you mean 'speck'?")


def test_deploy_targets():
    assert resolve_deploy_target("emulator").name == "emulator"
    assert resolve_deploy_target("speck").note == SPECK_NOTE
    assert resolve_deploy_target("speck2edevkit").name == "speck2e"
    with pytest.raises(InputError) as err:
        resolve_deploy_target("dynapcnndevkit")
    assert err.value.what.startswith("cannot deploy to dynapcnn: its profile is for estimates only")
    with pytest.raises(InputError) as err:
        resolve_deploy_target("speck2fdevkt")
    assert err.value.what == "unknown deploy target 'speck2fdevkt'"
    assert err.value.fix.startswith("did you mean 'speck2fdevkit'?")


def test_a_board_name_without_the_driver_is_exit_5_not_3(monkeypatch):
    monkeypatch.setattr(targets, "samna_info", lambda: SamnaInfo("missing"))
    with pytest.raises(BackendUnavailable) as err:
        check_target("speck2fdevkit")
    assert err.value.exit_code == 5 and err.value.what.startswith("cannot deploy to speck2f:")
    assert check_target("speck", need_driver=False) == "missing"


def test_every_board_sinabs_knows_is_the_same_profile_for_targets_and_for_the_chip_backend():
    """One table of board names (the profiles' samna_devices): a board sinabs 3.1.3 supports resolves as a
    --target (by sinabs' name and by samna's device type name) to the profile of its chip, and the chip
    backend names a connected board of that type as sinabs does and assigns it to the same profile. The
    chip comes from sinabs' config builder class (Speck2FConfigBuilder → speck2f), samna's type name from
    sinabs' io.py device_types: neither from our tables."""
    from types import SimpleNamespace

    from qsnn_deploy.deploy.chip_plan import default_device_type
    from qsnn_deploy.deploy.samna_backend import list_devices
    from qsnn_deploy.hw.profile import samna_boards

    builders = sinabs_dict("chip_factory", "supported_devices")
    samna_types = sinabs_dict("io", "device_types")
    assert set(builders) == {"speck2e", "speck2edevkit", "speck2fmodule", "speck2fdevkit"}
    boards = samna_boards()
    for board, builder in builders.items():
        chip = builder.removesuffix("ConfigBuilder").lower()  # Speck2FConfigBuilder -> speck2f
        type_name = samna_types[board]
        assert boards[type_name] == (board, chip)
        assert resolve_target(board).name == chip and resolve_target(type_name).name == chip
        assert resolve_deploy_target(board).name == chip and resolve_deploy_target(type_name).name == chip
        fake = SimpleNamespace(
            device=SimpleNamespace(
                get_all_devices=lambda t=type_name: [SimpleNamespace(device_type_name=t, usb_device_address=3)]
            )
        )
        (entry,) = list_devices(fake)
        assert (entry.id, entry.family) == (f"{board}:0", chip)
    # every board a deployable profile claims is one sinabs can build a configuration for
    assert {b for b, chip in boards.values() if chip in CHIP_TARGETS} == set(builders)
    assert {chip: default_device_type(chip) for chip in CHIP_TARGETS} == {
        "speck2f": "speck2fdevkit",
        "speck2e": "speck2edevkit",
    }


def test_a_board_no_profile_claims_is_listed_without_a_chip():
    from types import SimpleNamespace

    from qsnn_deploy.deploy.samna_backend import list_devices

    fake = SimpleNamespace(
        device=SimpleNamespace(
            get_all_devices=lambda: [SimpleNamespace(device_type_name="Davis 346", usb_device_address=1)]
        )
    )
    (entry,) = list_devices(fake)
    assert (entry.id, entry.family) == ("davis346:0", None)


def test_a_samna_board_claimed_by_two_profiles_is_refused():
    from qsnn_deploy.hw.profile import samna_boards

    def prof(name, sinabs_name):
        return profile_from_dict(
            {
                "schema_version": 1,
                "name": name,
                "architecture": "dense-accelerator",
                "samna_devices": {"SomeDevKit": sinabs_name},
            }
        )

    assert samna_boards([prof("a", "some")]) == {"SomeDevKit": ("some", "a")}
    with pytest.raises(InputError, match="samna board 'SomeDevKit' is claimed by profiles a and b"):
        samna_boards([prof("a", "some"), prof("b", "some")])
    with pytest.raises(InputError, match="samna device type names to sinabs board names"):
        profile_from_dict(
            {"schema_version": 1, "name": "c", "architecture": "dense-accelerator", "samna_devices": ["SomeDevKit"]}
        )
