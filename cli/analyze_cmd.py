"""``qsnn-deploy analyze``: look inside a trained run (Hessian sensitivity per layer)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import emit_json, format_option, log, progress_option

REPORT_FORMAT = "qsnn-deploy-hessian"
REPORT_VERSION = 1


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
for a bare checkpoint only what --out / --plot ask for."""
)
@click.argument("run", type=click.Path())
@click.option("--dataset", help="dataset to measure on [the checkpoint's]")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True)
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
@progress_option
def hessian(
    run,
    dataset,
    split,
    samples,
    iters,
    tol,
    batch_size,
    seed,
    device,
    threads,
    as_float,
    bit_budget,
    json_file,
    plot_file,
    fmt,
    progress,
) -> None:
    """Per-layer Hessian traces of a trained run (which layers need more bits)."""
    from qsnn_deploy.errors import InputError, UsageError
    from qsnn_deploy.train.allocate import (
        DEFAULT_CHOICES,
        allocate_for_model,
        check_budget,
        parse_bit_budget,
        weight_perturbations,
    )

    budget = None if bit_budget is None else parse_bit_budget(bit_budget)  # usage errors before any work
    run = Path(run)
    if run.is_dir():
        checkpoint = run / "checkpoint.pt"
        if not checkpoint.is_file():
            raise InputError(
                f"run folder '{run}' has no checkpoint.pt",
                fix="pass the folder written by `qsnn-deploy train` or its checkpoint.pt",
            )
        json_file = json_file or run / "hessian.json"
        plot_file = plot_file or run / "hessian.png"
    elif run.exists():
        checkpoint = run
    else:
        raise InputError(f"run '{run}' does not exist", fix="pass a run folder or a checkpoint.pt")
    for path in (json_file, plot_file):
        if path and not Path(path).resolve().parent.is_dir():
            raise UsageError(f"cannot write '{path}': its folder does not exist", fix="create the folder first")

    import torch

    from qsnn_deploy.nets.checkpoint import load_checkpoint
    from qsnn_deploy.nets.framed import framed_split
    from qsnn_deploy.train.hessian import hutchinson_traces, layer_weights
    from qsnn_deploy.train.trainer import pick_device

    if threads:
        torch.set_num_threads(threads)
    dev = pick_device(device)
    model, payload = load_checkpoint(checkpoint)
    if budget is not None:
        check_budget([int(w.numel()) for w in layer_weights(model)], budget)
    dataset = dataset or payload.get("dataset") or model.spec.dataset
    time_bins = payload.get("time_bins") or model.spec.defaults.get("time_bins")
    if not isinstance(time_bins, int) or time_bins < 1:
        raise InputError(
            f"checkpoint '{checkpoint}' does not say how many time bins it was trained with",
            fix="use a checkpoint written by `qsnn-deploy train`",
        )
    data = framed_split(dataset, split, time_bins, progress=progress)
    if tuple(data.frames.shape[2:]) != model.spec.input_shape:
        raise UsageError(
            f"model '{model.spec.name}' expects input {model.spec.input_shape} but dataset '{dataset}' "
            f"gives {tuple(data.frames.shape[2:])}",
            fix="pick the dataset the model was trained on",
        )
    mode = "float" if as_float or not model.quantize else "quantisation-aware (integer units)"
    log(
        f"Hessian traces of {model.spec.name} ({mode}) on {dataset} {split}: up to {samples} samples, "
        f"{iters} probes, {time_bins} time bins, device {dev}"
    )
    result = hutchinson_traces(
        model,
        data,
        n_iter=iters,
        batch_size=batch_size,
        tol=tol,
        samples=samples,
        seed=seed,
        device=dev,
        quantize=False if as_float else None,
        progress=progress,
    )
    allocation = None
    if budget is not None:
        allocation = allocate_for_model(model, result, budget)
    current = {b.name: b.weight_bits for b in model.blocks}
    report = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "checkpoint": str(checkpoint),
        "model": model.spec.name,
        "dataset": dataset,
        "split": split,
        "time_bins": time_bins,
        "weight_bits": current,
        "hessian": result.to_dict(),
        "perturbations": {
            k: {str(b): v for b, v in d.items()} for k, d in weight_perturbations(model, DEFAULT_CHOICES).items()
        },
        "allocation": None if allocation is None else allocation.to_dict(),
    }
    written = _write_outputs(report, result, allocation, json_file, plot_file, model.spec.name)
    if fmt == "json":
        emit_json(report | {"written": written})
    else:
        click.echo(format_text(result, allocation, current))
    for path in written:
        log(f"wrote {path}")


def format_text(result, allocation, current_bits: dict[str, int]) -> str:
    """The table people read: layer, params, trace, trace/param ± stderr, rank (and bits)."""
    rank = {name: i + 1 for i, name in enumerate(result.ranking)}
    chosen = allocation.by_layer if allocation is not None else {}
    head = (
        f"{'layer':<10} {'params':>8} {'trace':>11} {'trace/param':>12} {'± probes':>9} {'± data':>9} "
        f"{'rank':>5} {'bits':>5}"
    )
    if chosen:
        head += f" {'→ bits':>7}"
    lines = [head, "-" * len(head)]
    between = result.stderr_batches or (None,) * len(result.names)
    for name, n, t, tp, se, sb in zip(
        result.names, result.n_params, result.traces, result.trace_per_param, result.stderr_per_param, between
    ):
        probe_err = "—" if se is None else f"{se:.2g}"
        data_err = "—" if sb is None else f"{sb / n:.2g}"
        row = (
            f"{name:<10} {n:>8,} {t:>11.4g} {tp:>12.4g} {probe_err:>9} {data_err:>9} "
            f"{rank[name]:>5} {current_bits.get(name, ''):>5}"
        )
        if chosen:
            row += f" {chosen[name]:>7}"
        lines.append(row)
    status = "converged" if result.converged else "did not reach the tolerance"
    lines.append("± probes: standard error over probes; ± data: from the spread between batches (sample noise)")
    lines.append(
        f"{result.samples} samples, {result.iterations} probes ({status}), {result.seconds:.1f} s; "
        f"most sensitive first (trace per parameter): {' > '.join(result.ranking)}"
    )
    negative = [n for n, t in zip(result.names, result.traces) if t < 0]
    if negative:
        lines.append(
            f"note: negative trace for {', '.join(negative)}: the surrogate Hessian is not positive "
            "semi-definite (compare with the errors); the allocation counts a negative trace as 0"
        )
    if allocation is not None:
        lines.append(
            f"allocation within {allocation.budget}: "
            + ", ".join(f"{n} {b} bit" for n, b in allocation.by_layer.items())
            + f" → {allocation.size_bits:,} bit ({allocation.size_bits / 8:,.0f} B), "
            f"{allocation.avg_bits:.2f} bits/weight, {allocation.reduction_pct:.1f} % below FP32; "
            f"Σ Tr/n·‖ΔW‖² = {allocation.objective:.4g}"
        )
    return "\n".join(lines)


def _write_outputs(report, result, allocation, json_file, plot_file, model_name) -> list[str]:
    """Write the plot and the JSON to temporary names first, then rename both (nothing half-written)."""
    from contextlib import ExitStack

    from qsnn_deploy.outputs import atomic_path
    from qsnn_deploy.train.hessian import plot_traces

    written: list[str] = []
    with ExitStack() as staged:  # the renames happen when every file is written
        if plot_file:
            plot_file = Path(plot_file)
            tmp = staged.enter_context(atomic_path(plot_file))
            title = f"{model_name}: Hessian trace per parameter ({result.iterations} probes, {result.samples} samples)"
            if allocation is not None:
                title += f"\nbits within {allocation.budget}"
            plot_traces(
                result,
                tmp,
                None if allocation is None else allocation.by_layer,
                title=title,
                fmt=(plot_file.suffix.lstrip(".") or "png"),
            )
            written.append(str(plot_file))
        if json_file:
            json_file = Path(json_file)
            tmp = staged.enter_context(atomic_path(json_file))
            tmp.write_text(json.dumps(report, indent=2))
            written.append(str(json_file))
    return written
