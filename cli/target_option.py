"""The ``--target`` option of every command: names resolve in one place
(:func:`qsnn_deploy.hw.profile.resolve_target`; deploy: :func:`qsnn_deploy.deploy.targets.resolve_deploy_target`),
and a note on stderr says which profile a family or board name stands for."""

from __future__ import annotations

import click

from .common import log

TARGET_HELP = ("profile name (speck2f), family (speck: the current Speck, speck2f), samna board name "
               "(speck2fdevkit, speck2fmodule, speck2edevkit, ...) or path to a profile YAML")


def _resolved(name: str, deploy: bool = False) -> str:
    if deploy:
        from qsnn_deploy.deploy.targets import resolve_deploy_target as resolve
    else:
        from qsnn_deploy.hw.profile import resolve_target as resolve
    target = resolve(name)
    if target.note:
        log(f"note: {target.note}")
    return target.name


def resolve_one(ctx: click.Context | None, param: click.Parameter | None, value: str | None) -> str | None:
    """Click callback: one profile (convert, pipeline, profiles show)."""
    return None if value is None else _resolved(value)


def resolve_many(ctx: click.Context | None, param: click.Parameter | None, value: str) -> tuple[str, ...]:
    """Click callback: comma-separated profiles, side by side (estimate)."""
    from qsnn_deploy.errors import UsageError

    names = [t.strip() for t in value.split(",") if t.strip()]
    if not names:
        raise UsageError("--target is empty", fix="name a profile, e.g. --target speck2f")
    return tuple(_resolved(n) for n in names)


def resolve_deploy(ctx: click.Context | None, param: click.Parameter | None, value: str) -> str:
    """Click callback: ``emulator`` or a chip samna drives (deploy)."""
    return _resolved(value, deploy=True)
