"""The terminal side of ``deploy --live`` and ``record``: one line per window (redrawn in place on a terminal),
one JSON line per window with ``--format json``, and the closing summary."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from qsnn_deploy.progress import redraws

from .common import log

if TYPE_CHECKING:  # imported inside the commands: --help stays fast
    from qsnn_deploy.deploy.live import LiveTally, LiveWindow
    from qsnn_deploy.deploy.recording import Status


def _rate(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1e3:.1f}k" if v >= 1e3 else f"{v:.0f}"


class WindowPrinter:
    """Shows each :class:`~qsnn_deploy.deploy.live.LiveWindow`: ``fmt`` "json" (one line each) or "text"."""

    def __init__(self, fmt: str) -> None:
        self.fmt, self.redraw = fmt, fmt == "text" and redraws("auto", sys.stdout)

    def __call__(self, w: LiveWindow) -> None:
        if self.fmt == "json":
            click.echo(json.dumps(w.to_dict()))
            return
        counts = " ".join(str(c) for c in w.counts)
        shown = w.label if w.label in (str(w.prediction), "idle") else f"{w.label} ({w.prediction})"
        line = (
            f"{w.t_s:7.2f} s  {shown:>12}  [{counts}]  "
            f"out {_rate(w.spikes_per_s)} spikes/s  in {_rate(w.events_in_per_s)} events/s"
        )
        click.echo(("\r\033[K" + line) if self.redraw else line, nl=not self.redraw)

    def close(self) -> None:
        if self.redraw:
            click.echo("")


def show_summary(tally: LiveTally, fmt: str) -> None:
    """The closing summary: a JSON line, or a few lines of text."""
    doc = tally.to_dict()
    if fmt == "json":
        click.echo(json.dumps(doc, default=str))
        return
    top = ", ".join(f"{p['label']} ×{p['windows']}" for p in doc["predictions"][:5]) or "none"
    ins = "not seen by the host" if doc["input_events"] is None else f"{doc['input_events']}"
    click.echo(
        f"{doc['windows']} windows over {doc['elapsed_s']:.2f} s (stopped: {doc['stopped']}); "
        f"predictions (windows): {top}"
    )
    click.echo(f"output spikes {doc['output_spikes']}, input events {ins}")
    if doc["layer_spike_counts"]:
        click.echo("spikes per layer: " + ", ".join(f"{k} {v}" for k, v in doc["layer_spike_counts"].items()))
    power = doc.get("power")
    if power and power.get("rails"):
        click.echo(f"power: {power['active_w'] * 1e3:.3f} mW active, {power['idle_w'] * 1e3:.3f} mW idle (all rails)")
    elif power is not None:
        click.echo("power: this board has no power monitor")
    for w in doc.get("warnings", []):
        log(f"warning: {w}")
    for n in doc.get("notes", []):
        log(f"note: {n}")


def recording_status(status: Status, fmt: str) -> None:
    """Progress of ``record`` on stderr: countdown, event rate, each take written."""
    redraw = redraws("auto", sys.stderr)
    if status.kind == "countdown":
        log(f"take {status.take}: starting in {status.value:g} s")
    elif status.kind == "rate":
        line = f"take {status.take}: {_rate(status.value)} events/s, {status.events} events"
        if redraw:
            click.echo("\r\033[K" + line, nl=False, err=True)
        elif fmt != "json":
            log(line)
    else:
        if redraw:
            click.echo("", err=True)
        said = {
            "written": f"take {status.take}: {status.events} events written to {status.path}",
            "empty": f"take {status.take}: no events (is the sensor covered or the scene still?); not written",
            "interrupted": f"take {status.take}: interrupted, not written",
        }
        log(said[status.kind])


def show_recording(summary: dict[str, Any], fmt: str) -> None:
    """What ``record`` wrote, and the command that trains on it."""
    if fmt == "json":
        click.echo(json.dumps(summary))
        return
    click.echo(f"{len(summary['takes'])} take(s) of class '{summary['label']}' in {summary['out']}")
    click.echo(f"train on them: qsnn-deploy train --dataset folder:{summary['out']} --out runs/mine")
