"""``qsnn-deploy datasets``."""

from __future__ import annotations

from typing import Any

import click

from .common import emit_json, format_option


@click.command(
    epilog="""\b
Examples:
  qsnn-deploy datasets
  qsnn-deploy datasets --data-root /data/events
  qsnn-deploy datasets --format json
\b
The data root is --data-root, else $QSNN_DEPLOY_DATA, else ~/.cache/qsnn-deploy/data (the user
cache directory). Real datasets are looked for there in tonic's layout (e.g. NMNIST/Train/<digit>/*.bin)
and are downloaded only with `train --download`. Your own recordings: --dataset folder:PATH, one
sub-folder per class (optionally inside train/ and test/)."""
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default=None,
    help="where real datasets are looked for [default: $QSNN_DEPLOY_DATA or ~/.cache/qsnn-deploy/data]",
)
@format_option("text", "json")
@click.option("--quiet", "-q", is_flag=True, help="no hints below the table")
def datasets(data_root: str | None, fmt: str, quiet: bool) -> None:
    """List the datasets known by name, their sensor, classes, download size, and whether each is on disk."""
    from qsnn_deploy.data.registry import DATASETS
    from qsnn_deploy.data.tonic_sets import KNOWN, default_data_root, describe

    root = default_data_root() if data_root is None else data_root
    rows: list[dict[str, Any]] = []
    for name, spec in DATASETS.items():
        rows.append(
            {
                "name": name,
                "title": spec.description,
                "sensor_size": _builtin_sensor(name),
                "n_classes": _builtin_classes(name),
                "download_mb": 0,
                "auto_download": False,
                "urls": [],
                "layout": "built in (generated and cached on first use)",
                "found": True,
                "path": None,
                "default_window_us": None,
                "builtin": True,
            }
        )
    for name in KNOWN:
        rows.append({**describe(name, root), "builtin": False})
    if fmt == "json":
        emit_json(
            {
                "data_root": str(root),
                "datasets": rows,
                "folder_hint": "folder:PATH — one sub-folder per class, optionally under train/ and test/",
            }
        )
        return
    click.echo(f"data root: {root}")
    click.echo(f"{'name':12s} {'sensor':12s} {'classes':>7s} {'download':>10s}  status")
    for r in rows:
        sensor = "x".join(str(s) for s in r["sensor_size"]) if r["sensor_size"] else "?"
        if r["builtin"]:
            size, status = "none", "built in"
        else:
            size = f"~{r['download_mb']} MB" if r["download_mb"] else ("manual" if not r["auto_download"] else "?")
            if not r["auto_download"] and r["download_mb"]:
                size += " (manual)"
            status = f"found: {r['path']}" if r["found"] else f"not found (expected {r['layout']})"
        click.echo(f"{r['name']:12s} {sensor:12s} {r['n_classes']:>7d} {size:>10s}  {status}")
    if not quiet:
        click.echo("")
        click.echo(
            "Fetch a missing dataset with `qsnn-deploy train --dataset NAME --download` (needs a "
            "network), or unpack it by hand under the data root in the layout shown."
        )
        click.echo(
            "Your own recordings: --dataset folder:PATH (one sub-folder per class, optionally under train/ and test/)."
        )


def _builtin_sensor(name: str) -> list[int] | None:
    if name == "digits-dvs":
        from qsnn_deploy.data.digits_dvs import SENSOR_SIZE

        return list(SENSOR_SIZE)
    return None


def _builtin_classes(name: str) -> int:
    if name == "digits-dvs":
        from qsnn_deploy.data.digits_dvs import N_CLASSES

        return N_CLASSES
    return 0
