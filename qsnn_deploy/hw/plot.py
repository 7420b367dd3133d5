"""Plot of estimates (matplotlib, imported lazily): memory per core against its limits, SynOps per
layer against the core ceilings, the power breakdown, and energy per inference across targets (the
dynamic part for all, the total only where a profile gives static power)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..outputs import atomic_path
from .estimator import Estimate
from .neurocore import neuro_cores
from .profile import Architecture, Profile
from .report import si

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn
    from matplotlib.axes import Axes

_KERNEL, _NEURON, _STALL, _OK = "tab:blue", "tab:orange", "tab:red", "tab:green"


def _memory_layer_cores(ax: Axes, est: Estimate, profile: Profile) -> None:
    """Per core: kernel and neuron words used (filled) against the core's capacity (outline)."""
    from matplotlib.patches import Patch

    by_core = {r.core: r for r in est.layers if r.core is not None}
    unplaced = [r for r in est.layers if r.core is None]
    slots = [(c, by_core.get(c.index)) for c in profile.cores] + [(None, r) for r in unplaced]
    top = 0.0
    for x, (core, row) in enumerate(slots):
        for dx, used, cap, color in (
            (-0.2, row and row.kernel_memory, core and core.kernel_memory, _KERNEL),
            (0.2, row and row.neuron_memory, core and core.neuron_memory, _NEURON),
        ):
            if cap:
                ax.bar(x + dx, cap / 1024, 0.38, fill=False, edgecolor=color, lw=1.2)
            if used:
                # unplaced (no core): red only if it fits no core; a used memory comes from a row
                over = used > cap if cap else row is not None and not row.candidate_cores
                ax.bar(x + dx, used / 1024, 0.38, color=_STALL if over else color, alpha=0.85)
            top = max(top, (used or 0) / 1024, (cap or 0) / 1024)
    labels = [(str(core.index) if core else "none") + (f"\n{row.name}" if row else "") for core, row in slots]
    ax.set_xticks(range(len(slots)), labels, fontsize=8)
    ax.set_ylim(0, top * 1.25)
    ax.legend(
        handles=[
            Patch(color=_KERNEL, label="kernel words used"),
            Patch(color=_NEURON, label="neuron words used"),
            Patch(fill=False, edgecolor="grey", label="core capacity"),
            Patch(color=_STALL, label="over capacity"),
        ],
        fontsize=8,
        ncol=2,
        loc="upper left",
    )
    ax.set(
        xlabel="core (layer); 'none': not placed",
        ylabel="memory (Ki words)",
        title=f"Memory per core on {est.target}: {'fits' if est.fits else 'does NOT fit'}",
    )


def _memory_neuron_cores(ax: Axes, est: Estimate, profile: Profile) -> None:
    """Per layer: neurons and synaptic memory on its fullest core, as a share of the core's limits."""
    nc = neuro_cores(profile)
    names = [r.name for r in est.layers]
    neur, syn = [], []
    for p in est.placement.layers if est.placement is not None else ():
        on_core = p.neurons if not p.cores else -(-p.neurons // p.cores)
        neur.append(100 * on_core / nc.neurons)
        syn.append(100 * on_core * p.fan_in * p.synapse_bits / 8 / nc.synaptic_memory_bytes)
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], neur, 0.38, color=_KERNEL, label=f"neurons (of {nc.neurons})")
    ax.bar(
        [i + 0.2 for i in x],
        syn,
        0.38,
        color=_NEURON,
        label=f"synaptic memory (of {si(nc.synaptic_memory_bytes, 'B')})",
    )
    ax.axhline(100, color=_STALL, lw=1, ls="--")
    ax.set_xticks(list(x), [f"{r.name}\n{r.cores or '—'} cores" for r in est.layers])
    ax.legend(fontsize=8)
    ax.set(
        ylabel="% of one core",
        title=f"Use of a core on {est.target}: {est.cores_used} of "
        f"{est.cores_available} cores ({'fits' if est.fits else 'does NOT fit'})",
    )


def _macs(ax: Axes, est: Estimate) -> None:
    x = list(range(len(est.layers)))
    ax.bar(x, [r.macs for r in est.layers], 0.6, color="tab:gray")
    ax.set_yscale("log")
    ax.set_xticks(x, [r.name for r in est.layers])
    ax.set(ylabel="MACs per inference", title=f"MACs per layer as an ANN on {est.target}")


def _synops(ax: Axes, est: Estimate) -> None:
    if est.architecture == Architecture.DENSE_ACCELERATOR:
        return _macs(ax, est)
    rows = est.layers
    x = list(range(len(rows)))
    rates = [r.synops_per_core_per_s or 0 for r in rows]
    if not any(rates):
        ax.text(
            0.5,
            0.5,
            "no activity measured\n(--input FILE or --samples N)",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        return
    colors = [_STALL if r.stalls else _OK for r in rows]
    ax.bar(x, rates, 0.6, color=colors)
    for i, r in enumerate(rows):
        if r.synops_ceiling:
            ax.hlines(r.synops_ceiling, i - 0.35, i + 0.35, color=_STALL, lw=2)
            if r.ceiling_utilisation is not None:  # None: the layer's SynOps are unknown
                ax.text(i, max(rates[i], 1) * 1.15, f"{100 * r.ceiling_utilisation:.1f} %", ha="center", fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(x, [f"{r.name}" + (f"\ncore {r.core}" if r.core is not None else "") for r in rows])
    per = "per core " if est.architecture == Architecture.NEURON_CORES else ""
    title = f"SynOps/s {per}per layer"
    if any(r.synops_ceiling for r in rows):
        title += " vs. the core's ceiling (red; above it the chip stalls)"
    ax.set_ylim(top=max(rates + [r.synops_ceiling or 0 for r in rows]) * 3)
    ax.set(ylabel="SynOps / s", title=title)


def _power(ax: Axes, est: Estimate) -> None:
    terms = [t for t in est.power_terms]
    if not terms:
        ax.text(0.5, 0.5, "no power figures", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    y = list(range(len(terms)))[::-1]
    ax.barh(y, [t.power_w * 1e3 for t in terms], color="tab:purple", alpha=0.8)
    for yi, t in zip(y, terms):
        lo, hi = t.low_w * 1e3, t.high_w * 1e3
        if hi > lo:
            ax.errorbar(
                t.power_w * 1e3, yi, xerr=[[t.power_w * 1e3 - lo], [hi - t.power_w * 1e3]], color="k", capsize=3, lw=1
            )
        ax.text(hi, yi, f"  {si(t.power_w, 'W')} [{t.confidence}]", va="center", fontsize=8)
    ax.set_yticks(y, [t.label for t in terms])
    ax.set_xlim(0, max(t.high_w for t in terms) * 1e3 * 1.6)
    total = si(est.power_w, "W") if est.power_w is not None else f"total n/a ({est.total_unknown or 'unknown'})"
    ax.set(xlabel="power (mW)", title=f"Power on {est.target}: {total} (bars: range)")


def _energy_across(ax: Axes, ests: Sequence[Estimate]) -> None:
    """Dynamic energy per inference for every target (the comparable figure); the total beside it only
    where the profile gives a static power, else 'total n/a'."""
    x = list(range(len(ests)))
    dyn = [e.dynamic_energy_per_inference_j for e in ests]
    total = [e.energy_per_inference_j for e in ests]
    ax.bar([i - 0.2 for i in x], [d or 0 for d in dyn], 0.38, color="tab:purple", label="dynamic (every target)")
    ax.bar(
        [i + 0.2 for i in x],
        [t or 0 for t in total],
        0.38,
        color="lightgrey",
        edgecolor="grey",
        label="total (static + dynamic [+ sensor])",
    )
    known = [v for v in dyn + total if v]
    floor, top = (min(known), max(known)) if known else (1e-15, 1e-14)
    for i in x:
        ax.text(i - 0.2, (dyn[i] or floor) * 1.2, si(dyn[i], "J"), ha="center", fontsize=8)
        ax.text(
            i + 0.2,
            (total[i] or floor) * 1.2,
            si(total[i], "J") if total[i] is not None else "total\nn/a",
            ha="center",
            fontsize=8,
        )
    reasons = sorted({f"{e.target}: {e.total_unknown or 'unknown'}" for e, t in zip(ests, total) if t is None})
    if reasons:
        ax.text(
            0.99, 0.97, "total n/a — " + "; ".join(reasons), transform=ax.transAxes, ha="right", va="top", fontsize=7
        )
    ax.set_yscale("log")
    ax.set_ylim(floor / 10, top * 30)
    ax.set_xticks(x, [e.target for e in ests])
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, 0.92))
    ax.set(ylabel="J per inference", title="Energy per inference (same activity): compare the dynamic part")


def plot_estimates(ests: Sequence[Estimate], profiles: Sequence[Profile], path: str | Path) -> Path:
    """A PNG report of the first target (memory, SynOps, power), plus energy across all targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    est, profile = ests[0], profiles[0]
    fig, ax = plt.subplots(2, 2, figsize=(13, 8.5))
    if est.architecture == Architecture.LAYER_PER_CORE:
        _memory_layer_cores(ax[0, 0], est, profile)
    elif est.architecture == Architecture.NEURON_CORES:
        _memory_neuron_cores(ax[0, 0], est, profile)
    else:
        ax[0, 0].text(
            0.5, 0.5, f"{est.target}: no capacity model", ha="center", va="center", transform=ax[0, 0].transAxes
        )
        ax[0, 0].set_axis_off()
    _synops(ax[0, 1], est)
    _power(ax[1, 0], est)
    if len(ests) > 1:
        _energy_across(ax[1, 1], ests)
    else:
        _spikes(ax[1, 1], est)
    source = est.activity_source or ("no activity measured" if est.synops is None else "activity given by the caller")
    fig.suptitle(f"qsnn-deploy estimate — {source}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:  # a failed write keeps what was there
        fig.savefig(tmp, dpi=110, format=path.suffix[1:] or "png")
    plt.close(fig)
    return path


def _spikes(ax: Axes, est: Estimate) -> None:
    rows = est.layers
    if not any(r.spikes_per_s for r in rows):
        ax.text(0.5, 0.5, "no spike counts measured", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    x = range(len(rows))
    ax.bar(x, [r.spikes_per_s or 0 for r in rows], 0.6, color="tab:cyan")
    ax.set_xticks(list(x), [r.name for r in rows])
    ax.set(ylabel="output events / s", title="Spikes per layer (after sum-pooling)")
