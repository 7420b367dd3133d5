"""``qsnn-deploy analyze``: look inside a trained run (Hessian sensitivity per layer)."""

from __future__ import annotations

import click

from qsnn_deploy.progress import Mode

from .common import emit_json, format_option, log, overwrite_option, progress_option


@click.group(
    epilog="""\b
Examples:
  qsnn-deploy analyze hessian runs/r1
  qsnn-deploy analyze hessian runs/r1 --bit-budget 4 --format json"""
)
def analyze() -> None:
    """Analyse a trained run: per-layer Hessian sensitivity and mixed-precision bit widths."""


@analyze.command(
    epilog="""\b
Examples:
  qsnn-deploy analyze hessian runs/r1                       # writes runs/r1/hessian.json and hessian.png
  qsnn-deploy analyze hessian runs/r1 --bit-budget 4        # + the best bit width per layer, 4 bits/weight
  qsnn-deploy analyze hessian runs/r1 --bit-budget 12kB --format json
  qsnn-deploy analyze hessian models/digits_speck.pt --samples 64 --iters 20 --plot h.png
\b
Traces are Hutchinson estimates (Rademacher probes, Hessian-vector products by double backward
through the surrogate gradients over all time bins) of the mean count cross-entropy, taken w.r.t.
the float weights of each layer (biases excluded); a quantisation-aware checkpoint runs in its
integer-unit (chip) mode, which gives the float model's Hessian at the quantised weights. Layers
are ranked by trace per parameter. With --bit-budget (average bits per weight, e.g. 4 or 4.5, or a
size: 12kB, 12KiB, 96kbit, 1500B) the exact minimiser of Σ Tr(H_l)/n_l·‖Q_b(W_l) − W_l‖² within the
budget is printed (bits 2..8). Writes RUN/hessian.json (and RUN/hessian.png) for a run folder;
for a bare checkpoint only what --out / --plot ask for. An existing file is replaced only with
--overwrite."""
)
@click.argument("run", type=click.Path())
@click.option("--dataset", help="dataset to measure on [the checkpoint's]")
@click.option(
    "--split",
    type=click.Choice(["train", "test"]),
    default="train",
    show_default=True,
    help="the samples the traces are measured on; the bits --bit-budget chooses come from them, so keep the test "
    "split out of it (as train --bits auto does)",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="random samples of the split (seeded); all when larger than the split",
)
@click.option(
    "--iters",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Hutchinson probes at most (stops earlier when every trace moved by < --tol)",
)
@click.option(
    "--tol",
    type=click.FloatRange(min=0),
    default=1e-3,
    show_default=True,
    help="relative change of the running mean that stops early (0: never)",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the probes and of the sample subset")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for torch [torch's default]")
@click.option(
    "--float",
    "as_float",
    is_flag=True,
    help="run the float model even when the checkpoint was trained quantisation-aware",
)
@click.option("--bit-budget", help="also allocate bit widths within this budget (e.g. 4, 4.5, 12kB, 96kbit)")
@click.option(
    "--out",
    "json_file",
    type=click.Path(dir_okay=False),
    help="JSON report to write [RUN/hessian.json for a run folder]",
)
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False),
    help="bar chart (PNG, PDF, SVG) of trace per parameter [RUN/hessian.png for a run folder]",
)
@format_option("text", "json")
@overwrite_option("report or plot file")
@progress_option
def hessian(
    run: str,
    dataset: str | None,
    split: str,
    samples: int,
    iters: int,
    tol: float,
    batch_size: int,
    seed: int,
    device: str,
    threads: int | None,
    as_float: bool,
    bit_budget: str | None,
    json_file: str | None,
    plot_file: str | None,
    fmt: str,
    overwrite: bool,
    progress: Mode,
) -> None:
    """Per-layer Hessian traces of a trained run (which layers need more bits)."""
    from qsnn_deploy.train.allocate import parse_bit_budget
    from qsnn_deploy.train.analyze import analyze_hessian, format_text, resolve_run, write_outputs

    budget = None if bit_budget is None else parse_bit_budget(bit_budget)  # usage errors before any work
    paths = resolve_run(run, json_file, plot_file, overwrite)

    import torch

    if threads:
        torch.set_num_threads(threads)
    analysis = analyze_hessian(
        paths.checkpoint,
        dataset,
        split,
        samples=samples,
        iters=iters,
        tol=tol,
        batch_size=batch_size,
        seed=seed,
        device=device,
        as_float=as_float,
        budget=budget,
        progress=progress,
        log=log,
    )
    written = write_outputs(analysis, paths.json_file, paths.plot_file)
    if fmt == "json":
        emit_json(analysis.report | {"written": written})
    else:
        click.echo(format_text(analysis.result, analysis.allocation, analysis.current_bits))
    for path in written:
        log(f"wrote {path}")
