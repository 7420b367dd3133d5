"""Mixed-precision bit allocation from Hessian traces (HAWQ-v2 objective, the DECOLLE code base's ranking rule).

One weight bit width per layer minimising ``Ω = Σ_l Tr(H_l)/n_l · ‖Q_b(W_l) − W_l‖²`` subject to a
budget on the weight memory ``Σ_l n_l·b_l`` — given as an average number of bits per weight or as a
total size. Solved exactly by a Pareto-front dynamic program over layers (states: (size, Ω) pairs
not dominated by another state).

Weight memory here is the model-size measure of the DECOLLE code base (``Σ n·b``, the "58 % smaller than FP32"
number). Speck's kernel memory has fixed-width words: fewer bits do not free chip memory there, but
they shrink the stored/transferred model and chips with packed weights.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..quant.quantizers import memory_bits

if TYPE_CHECKING:  # torch is only needed by the helpers that take a model
    from ..nets.network import SpikingCNN
    from .hessian import HessianResult

DEFAULT_CHOICES: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)
FP32_BITS = 32

# size units → bits; "kB" and "KB" are SI (1000), "KiB" binary (1024). Lower-case "b"/"kb" is refused
# (bit or byte?).
_UNITS: dict[str, float] = {
    "bit": 1,
    "bits": 1,
    "kbit": 1e3,
    "Kbit": 1e3,
    "Mbit": 1e6,
    "Kibit": 1024,
    "Mibit": 1024**2,
    "B": 8,
    "kB": 8e3,
    "KB": 8e3,
    "MB": 8e6,
    "KiB": 8 * 1024,
    "MiB": 8 * 1024**2,
}
_BUDGET_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")


@dataclass(frozen=True)
class Budget:
    """A weight-memory budget: ``avg_bits`` per weight, or ``total_bits`` for the whole model."""

    avg_bits: float | None = None
    total_bits: float | None = None
    text: str = ""

    def __post_init__(self):
        if (self.avg_bits is None) == (self.total_bits is None):
            raise ValueError("a Budget has exactly one of avg_bits and total_bits")
        value = self.avg_bits if self.avg_bits is not None else self.total_bits
        if not (math.isfinite(value) and value > 0):
            raise UsageError(f"bit budget must be a positive number, got {value!r}")

    def limit(self, n_weights: int) -> float:
        """The budget in bits for a model of ``n_weights`` weights."""
        if self.total_bits is not None:
            return self.total_bits
        assert self.avg_bits is not None  # __post_init__: exactly one of the two is set
        return self.avg_bits * n_weights

    def __str__(self) -> str:
        if self.text:
            return self.text
        return f"{self.avg_bits:g} bits/weight" if self.avg_bits is not None else f"{self.total_bits:g} bit"


def parse_bit_budget(text: str | float | Budget) -> Budget:
    """``"4"``/``"4.5"``: average bits per weight; ``"12kB"``, ``"12KiB"``, ``"96kbit"``, ``"1500B"``: a total size."""
    if isinstance(text, Budget):
        return text
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return Budget(avg_bits=float(text), text=f"{text:g} bits/weight")
    match = _BUDGET_RE.match(str(text))
    fix = (
        "give an average number of bits per weight (e.g. 4 or 4.5) or a size with a unit: "
        f"{', '.join(_UNITS)} (e.g. 12kB, 12KiB, 96kbit, 1500B)"
    )
    if not match:
        raise UsageError(f"cannot read the bit budget '{text}'", fix=fix)
    number, unit = float(match.group(1)), match.group(2)
    if not number > 0 or not math.isfinite(number):
        raise UsageError(f"the bit budget must be positive, got '{text}'", fix=fix)
    if not unit:
        if number > FP32_BITS:
            raise UsageError(
                f"a bit budget of {number:g} bits per weight is more than {FP32_BITS}",
                fix="a size needs a unit, e.g. 1500B or 96kbit",
            )
        return Budget(avg_bits=number, text=f"{number:g} bits/weight")
    if unit not in _UNITS:
        hint = " ('b' is ambiguous: write bit or B)" if unit.lower() in ("b", "kb", "mb") else ""
        raise UsageError(f"unknown size unit '{unit}' in bit budget '{text}'{hint}", fix=fix)
    return Budget(total_bits=number * _UNITS[unit], text=f"{number:g} {unit}")


def weight_memory_bits(n_params: Sequence[int], bits: Sequence[int]) -> int:
    """``Σ n_l·b_l``: the weight memory in bits."""
    if len(n_params) != len(bits):
        raise ValueError(f"{len(n_params)} layer sizes but {len(bits)} bit widths")
    return memory_bits({str(i): int(n) for i, n in enumerate(n_params)}, {str(i): int(b) for i, b in enumerate(bits)})


def reduction_vs_fp32(n_params: Sequence[int], bits: Sequence[int]) -> float:
    """How much smaller than FP32 weights, in percent."""
    fp32 = FP32_BITS * sum(n_params)
    return 100.0 * (1 - weight_memory_bits(n_params, bits) / fp32) if fp32 else 0.0


@dataclass(frozen=True)
class Allocation:
    """One bit width per layer and what it costs."""

    names: tuple[str, ...]
    bits: tuple[int, ...]
    n_params: tuple[int, ...]
    sensitivity: tuple[float, ...]  # as used (negative values clamped to 0)
    perturbation: tuple[float, ...]  # ‖Q_b(W) − W‖² at the chosen widths
    objective: float
    budget: str
    budget_bits: float
    choices: tuple[int, ...]

    @property
    def size_bits(self) -> int:
        return weight_memory_bits(self.n_params, self.bits)

    @property
    def avg_bits(self) -> float:
        return self.size_bits / sum(self.n_params)

    @property
    def reduction_pct(self) -> float:
        return reduction_vs_fp32(self.n_params, self.bits)

    @property
    def by_layer(self) -> dict[str, int]:
        return dict(zip(self.names, self.bits))

    def to_dict(self) -> dict[str, Any]:
        layers = [
            {"name": n, "bits": b, "params": p, "sensitivity": s, "perturbation": d, "term": s * d}
            for n, b, p, s, d in zip(self.names, self.bits, self.n_params, self.sensitivity, self.perturbation)
        ]
        return {
            "budget": self.budget,
            "budget_bits": self.budget_bits,
            "layers": layers,
            "bits": self.by_layer,
            "objective": self.objective,
            "size_bits": self.size_bits,
            "size_bytes": self.size_bits / 8,
            "avg_bits": self.avg_bits,
            "fp32_bits": FP32_BITS * sum(self.n_params),
            "reduction_vs_fp32_pct": self.reduction_pct,
            "choices": list(self.choices),
        }


def _validate(names, n_params, sensitivity, perturbation, choices) -> tuple[int, ...]:
    if not (len(names) == len(n_params) == len(sensitivity)) or not names:
        raise ValueError(
            f"names, n_params and sensitivity need one entry per layer "
            f"(got {len(names)}, {len(n_params)}, {len(sensitivity)})"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"layer names must be unique: {list(names)}")
    choices = tuple(sorted({int(c) for c in choices}))
    if not choices or choices[0] < 1:
        raise ValueError(f"bit choices must be positive integers, got {choices}")
    for name, n, s in zip(names, n_params, sensitivity):
        if int(n) != n or n < 1:
            raise ValueError(f"layer {name}: parameter count must be a positive integer, got {n!r}")
        if not math.isfinite(s):
            raise ValueError(f"layer {name}: sensitivity is not finite ({s!r})")
        missing = [b for b in choices if b not in perturbation.get(name, {})]
        if missing:
            raise ValueError(f"layer {name}: no perturbation for {missing} bits")
    return choices


def allocate_bits(
    names: Sequence[str],
    n_params: Sequence[int],
    sensitivity: Sequence[float],
    perturbation: Mapping[str, Mapping[int, float]],
    budget: Budget | str | float,
    choices: Sequence[int] = DEFAULT_CHOICES,
) -> Allocation:
    """The exact minimiser of ``Σ_l sensitivity_l · perturbation[l][b_l]`` with ``Σ n_l·b_l`` within ``budget``.

    Pass trace per parameter as ``sensitivity`` for HAWQ-v2 (negative traces count as 0: no layer gets
    fewer bits *because* of negative curvature). Among equal objectives the smaller model wins.
    Raises :class:`UsageError` when even every layer at the smallest choice exceeds the budget.
    """
    choices = _validate(names, n_params, sensitivity, perturbation, choices)
    budget = parse_bit_budget(budget)
    n_params = tuple(int(n) for n in n_params)
    limit = budget.limit(sum(n_params))
    smallest = weight_memory_bits(n_params, [choices[0]] * len(n_params))
    if smallest > limit:
        raise UsageError(
            f"bit budget {budget} ({limit:g} bit) is below the smallest possible weight memory: "
            f"{smallest} bit ({smallest / 8:g} B) with every layer at {choices[0]} bits",
            fix=f"raise the budget to at least {choices[0]} bits/weight or {math.ceil(smallest / 8)}B",
        )
    sens = tuple(max(0.0, float(s)) for s in sensitivity)
    # remaining minimum size after layer l, to drop states that can no longer fit
    rest = [0] * (len(names) + 1)
    for i in range(len(names) - 1, -1, -1):
        rest[i] = rest[i + 1] + n_params[i] * choices[0]
    front: list[tuple[int, float, tuple[int, ...]]] = [(0, 0.0, ())]
    for i, name in enumerate(names):
        cand = [
            (size + n_params[i] * b, obj + sens[i] * float(perturbation[name][b]), picked + (b,))
            for size, obj, picked in front
            for b in choices
            if size + n_params[i] * b + rest[i + 1] <= limit
        ]
        cand.sort(key=lambda s: (s[0], s[1]))
        front, best = [], math.inf
        for state in cand:  # keep states whose objective beats every smaller (or equal) size
            if state[1] < best:
                front.append(state)
                best = state[1]
    _, obj, bits = front[-1]  # the front's objective strictly falls with size: the last is the optimum
    return Allocation(
        names=tuple(names),
        bits=bits,
        n_params=n_params,
        sensitivity=sens,
        perturbation=tuple(float(perturbation[n][b]) for n, b in zip(names, bits)),
        objective=obj,
        budget=str(budget),
        budget_bits=float(limit),
        choices=choices,
    )


def weight_perturbations(model: SpikingCNN, choices: Sequence[int] = DEFAULT_CHOICES) -> dict[str, dict[int, float]]:
    """``‖Q_b(W) − W‖²`` per block and bit width, in float weight units, quantising exactly as QAT does
    (``block.params(quantize=True)`` with ``weight_bits = b``, divided back by the shared layer scale).
    The model is left unchanged."""
    import torch

    from ..quant.fake import chip_scale_t

    out: dict[str, dict[int, float]] = {}
    with torch.no_grad():
        for block in model.chip_blocks:
            keep = block.weight_bits
            w = block.conv.weight
            out[block.name] = {}
            try:
                for b in choices:
                    block.weight_bits = int(b)
                    wq = block.params(quantize=True)[0].double()
                    scale = chip_scale_t(w, block.conv.bias, block.threshold, block.min_v_mem, int(b))
                    out[block.name][int(b)] = float(((wq / scale - w.double()) ** 2).sum())
            finally:
                block.weight_bits = keep
    return out


def apply_bits(model: SpikingCNN, bits: Mapping[str, int] | Allocation) -> None:
    """Set each block's ``weight_bits`` and the model's spec to match (so checkpoints record them)."""
    by_layer = bits.by_layer if isinstance(bits, Allocation) else dict(bits)
    unknown = set(by_layer) - {b.name for b in model.chip_blocks}
    if unknown:
        raise ValueError(f"no such layers in the model: {sorted(unknown)}")
    for block in model.chip_blocks:
        if block.name in by_layer:
            block.weight_bits = int(by_layer[block.name])
    model.spec = dataclasses.replace(
        model.spec,
        layers=tuple(
            dataclasses.replace(layer, weight_bits=int(by_layer.get(layer.name, layer.weight_bits)))
            for layer in model.spec.layers
        ),
    )


def allocate_for_model(
    model: SpikingCNN, hessian: HessianResult, budget: Budget | str | float, choices: Sequence[int] = DEFAULT_CHOICES
) -> Allocation:
    """HAWQ-v2 allocation for ``model`` from its Hessian traces (trace per parameter × perturbation)."""
    return allocate_bits(
        hessian.names, hessian.n_params, hessian.trace_per_param, weight_perturbations(model, choices), budget, choices
    )


def auto_bits(
    model: SpikingCNN,
    data: Any,
    budget: Budget | str | float,
    choices: Sequence[int] = DEFAULT_CHOICES,
    **hessian_kwargs: Any,
) -> tuple[Allocation, HessianResult]:
    """Hessian traces of ``model`` on ``data`` (keyword arguments go to
    :func:`qsnn_deploy.train.hessian.hutchinson_traces`), then the allocation under ``budget``.

    Checks the budget before the (costly) Hessian. Does not change the model: apply the result with
    :func:`apply_bits`.
    """
    from .hessian import hutchinson_traces, layer_weights

    budget = parse_bit_budget(budget)
    sizes = [int(w.numel()) for w in layer_weights(model)]
    check_budget(sizes, budget, choices)
    hessian = hutchinson_traces(model, data, **hessian_kwargs)
    return allocate_for_model(model, hessian, budget, choices), hessian


def check_budget(
    n_params: Sequence[int], budget: Budget | str | float, choices: Sequence[int] = DEFAULT_CHOICES
) -> Budget:
    """Raise the allocator's :class:`UsageError` now if ``budget`` cannot be met; returns the parsed budget."""
    budget = parse_bit_budget(budget)
    names = [f"layer{i}" for i in range(len(n_params))]
    low = min(choices)
    allocate_bits(names, n_params, [0.0] * len(n_params), {n: {b: 0.0 for b in choices} for n in names}, budget, [low])
    return budget
