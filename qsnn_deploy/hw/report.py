"""Formatting of an :class:`~qsnn_deploy.hw.estimator.Estimate`: aligned table, JSON, Markdown."""

from __future__ import annotations

import json

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
    return "—" if x is None else f"{100 * x:.1f} %"


_HEADER = ("layer", "kind", "kernel", "neuron", "bias", "core", "SynOps/sample", "SynOps/s", "ceiling", "fit")


def _rows(est: Estimate) -> list[tuple[str, ...]]:
    return [(r.name, r.kind, str(r.kernel_memory), str(r.neuron_memory), str(r.bias_memory),
             "—" if r.core is None else str(r.core), si(r.synops), si(r.synops_per_s), _pct(r.ceiling_utilisation),
             "ok" if r.fits else "NO") for r in est.layers]


def _summary(est: Estimate) -> list[tuple[str, str]]:
    """(label, text) pairs for totals, power, energy, latency."""
    prov = est.provenance
    conf = f"; confidence: {est.power_confidence}" if est.power_confidence else ""
    power = si(est.power_w, "W")
    if est.power_w is not None:
        lo, hi = est.power_w_range
        power += (f" (range {si(lo, 'W')}–{si(hi, 'W')}; static {si(est.power_static_w, 'W')}"
                  f" + dynamic {si(est.power_dynamic_w, 'W')}{conf})")
    elif est.power_static_w is not None:
        power += f" (static alone: {si(est.power_static_w, 'W')}, {prov['power_static'].confidence})"
    latency = si(est.latency_s, "s")
    if "latency_per_layer" in prov:
        latency += f" ({len(est.layers)} layers × {si(prov['latency_per_layer'].value, 's')}; " \
                   f"confidence: {prov['latency_per_layer'].confidence})"
    return [
        ("SynOps", f"{si(est.synops)} per sample, {si(est.synops_per_s)} per second "
                   f"(sample {si(est.sample_duration_s, 's')})"),
        ("Power", power),
        ("Energy / inference", f"{si(est.energy_per_inference_j, 'J')} "
                               f"(dynamic only: {si(est.dynamic_energy_per_inference_j, 'J')})"),
        ("Latency", latency),
    ]


def _sources(est: Estimate) -> list[str]:
    out = []
    for key, q in est.provenance.items():
        value = q.value if not isinstance(q.value, tuple) else "[" + ", ".join(f"{v:g}" for v in q.value) + "]"
        value = f"{value:g}" if isinstance(value, float) else value
        note = f" — {q.note}" if q.note else ""
        out.append(f"{key}: {value} {q.unit} [{q.confidence}] {q.source}{note}")
    return out


def format_table(est: Estimate) -> str:
    """Human-friendly, aligned plain-text report (memory in words)."""
    rows = [_HEADER] + _rows(est)
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADER))]
    left = {0, 1}
    lines = [f"Target {est.target}: {'fits' if est.fits else 'DOES NOT FIT'}", ""]
    for j, r in enumerate(rows):
        cells = [c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("(memory in words: kernel / neuron / bias; ceiling = SynOps/s vs the core's throughput ceiling)")
    lines.append("")
    label_w = max(len(k) for k, _ in _summary(est))
    lines += [f"{k.ljust(label_w)}  {v}" for k, v in _summary(est)]
    if est.violations:
        lines += ["", f"Violations ({len(est.violations)}):"]
        for v in est.violations:
            lines.append(f"  {v.code} {v.rule}{f' [{v.layer}]' if v.layer else ''}: {v.message}")
            lines.append(f"      fix: {v.fix}")
    if not est.mapping.ok:
        lines += ["", f"Mapping: {est.mapping.explanation}"]
    if est.warnings:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in est.warnings]
    if est.provenance:
        lines += ["", "Figures used (value, confidence, source):"] + [f"  {s}" for s in _sources(est)]
    return "\n".join(lines) + "\n"


def format_json(est: Estimate) -> str:
    """The JSON of DESIGN.md §3 (``qsnn-deploy estimate --format json``)."""
    return json.dumps(est.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(est: Estimate) -> str:
    """A Markdown report: summary, per-layer table, violations, provenance."""
    lines = [f"## Estimate for `{est.target}`: {'fits' if est.fits else '**does not fit**'}", ""]
    lines.append("| " + " | ".join(_HEADER) + " |")
    lines.append("|" + "|".join("---" if i < 2 or i == len(_HEADER) - 1 else "---:" for i in range(len(_HEADER))) + "|")
    lines += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in _rows(est)]
    lines += ["", "Memory in words (kernel / neuron / bias).", ""]
    lines += [f"- **{k}**: {_md_escape(v)}" for k, v in _summary(est)]
    if est.violations:
        lines += ["", "### Violations", "", "| code | rule | layer | problem | fix |", "|---|---|---|---|---|"]
        lines += [f"| {v.code} | {v.rule} | {v.layer or '—'} | {_md_escape(v.message)} | {_md_escape(v.fix)} |"
                  for v in est.violations]
    if not est.mapping.ok:
        lines += ["", f"**Mapping:** {est.mapping.explanation}"]
    if est.warnings:
        lines += ["", "### Warnings", ""] + [f"- {w}" for w in est.warnings]
    if est.provenance:
        lines += ["", "### Figures used", ""] + [f"- {_md_escape(s)}" for s in _sources(est)]
    return "\n".join(lines) + "\n"


def format_profile(profile) -> str:
    """A profile for people: cores, constraints, then every quantity with its source and confidence."""
    lines = [f"{profile.name}: {profile.description}".rstrip(": "), "", "cores (memory in words):",
             "  core  kernel  neuron  bias  SynOps/s ceiling"]
    for c in profile.cores:
        lines.append(f"  {c.index:>4}  {c.kernel_memory:>6}  {c.neuron_memory:>6}  {c.bias_memory:>4}  "
                     f"{si(c.synops_ceiling)}")
    lines += ["", "layer constraints:"]
    lines += [f"  {k}: {v}" for k, v in vars(profile.constraints).items() if v is not None]
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
