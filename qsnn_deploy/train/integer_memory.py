"""Training memory of integer-only local learning: elements × bits per block against FP32
(``memory.json`` and ``memory.md`` of a run)."""

from __future__ import annotations

from typing import Any

from ..nets.zoo import ModelSpec
from ..quant.quantizers import memory_bits
from .integer_bits import IntegerBits
from .integer_net import readout_pool

FP_BITS = 32


def memory_footprint(spec: ModelSpec, bits: IntegerBits | None) -> dict[str, Any]:
    """Elements × bits of training memory per block, for one sample and one time step, against FP32.

    Categories: ``weights`` (forward weights + bias at wb, fixed readout at sb), ``states`` (membrane at ub,
    pooled readout input at sig, readout output at ab; the classifier's spike counters at ub), ``errors`` (at
    the conv output, readout input and readout output, eb), ``gradients`` (weight gradients, gb).
    ``bits=None`` counts everything at 32 bits.
    """
    b = bits or IntegerBits()

    def width(n: int) -> int:
        return FP_BITS if bits is None else n

    groups = {
        "weights": ("weights", "readout"),
        "states": ("membrane", "readout_in", "readout_out", "counts"),
        "errors": ("err_current", "err_readout_in", "err_readout_out"),
        "gradients": ("gradients",),
    }
    widths = {
        "weights": b.wb,
        "readout": b.sb,
        "membrane": b.ub,
        "readout_in": b.sig,
        "readout_out": b.ab,
        "counts": b.ub,
        "err_current": b.eb,
        "err_readout_in": b.eb,
        "err_readout_out": b.eb,
        "gradients": b.gb,
    }
    widths = {k: width(v) for k, v in widths.items()}
    rows = []
    for i, (layer, (c, h, w)) in enumerate(zip(spec.layers, spec.layer_input_shapes())):
        last = i == len(spec.layers) - 1
        k = h if layer.type == "linear" else layer.kernel_size
        ho, wo = (
            (1, 1)
            if layer.type == "linear"
            else ((h + 2 * layer.padding - k) // layer.stride + 1, (w + 2 * layer.padding - k) // layer.stride + 1)
        )
        n_w = layer.out_channels * c * k * k + (layer.out_channels if layer.bias else 0)
        n_v = layer.out_channels * ho * wo
        p = readout_pool(ho, wo)
        n_f = 0 if last else layer.out_channels * (ho // p) * (wo // p)
        n_k = 0 if last else spec.n_classes
        sizes = {
            "weights": n_w,
            "readout": n_f * spec.n_classes,
            "membrane": n_v,
            "readout_in": n_f,
            "readout_out": n_k,
            "counts": spec.n_classes if last else 0,
            "err_current": n_v,
            "err_readout_in": n_f,
            "err_readout_out": n_k if not last else spec.n_classes,
            "gradients": n_w,
        }
        row: dict[str, Any] = {"layer": layer.name}
        for cat, names in groups.items():
            row[f"{cat}_elements"] = int(sum(sizes[n] for n in names))
            row[f"{cat}_bits"] = memory_bits({n: sizes[n] for n in names}, {n: widths[n] for n in names})
        row["total_bits"] = sum(row[f"{cat}_bits"] for cat in groups)
        rows.append(row)
    totals = {f"{cat}_bits": sum(r[f"{cat}_bits"] for r in rows) for cat in groups}
    totals["total_bits"] = sum(totals.values())
    return {"bits": None if bits is None else bits.as_dict(), "layers": rows, "totals": totals}


def memory_report(spec: ModelSpec, bits: IntegerBits | None) -> dict[str, Any]:
    """:func:`memory_footprint` at ``bits`` and at FP32, with the fraction saved per category."""
    q, fp = memory_footprint(spec, bits), memory_footprint(spec, None)
    saved = {k: 1 - q["totals"][k] / fp["totals"][k] if fp["totals"][k] else 0.0 for k in fp["totals"]}
    return {
        "integer": q,
        "fp32": fp,
        "saved": saved,
        "note": "elements x bits per sample and time step; optimizer has no state (SGD, lr=1)",
    }


def memory_table(report: dict[str, Any]) -> str:
    """Markdown table of :func:`memory_report` (kbit)."""
    cats = ("weights", "states", "errors", "gradients", "total")
    lines = ["| layer | " + " | ".join(f"{c} (kbit)" for c in cats) + " |", "|---" * (len(cats) + 1) + "|"]
    for rq, rf in zip(report["integer"]["layers"], report["fp32"]["layers"]):
        lines.append(
            f"| {rq['layer']} | "
            + " | ".join(f"{rq[f'{c}_bits'] / 1e3:.1f} / {rf[f'{c}_bits'] / 1e3:.1f}" for c in cats)
            + " |"
        )
    tq, tf = report["integer"]["totals"], report["fp32"]["totals"]
    lines.append(
        "| **total** | "
        + " | ".join(f"**{tq[f'{c}_bits'] / 1e3:.1f} / {tf[f'{c}_bits'] / 1e3:.1f}**" for c in cats)
        + " |"
    )
    lines.append("| saved | " + " | ".join(f"{100 * report['saved'][f'{c}_bits']:.1f} %" for c in cats) + " |")
    return "\n".join(lines) + "\n\nCells: integer / FP32. " + report["note"] + ".\n"
