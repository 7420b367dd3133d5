"""``analyze hessian`` as a library: which run it reads, what it measures, the report it writes.

A run is a folder written by ``train`` (its ``checkpoint.pt``; the report and plot go next to it by
default) or a bare checkpoint (only the files asked for are written). The report is a JSON document
``{"format": "qsnn-deploy-hessian", "version": 1, ...}`` (:func:`hessian_report`).
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, UsageError
from ..outputs import atomic_path, check_file_writable, write_atomic
from ..progress import Log, ProgressMode
from ..progress import log as default_log

if TYPE_CHECKING:  # torch-free at import time
    from .allocate import Allocation, Budget
    from .hessian import HessianResult

REPORT_FORMAT = "qsnn-deploy-hessian"
REPORT_VERSION = 1


@dataclass(frozen=True)
class AnalysisPaths:
    """The checkpoint to read and the files to write (None: not written)."""

    checkpoint: Path
    json_file: Path | None
    plot_file: Path | None


def resolve_run(
    run: str | Path,
    json_file: str | Path | None = None,
    plot_file: str | Path | None = None,
    overwrite: bool = False,
) -> AnalysisPaths:
    """The checkpoint of ``run`` (a run folder or a checkpoint file) and the output files: a run folder's
    ``hessian.json`` / ``hessian.png`` unless others are given. Refuses, before any work, a run that is not
    there (exit 3), an output whose folder is missing or a file that exists without ``overwrite`` (exit 2)."""
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
    paths = AnalysisPaths(
        checkpoint, None if json_file is None else Path(json_file), None if plot_file is None else Path(plot_file)
    )
    for path in (paths.json_file, paths.plot_file):
        if path is None:
            continue
        if not path.resolve().parent.is_dir():
            raise UsageError(f"cannot write '{path}': its folder does not exist", fix="create the folder first")
        check_file_writable(path, overwrite)
    return paths


@dataclass
class HessianAnalysis:
    """What :func:`analyze_hessian` measured: the traces, the allocation (with a budget) and the report."""

    result: HessianResult
    allocation: Allocation | None
    current_bits: dict[str, int]
    report: dict[str, Any]
    model_name: str


def analyze_hessian(
    checkpoint: str | Path,
    dataset: str | None = None,
    split: str = "train",
    samples: int = 256,
    iters: int = 10,
    tol: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    device: str = "auto",
    as_float: bool = False,
    budget: Budget | str | float | None = None,
    progress: ProgressMode = True,
    log: Log = default_log,
) -> HessianAnalysis:
    """Hutchinson traces of a checkpoint on ``split`` of ``dataset`` (the checkpoint's by default) and, with
    ``budget`` (a :class:`~qsnn_deploy.train.allocate.Budget`), bits per layer within it. The allocation is a
    choice: made from the test split it is logged with a warning (the test accuracy of a model at those widths is
    then no longer an unbiased estimate); the training split is the default, as for ``train --bits auto``."""
    from ..nets.checkpoint import load_checkpoint
    from ..nets.framed import framed_split
    from .allocate import DEFAULT_CHOICES, allocate_for_model, check_budget, weight_perturbations
    from .device import pick_device
    from .hessian import hutchinson_traces, layer_weights

    checkpoint = Path(checkpoint)
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
    if budget is not None and split == "test":
        log(
            "warning: the bits are chosen from Hessian traces on the test split, so the test accuracy of a model "
            "at these widths is no longer an unbiased estimate (use --split train)"
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
    allocation = None if budget is None else allocate_for_model(model, result, budget)
    current = {b.name: b.weight_bits for b in model.chip_blocks}
    report = hessian_report(
        checkpoint,
        model.spec.name,
        dataset,
        split,
        time_bins,
        current,
        result,
        weight_perturbations(model, DEFAULT_CHOICES),
        allocation,
    )
    return HessianAnalysis(result, allocation, current, report, model.spec.name)


def hessian_report(
    checkpoint: str | Path,
    model: str,
    dataset: str,
    split: str,
    time_bins: int,
    weight_bits: dict[str, int],
    result: HessianResult,
    perturbations: dict[str, dict[int, float]],
    allocation: Allocation | None = None,
) -> dict[str, Any]:
    """The JSON report (``format`` qsnn-deploy-hessian, ``version`` 1)."""
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "checkpoint": str(checkpoint),
        "model": model,
        "dataset": dataset,
        "split": split,
        "time_bins": time_bins,
        "weight_bits": weight_bits,
        "hessian": result.to_dict(),
        "perturbations": {k: {str(b): v for b, v in d.items()} for k, d in perturbations.items()},
        "allocation": None if allocation is None else allocation.to_dict(),
    }


def write_outputs(analysis: HessianAnalysis, json_file: str | Path | None, plot_file: str | Path | None) -> list[str]:
    """Write the plot and the JSON, each under a temporary name renamed when complete; the plot is renamed
    only when the JSON is written too (nothing half-written, no plot without its report)."""
    from .plots import plot_traces

    result, allocation = analysis.result, analysis.allocation
    written: list[str] = []
    with ExitStack() as staged:  # the renames happen when every file is written
        if plot_file:
            plot_file = Path(plot_file)
            tmp = staged.enter_context(atomic_path(plot_file))
            title = (
                f"{analysis.model_name}: Hessian trace per parameter ({result.iterations} probes, "
                f"{result.samples} samples)"
            )
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
        if json_file:  # written last: renamed only when the plot is complete too
            write_atomic(json_file, json.dumps(analysis.report, indent=2))
            written.append(str(json_file))
    return written


def format_text(result: HessianResult, allocation: Allocation | None, current_bits: dict[str, int]) -> str:
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
