"""Formatting of estimates: aligned table, JSON, Markdown, for one target or several side by side."""

from __future__ import annotations

import json
from typing import Sequence

from .estimator import Estimate

_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"),
             (1e-9, "n"), (1e-12, "p"))


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
    if est.architecture == "neuron-cores":
        header = ("layer", "kind", "neurons", "fan-in", "cores", "synapses", "SynOps/sample", "SynOps/s/core",
                  "spikes/s", "fit")
        rows = [(r.name, r.kind, str(r.neurons), str(r.fan_in), "—" if r.cores is None else str(r.cores),
                 si(r.synaptic_memory_bytes, "B"), si(r.synops), si(r.synops_per_core_per_s), si(r.spikes_per_s),
                 "ok" if r.fits else "NO") for r in est.layers]
    elif est.architecture == "dense-accelerator":
        header = ("layer", "kind", "outputs", "MACs/inference")
        rows = [(r.name, r.kind, str(r.neurons), si(r.macs)) for r in est.layers]
    else:
        header = ("layer", "kind", "kernel", "neuron", "bias", "core", "SynOps/sample", "SynOps/s", "spikes/s",
                  "ceiling", "fit")
        rows = [(r.name, r.kind, str(r.kernel_memory), str(r.neuron_memory), str(r.bias_memory),
                 "—" if r.core is None else str(r.core), si(r.synops), si(r.synops_per_s), si(r.spikes_per_s),
                 _pct(r.ceiling_utilisation), "ok" if r.fits else "NO") for r in est.layers]
    return header, rows


_LEGEND = {
    "layer-per-core": "(memory in words: kernel / neuron / bias; ceiling = the core's SynOps/s against its throughput "
                      "ceiling)",
    "neuron-cores": "(neurons before pooling; fan-in with the previous sum-pool folded into the synapses; synapses = "
                    "layer's synaptic memory, stored per neuron)",
    "dense-accelerator": "(the same network run as an ANN: one dense pass per inference)",
}


def _placement(est: Estimate) -> str:
    if est.architecture == "dense-accelerator":
        return "no capacity model (estimate only)"
    if est.cores_used is None:
        return f"no valid mapping onto the {est.cores_available} cores"
    text = f"{est.cores_used} of {est.cores_available} cores"
    if est.mapping is not None and est.mapping.assignment:
        text += " (" + ", ".join(f"{k}→{v}" for k, v in est.mapping.assignment.items()) + ")"
    return text


def _power(est: Estimate) -> str:
    if est.power_w is None:
        static = f" (resting alone: {si(est.power_static_w, 'W')})" if est.power_static_w is not None else ""
        return "—" + static
    lo, hi = (si(x, "W") for x in est.power_w_range)
    span = f"range {lo}–{hi}; " if lo != hi else ""
    parts = " + ".join(f"{t.label} {si(t.power_w, 'W')}" for t in est.power_terms)
    return f"{si(est.power_w, 'W')} ({span}{parts}; confidence: {est.power_confidence})"


def _latency(est: Estimate) -> str:
    lm = est.latency
    if lm is None or lm.latency_s is None:
        return "—"
    unit = "layers" if lm.kind == "pipeline" else "time steps"
    return f"{si(lm.latency_s, 's')} ({lm.steps} {unit} × {si(lm.per_step_s, 's')}; confidence: {lm.confidence})"


def _activity(est: Estimate) -> str:
    if est.architecture == "dense-accelerator":
        return f"{si(est.macs)} MACs per inference ({si(est.macs / est.sample_duration_s)} per second)"
    if est.synops is None and est.spikes is None:
        return f"not measured (give --input FILE or --samples N); sample {si(est.sample_duration_s, 's')}"
    source = f"; {est.activity_source}" if est.activity_source else ""
    text = (f"{si(est.synops)} SynOps per sample, {si(est.synops_per_s)} per second; "
            f"{si(est.spikes)} spikes per sample, {si(est.spikes_per_s)} per second")
    if est.neuron_updates is not None:
        text += f"; {si(est.neuron_updates)} neuron updates"
    return text + f" (sample {si(est.sample_duration_s, 's')}{source})"


def _summary(est: Estimate) -> list[tuple[str, str]]:
    """(label, text) pairs for placement, activity, power, energy, latency."""
    return [
        ("Placement", _placement(est)),
        ("Activity", _activity(est)),
        ("Power", _power(est)),
        ("Energy / inference", f"{si(est.energy_per_inference_j, 'J')} "
                               f"(dynamic only: {si(est.dynamic_energy_per_inference_j, 'J')})"),
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


def _aligned(header: Sequence[str], rows: list[Sequence[str]], left: int = 2) -> list[str]:
    table = [tuple(header)] + [tuple(r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for j, r in enumerate(table):
        cells = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
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
    if est.violations:
        lines += ["", f"{h}# Violations", "", "| code | rule | layer | problem | fix |", "|---|---|---|---|---|"]
        lines += [f"| {v.code} | {v.rule} | {v.layer or '—'} | {_md(v.message)} | {_md(v.fix)} |"
                  for v in est.violations]
    if est.mapping is not None and not est.mapping.ok:
        lines += ["", f"**Mapping:** {est.mapping.explanation}"]
    if est.warnings:
        lines += ["", f"{h}# Warnings", ""] + [f"- {_md(w)}" for w in est.warnings]
    if est.provenance:
        lines += ["", f"{h}# Figures used", ""] + [f"- {_md(s)}" for s in _sources(est)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# several targets side by side

_CMP_HEADER = ("target", "architecture", "fits", "cores", "work/inference", "power", "energy/inference", "latency",
               "power confidence")


def _work(est: Estimate) -> str:
    if est.architecture == "dense-accelerator":
        return f"{si(est.macs)} MACs"
    return "—" if est.synops is None else f"{si(est.synops)} SynOps"


def _cores(est: Estimate) -> str:
    if est.cores_available is None:
        return "—"
    return f"{'—' if est.cores_used is None else est.cores_used}/{est.cores_available}"


def _cmp_rows(ests: Sequence[Estimate]) -> list[tuple[str, ...]]:
    return [(e.target, e.architecture, "yes" if e.fits else "NO", _cores(e), _work(e), si(e.power_w, "W"),
             si(e.energy_per_inference_j, "J"), si(e.latency_s, "s"), e.power_confidence or "—") for e in ests]


def format_comparison_table(ests: Sequence[Estimate]) -> str:
    """The same network on several targets: a side-by-side summary, then each target's report."""
    lines = ["Side by side (same network, same activity):", ""] + _aligned(_CMP_HEADER, _cmp_rows(ests), left=3)
    out = "\n".join(lines) + "\n"
    for est in ests:
        out += "\n" + "=" * 100 + "\n" + format_table(est)
    return out


def format_comparison_json(ests: Sequence[Estimate]) -> str:
    """A JSON list with one estimate object (DESIGN.md §3) per target, in the order given."""
    return json.dumps([e.to_dict() for e in ests], indent=2, ensure_ascii=False) + "\n"


def format_comparison_markdown(ests: Sequence[Estimate]) -> str:
    lines = ["## Side by side", "", "| " + " | ".join(_CMP_HEADER) + " |",
             "|" + "|".join("---" if i < 3 else "---:" for i in range(len(_CMP_HEADER))) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in _cmp_rows(ests)]
    return "\n".join(lines) + "\n\n" + "\n".join(format_markdown(e, level=3) for e in ests)


def format_profile(profile) -> str:
    """A profile for people: cores, constraints, then every quantity with its source and confidence."""
    lines = [f"{profile.name}: {profile.description}".rstrip(": "), f"architecture: {profile.architecture}"]
    lines += [f"note: {n}" for n in profile.notes]
    if profile.cores:
        lines += ["", "cores (memory in words):", "  core  kernel  neuron  bias  SynOps/s ceiling"]
        for c in profile.cores:
            lines.append(f"  {c.index:>4}  {c.kernel_memory:>6}  {c.neuron_memory:>6}  {c.bias_memory:>4}  "
                         f"{si(c.synops_ceiling)}")
    if profile.neuro_cores is not None:
        nc = profile.neuro_cores
        lines += ["", f"cores: {nc.count} × ({nc.neurons} neurons, {nc.synaptic_memory_bytes} B synaptic memory, "
                      f"fan-in {nc.fan_in if nc.fan_in is not None else 'not limited'})"]
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
