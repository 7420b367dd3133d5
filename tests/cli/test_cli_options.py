"""Shared click options: every --format comes from common.format_option, every --overwrite from
common.overwrite_option, and convert's old --force still works with a deprecation note."""

from pathlib import Path

import click
import pytest
from helpers import run_cli

from qsnn_deploy.cli.common import FormatOption, OverwriteOption, format_option, overwrite_option
from qsnn_deploy.cli.main import cli

NIR100 = Path(__file__).parents[1] / "fixtures" / "nir" / "nir_1.0.0_if_chain.nir"

# each command's --format: choices and default as they were before the shared option
FORMATS = {
    "analyze hessian": (["text", "json"], "text"),
    "convert": (["text", "json", "onnx"], "text"),
    "datasets": (["text", "json"], "text"),
    "deploy": (["text", "json"], "text"),
    "doctor": (["text", "json"], "text"),
    "estimate": (["table", "json", "md"], "table"),
    "pipeline": (["text", "json"], "text"),
    "profiles list": (["text", "json"], "text"),
    "profiles show": (["text", "json"], "text"),
    "record": (["text", "json"], "text"),
    "sweep": (["text", "json"], "text"),
    "train": (["text", "json"], "text"),
}
OVERWRITES = {"analyze hessian", "convert", "deploy", "sweep", "train"}


def _commands(group: click.Group = cli, prefix: str = ""):
    for name, command in group.commands.items():
        path = f"{prefix} {name}".strip()
        if isinstance(command, click.Group):
            yield from _commands(command, path)
        else:
            yield path, command


def _options(name: str) -> dict:
    """Option name → (path, option) over every command that has it."""
    return {path: p for path, command in _commands() for p in command.params if name in p.opts}


def test_every_format_is_the_shared_option():
    found = _options("--format")
    assert set(found) == set(FORMATS)
    for path, option in found.items():
        assert isinstance(option, FormatOption), f"{path}: --format declared by hand, use common.format_option"
        assert option.name == "fmt" and option.show_default
        assert (list(option.type.choices), option.default) == FORMATS[path], path
        assert option.help, f"{path}: --format without help"


def test_every_overwrite_is_the_shared_option_and_force_is_hidden():
    found = _options("--overwrite")
    assert set(found) == OVERWRITES
    for option in found.values():
        assert isinstance(option, OverwriteOption) and option.is_flag and option.help.startswith("replace an existing")
    forced = _options("--force")
    assert set(forced) == {"convert"} and forced["convert"].hidden
    for path, command in _commands():
        assert "--force" not in command.get_help(click.Context(command, info_name=path)), path


def test_format_option_checks_its_arguments():
    with pytest.raises(ValueError, match="is not one of"):
        format_option("text", "json", default="md")
    with pytest.raises(ValueError, match="at least one"):
        format_option()


def test_overwrite_alias_warns_once_and_still_overwrites():
    seen = []

    @click.command()
    @overwrite_option("output folder", deprecated="--force")
    def command(overwrite):
        seen.append(overwrite)

    from click.testing import CliRunner

    for args, want in (([], False), (["--overwrite"], True), (["--force"], True), (["--force", "--overwrite"], True)):
        result = CliRunner().invoke(command, args)
        assert result.exit_code == 0 and seen.pop() is want, (args, result.output)
        noted = "warning: --force is deprecated, use --overwrite" in result.output
        assert noted is ("--force" in args), (args, result.output)


def test_convert_force_still_works_and_warns(tmp_path):
    out = tmp_path / "b"
    run_cli("convert", NIR100, "--out", out, "-q")
    refused = run_cli("convert", NIR100, "--out", out, "-q", check=False)
    assert refused.returncode == 2 and "pass --overwrite" in refused.stderr
    proc = run_cli("convert", NIR100, "--out", out, "--format", "onnx", "--force", "-q")
    notes = [line for line in proc.stderr.splitlines() if "deprecated" in line]
    assert notes == ["warning: --force is deprecated, use --overwrite (it does the same)"], proc.stderr
    assert (out / "model.onnx").is_file()
    proc = run_cli("convert", NIR100, "--out", out, "--overwrite", "-q")
    assert "deprecated" not in proc.stderr and not (out / "model.onnx").exists()
