"""Formatting of estimates: aligned table, JSON, Markdown, for one target or several side by side."""

from __future__ import annotations

import json
from collections.abc import Sequence

from .energy import NOT_REQUESTED, PowerTerm
from .estimator import Estimate
from .profile import Architecture, Profile

_PREFIXES = (
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
    (1.0, ""),
    (1e-3, "m"),
    (1e-6, "µ"),
    (1e-9, "n"),
    (1e-12, "p"),
)


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """``0.00052, "W"`` → ``"520 µW"``; None → ``"—"``."""
    if value is None:
        return "—"
    if value == 0:
        return f"0 {unit}".strip()
    for factor, prefix in _PREFIXES:
        if abs(value) >= factor * 0.9995:
            return f"{value / factor:.{digits}g} {prefix}{unit}".strip()
    return f"{value:.{digits}g} {unit}".strip()


def _pct(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{100 * x:.1f} %" + (" STALL" if x > 1 else "")


def _columns(est: Estimate) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Header and rows of the per-layer table for the estimate's architecture."""
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    if est.architecture == Architecture.NEURON_CORES:
        header = (
            "layer",
            "kind",
            "neurons",
            "fan-in",
            "cores",
            "synapses",
            "SynOps/sample",
            "SynOps/s/core",
            "spikes/s",
            "fit",
        )
        rows = [
            (
                r.name,
                r.kind,
                str(r.neurons),
                str(r.fan_in),
                "—" if r.cores is None else str(r.cores),
                si(r.synaptic_memory_bytes, "B"),
                si(r.synops),
                si(r.synops_per_core_per_s),
                si(r.spikes_per_s),
                "ok" if r.fits else "NO",
            )
            for r in est.layers
        ]
    elif est.architecture == Architecture.DENSE_ACCELERATOR:
        header = ("layer", "kind", "outputs", "MACs/inference")
        rows = [(r.name, r.kind, str(r.neurons), si(r.macs)) for r in est.layers]
    else:
        header = (
            "layer",
            "kind",
            "kernel",
            "neuron",
            "bias",
            "core",
            "SynOps/sample",
            "SynOps/s",
            "spikes/s",
            "ceiling",
            "fit",
        )
        rows = [
            (
                r.name,
                r.kind,
                str(r.kernel_memory),
                str(r.neuron_memory),
                str(r.bias_memory),
                "—" if r.core is None else str(r.core),
                si(r.synops),
                si(r.synops_per_s),
                si(r.spikes_per_s),
                _pct(r.ceiling_utilisation),
                "ok" if r.fits else "NO",
            )
            for r in est.layers
        ]
    return header, rows


_LEGEND: dict[Architecture, str] = {
    Architecture.LAYER_PER_CORE: "(memory in words: kernel / neuron / bias; ceiling = the core's SynOps/s against "
    "its throughput ceiling)",
    Architecture.NEURON_CORES: "(neurons before pooling; fan-in with the previous sum-pool folded into the synapses; "
    "synapses = layer's synaptic memory, stored per neuron)",
    Architecture.DENSE_ACCELERATOR: "(the same network run as an ANN: one dense pass per inference)",
}


def _placement(est: Estimate) -> str:
    if est.architecture == Architecture.DENSE_ACCELERATOR:
        return "no capacity model (estimate only)"
    if est.cores_used is None:
        return f"no valid mapping onto the {est.cores_available} cores"
    text = f"{est.cores_used} of {est.cores_available} cores"
    if est.mapping is not None and est.mapping.assignment:
        text += " (" + ", ".join(f"{k}→{v}" for k, v in est.mapping.assignment.items()) + ")"
    return text


_PART_LABEL = {"static": "static (resting)", "dynamic": "dynamic", "sensor": "sensor"}


def _spread(
    value: float | None, rng: tuple[float, float] | None, terms: Sequence[PowerTerm], confidence: str | None
) -> str:
    """``"521 µW (range 496 µW–672 µW; resting 420 µW + SynOps 101 µW; confidence: derived)"``; a known power
    always has a range (``rng`` None shows none)."""
    lo, hi = (si(x, "W") for x in rng) if rng is not None else ("", "")
    span = f"range {lo}–{hi}; " if lo != hi else ""
    parts = " + ".join(f"{t.label} {si(t.power_w, 'W')}" for t in terms)
    return f"{si(value, 'W')} ({span}{parts}; confidence: {confidence})"


def _power(est: Estimate) -> str:
    if est.power_w is not None:
        return _spread(est.power_w, est.power_w_range, est.power_terms, est.power_confidence)
    dynamic = est.energy_part("dynamic")
    if dynamic is not None and dynamic.power_w is not None:  # no static power: the dynamic part alone
        terms = [t for t in est.power_terms if t.count is not None]
        return f"total n/a ({est.total_unknown}); dynamic " + _spread(
            dynamic.power_w, dynamic.range_w, terms, est.power_confidence
        )
    static = f"; static (resting) alone: {si(est.power_static_w, 'W')}" if est.power_static_w is not None else ""
    return f"— ({est.total_unknown or 'unknown'}{static})"


def _energy(est: Estimate) -> str:
    if est.energy_per_inference_j is not None:
        parts = " + ".join(
            f"{p.name} {si(p.energy_per_inference_j, 'J')}" for p in est.energy_parts if p.name in est.includes
        )
        return f"{si(est.energy_per_inference_j, 'J')} ({parts})"
    if est.dynamic_energy_per_inference_j is not None:
        return f"total n/a ({est.total_unknown}); dynamic {si(est.dynamic_energy_per_inference_j, 'J')}"
    return f"— ({est.total_unknown or 'unknown'})"


def _totals_include(est: Estimate) -> str:
    """What the total power and energy add up (``"static + dynamic"``), or ``"n/a (why)"`` without a total."""
    if est.power_w is None:
        return f"n/a ({est.total_unknown or 'unknown'})"
    return " + ".join(est.includes)


def _includes(est: Estimate) -> str:
    if est.power_w is None:
        text = f"no total ({est.total_unknown or 'unknown'})"
        if est.dynamic_energy_per_inference_j is not None:
            text += ": only the dynamic part is known; compare targets on it"
    else:
        text = " + ".join(_PART_LABEL[n] for n in est.includes)
    sensor = est.energy_part("sensor")
    if sensor is not None and sensor.status == NOT_REQUESTED:
        text += "; not the sensor (--sensor adds it)"
    return text


def _latency(est: Estimate) -> str:
    lm = est.latency
    if lm is None or lm.latency_s is None:
        return "—"
    unit = "layers" if lm.kind == "pipeline" else "time steps"
    path = f", along the longest path {' → '.join(lm.path)}" if not est.chain and lm.path else ""
    return f"{si(lm.latency_s, 's')} ({lm.steps} {unit} × {si(lm.per_step_s, 's')}{path}; confidence: {lm.confidence})"


def _routes(est: Estimate) -> list[str]:
    """One line per layer of a graph: what feeds it and where it sends (core, pooling); none for a chain."""
    if est.chain:
        return []
    lines = []
    for r in est.layers:
        fed = " + ".join(r.sources) if r.sources else "input"
        to = ", ".join(
            f"{d.layer} ({'' if d.core is None else f'core {d.core}, '}pool {d.pool})" for d in r.destinations
        )
        lines.append(f"{fed} → {r.name}{'' if r.core is None else f' (core {r.core})'} → {to}")
    return lines


def _activity(est: Estimate) -> str:
    if est.architecture == Architecture.DENSE_ACCELERATOR:
        return f"{si(est.macs)} MACs per inference ({si(est.macs / est.sample_duration_s)} per second)"
    if est.synops is None and est.spikes is None:
        return f"not measured (give --input FILE or --samples N); sample {si(est.sample_duration_s, 's')}"
    source = f"; {est.activity_source}" if est.activity_source else ""
    text = (
        f"{si(est.synops)} SynOps per sample, {si(est.synops_per_s)} per second; "
        f"{si(est.spikes)} spikes per sample, {si(est.spikes_per_s)} per second"
    )
    if est.neuron_updates is not None:
        text += f"; {si(est.neuron_updates)} neuron updates"
    return text + f" (sample {si(est.sample_duration_s, 's')}{source})"


def _summary(est: Estimate) -> list[tuple[str, str]]:
    """(label, text) pairs for placement, activity, power, energy, latency."""
    return [
        ("Placement", _placement(est)),
        ("Activity", _activity(est)),
        ("Power", _power(est)),
        ("Energy / inference", _energy(est)),
        ("Totals include", _includes(est)),
        ("Latency", _latency(est)),
    ]


def _sources(est: Estimate) -> list[str]:
    out = []
    for key, q in est.provenance.items():
        value = q.value if not isinstance(q.value, tuple) else "[" + ", ".join(f"{v:g}" for v in q.value) + "]"
        value = f"{value:g}" if isinstance(value, float) else value
        note = f" — {q.note}" if q.note else ""
        out.append(f"{key}: {value} {q.unit} [{q.confidence}] {q.source}{note}")
    return out


def _aligned(
    header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 2, text: Sequence[int] = ()
) -> list[str]:
    """Columns before ``left`` and those in ``text`` are left-aligned, the others (numbers) right-aligned."""
    table = [tuple(header)] + [tuple(r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for j, r in enumerate(table):
        cells = [c.ljust(w) if i < left or i in text else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def format_table(est: Estimate) -> str:
    """Human-friendly, aligned plain-text report."""
    header, rows = _columns(est)
    lines = [f"Target {est.target} ({est.architecture}): {'fits' if est.fits else 'DOES NOT FIT'}", ""]
    lines += _aligned(header, rows)
    lines += [_LEGEND[est.architecture], ""]
    label_w = max(len(k) for k, _ in _summary(est))
    lines += [f"{k.ljust(label_w)}  {v}" for k, v in _summary(est)]
    if _routes(est):
        lines += ["", "Routes (sources → layer → destinations):"] + [f"  {r}" for r in _routes(est)]
    if est.violations:
        lines += ["", f"Violations ({len(est.violations)}):"]
        for v in est.violations:
            lines.append(f"  {v.code} {v.rule}{f' [{v.layer}]' if v.layer else ''}: {v.message}")
            lines.append(f"      fix: {v.fix}")
    if est.mapping is not None and not est.mapping.ok:
        lines += ["", f"Mapping: {est.mapping.explanation}"]
    if est.warnings:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in est.warnings]
    if est.provenance:
        lines += ["", "Figures used (value, confidence, source):"] + [f"  {s}" for s in _sources(est)]
    return "\n".join(lines) + "\n"


def format_json(est: Estimate) -> str:
    """The JSON of DESIGN.md §3 (``qsnn-deploy estimate --format json``)."""
    return json.dumps(est.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(est: Estimate, level: int = 2) -> str:
    """A Markdown report: per-layer table, summary, violations, warnings, provenance."""
    h = "#" * level
    header, rows = _columns(est)
    lines = [f"{h} Estimate for `{est.target}` ({est.architecture}): {'fits' if est.fits else '**does not fit**'}", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|")
    lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    lines += ["", _LEGEND[est.architecture].strip("()").capitalize() + ".", ""]
    lines += [f"- **{k}**: {_md(v)}" for k, v in _summary(est)]
    if _routes(est):
        lines += ["", f"{h}# Routes", ""] + [f"- {_md(r)}" for r in _routes(est)]
    if est.violations:
        lines += ["", f"{h}# Violations", "", "| code | rule | layer | problem | fix |", "|---|---|---|---|---|"]
        lines += [
            f"| {v.code} | {v.rule} | {v.layer or '—'} | {_md(v.message)} | {_md(v.fix)} |" for v in est.violations
        ]
    if est.mapping is not None and not est.mapping.ok:
        lines += ["", f"**Mapping:** {est.mapping.explanation}"]
    if est.warnings:
        lines += ["", f"{h}# Warnings", ""] + [f"- {_md(w)}" for w in est.warnings]
    if est.provenance:
        lines += ["", f"{h}# Figures used", ""] + [f"- {_md(s)}" for s in _sources(est)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# several targets side by side

_CMP_HEADER = (
    "target",
    "architecture",
    "fits",
    "cores",
    "work/inference",
    "dynamic energy/inf.",
    "total power",
    "total energy/inf.",
    "totals include",
    "latency",
    "confidence",
)


def _cmp_legend(ests: Sequence[Estimate]) -> str:
    duration = {si(e.sample_duration_s, "s") for e in ests}
    over = f" over the {duration.pop()} sample" if len(duration) == 1 else " over the sample"
    return (
        "Compare the dynamic energy per inference: every target has it. Totals add the static (resting) "
        f"power{over} (and the sensor with --sensor); 'n/a' where a profile gives no static power: "
        "the total is unknown, not small."
    )


def _work(est: Estimate) -> str:
    if est.architecture == Architecture.DENSE_ACCELERATOR:
        return f"{si(est.macs)} MACs"
    return "—" if est.synops is None else f"{si(est.synops)} SynOps"


def _cores(est: Estimate) -> str:
    if est.cores_available is None:
        return "—"
    return f"{'—' if est.cores_used is None else est.cores_used}/{est.cores_available}"


def _total(est: Estimate, value: float | None, unit: str) -> str:
    return si(value, unit) if value is not None or est.total_unknown == "activity not measured" else "n/a"


def _cmp_rows(ests: Sequence[Estimate]) -> list[tuple[str, ...]]:
    return [
        (
            e.target,
            e.architecture,
            "yes" if e.fits else "NO",
            _cores(e),
            _work(e),
            si(e.dynamic_energy_per_inference_j, "J"),
            _total(e, e.power_w, "W"),
            _total(e, e.energy_per_inference_j, "J"),
            _totals_include(e),
            si(e.latency_s, "s"),
            e.power_confidence or "—",
        )
        for e in ests
    ]


def format_comparison_table(ests: Sequence[Estimate]) -> str:
    """The same network on several targets: a side-by-side summary, then each target's report."""
    lines = ["Side by side (same network, same activity):", ""] + _aligned(
        _CMP_HEADER, _cmp_rows(ests), left=3, text=(_CMP_HEADER.index("totals include"),)
    )
    lines += [_cmp_legend(ests)]
    out = "\n".join(lines) + "\n"
    for est in ests:
        out += "\n" + "=" * 100 + "\n" + format_table(est)
    return out


def format_comparison_json(ests: Sequence[Estimate]) -> str:
    """A JSON list with one estimate object (DESIGN.md §3) per target, in the order given."""
    return json.dumps([e.to_dict() for e in ests], indent=2, ensure_ascii=False) + "\n"


def format_comparison_markdown(ests: Sequence[Estimate]) -> str:
    lines = [
        "## Side by side",
        "",
        "| " + " | ".join(_CMP_HEADER) + " |",
        "|" + "|".join("---" if i < 3 or h == "totals include" else "---:" for i, h in enumerate(_CMP_HEADER)) + "|",
    ]
    lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in _cmp_rows(ests)]
    lines += ["", _md(_cmp_legend(ests))]
    return "\n".join(lines) + "\n\n" + "\n".join(format_markdown(e, level=3) for e in ests)


def format_profile(profile: Profile) -> str:
    """A profile for people: cores, constraints, then every quantity with its source and confidence."""
    lines = [f"{profile.name}: {profile.description}".rstrip(": "), f"architecture: {profile.architecture}"]
    lines += [f"note: {n}" for n in profile.notes]
    if profile.cores:
        lines += ["", "cores (memory in words):", "  core  kernel  neuron  bias  SynOps/s ceiling"]
        for c in profile.cores:
            lines.append(
                f"  {c.index:>4}  {c.kernel_memory:>6}  {c.neuron_memory:>6}  {c.bias_memory:>4}  "
                f"{si(c.synops_ceiling)}"
            )
    if profile.neuro_cores is not None:
        nc = profile.neuro_cores
        lines += [
            "",
            f"cores: {nc.count} × ({nc.neurons} neurons, {nc.synaptic_memory_bytes} B synaptic memory, "
            f"fan-in {nc.fan_in if nc.fan_in is not None else 'not limited'})",
        ]
    constraints = [f"  {k}: {v}" for k, v in vars(profile.constraints).items() if v not in (None, False)]
    if constraints:
        lines += ["", "layer constraints:"] + constraints
    lines += ["", "figures (value, source, confidence):"]
    for key, q in sorted(profile.quantities.items()):
        if isinstance(q.value, (str, tuple)) or float(q.value).is_integer():
            value = f"{q.value} {q.unit or ''}".rstrip()
        else:
            value = si(float(q.value), q.unit or "")
        lines.append(f"  {key}: {value}  [{q.source}; {q.confidence}]" + (f"  {q.note}" if q.note else ""))
    if profile.sources:
        lines += ["", "sources:"] + [f"  {k}: {v}" for k, v in profile.sources.items()]
    return "\n".join(lines)
