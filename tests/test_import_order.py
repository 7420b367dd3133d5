"""No module imports one above it in the dependency order (DESIGN.md §2), not even inside a function."""

import shutil
from pathlib import Path

from import_order import LAYERS, RANK, modules, part, upward_imports

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_has_a_layer():
    names = {part(m) for m in modules(ROOT)}
    assert names <= set(RANK), names - set(RANK)
    assert {"data", "ir", "quant", "hw", "emulate", "nets", "convert", "train", "deploy", "cli"} <= names


def test_no_upward_import():
    bad = upward_imports(ROOT)
    assert not bad, "\n".join(map(str, bad))


def test_an_injected_upward_import_is_caught(tmp_path):
    for folder in ("qsnn_deploy", "cli"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    assert upward_imports(tmp_path) == []
    # the kind that used to hide: a function-level import, relative, from a lower layer into a higher one
    target = tmp_path / "qsnn_deploy" / "hw" / "energy.py"
    lines = target.read_text().count("\n")
    target.write_text(
        target.read_text() + "\n\ndef _sneaky():\n    from ..deploy import emulator\n\n    return emulator\n"
    )
    (tmp_path / "qsnn_deploy" / "quant" / "chip.py").write_text(
        (ROOT / "qsnn_deploy" / "quant" / "chip.py").read_text() + "\nif False:\n    import qsnn_deploy.train.trainer\n"
    )
    # imports by string: a lazy export that reaches up, and the CLI by its source folder's name
    init = tmp_path / "qsnn_deploy" / "emulate" / "__init__.py"
    init.write_text(init.read_text().replace('"Samples": ".samples",', '"Samples": "..deploy.emulator",'))
    (tmp_path / "qsnn_deploy" / "data" / "events.py").write_text(
        (ROOT / "qsnn_deploy" / "data" / "events.py").read_text() + "\ndef _cli():\n    import cli.common\n"
    )
    bad = sorted(map(str, upward_imports(tmp_path)))
    assert len(bad) == 4, bad
    assert any("qsnn_deploy.data.events imports qsnn_deploy.cli.common" in b for b in bad), bad
    assert any("qsnn_deploy.emulate imports qsnn_deploy.deploy.emulator" in b for b in bad), bad
    assert any(
        b.startswith(f"qsnn_deploy/hw/energy.py:{lines + 4}: qsnn_deploy.hw.energy imports qsnn_deploy.deploy")
        for b in bad
    ), bad
    assert any("qsnn_deploy.quant.chip imports qsnn_deploy.train.trainer" in b for b in bad), bad


def test_layers_are_listed_once():
    flat = [name for names in LAYERS for name in names]
    assert len(flat) == len(set(flat))
