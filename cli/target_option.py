"""The ``--target`` option of every command: names resolve in one place
(:func:`qsnn_deploy.hw.profile.resolve_target`; deploy: :func:`qsnn_deploy.deploy.targets.resolve_deploy_target`),
and a note on stderr says which profile a family or board name stands for."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .common import log

if TYPE_CHECKING:  # the library is imported inside the callbacks: --help stays fast
    from qsnn_deploy.hw.profile import TargetName

TARGET_HELP = (
    "profile name (speck2f), family (speck: the current Speck, speck2f), samna board name "
    "(speck2fdevkit, speck2fmodule, speck2edevkit, ...) or path to a profile YAML"
)


def _resolved(name: str, deploy: bool = False) -> TargetName:
    """The :class:`~qsnn_deploy.hw.profile.TargetName` of ``name``; its note, if any, goes to stderr."""
    if deploy:
        from qsnn_deploy.deploy.targets import resolve_deploy_target as resolve
    else:
        from qsnn_deploy.hw.profile import resolve_target as resolve
    target = resolve(name)
    if target.note:
        log(f"note: {target.note}")
    return target


def resolve_one(ctx: click.Context | None, param: click.Parameter | None, value: str | None) -> str | None:
    """Click callback: one profile (convert, pipeline, profiles show)."""
    return None if value is None else _resolved(value).name


def resolve_many(ctx: click.Context | None, param: click.Parameter | None, value: str) -> tuple[str, ...]:
    """Click callback: comma-separated profiles, side by side (estimate). Names that resolve to the same
    profile (``speck,speck2f``; a path given twice) count once, in the place of the first, with a note."""
    import os

    from qsnn_deploy.errors import UsageError

    names = [t.strip() for t in value.split(",") if t.strip()]
    if not names:
        raise UsageError("--target is empty", fix="name a profile, e.g. --target speck2f")
    first: dict[str, str] = {}  # resolved profile (a path: the real file) -> the name first given for it
    out: list[str] = []
    for name in names:
        target = _resolved(name)
        key = os.path.realpath(target.name) if target.is_path else target.name
        if key in first:
            log(f"note: targets '{first[key]}' and '{name}' are the same profile ({target.name}): reported once")
            continue
        first[key] = name
        out.append(target.name)
    return tuple(out)


def resolve_deploy(ctx: click.Context | None, param: click.Parameter | None, value: str) -> str:
    """Click callback: ``emulator`` or a chip samna drives (deploy)."""
    return _resolved(value, deploy=True).name
