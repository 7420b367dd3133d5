"""Hardware profiles, design rules, placement and the estimator (no torch needed).

Public API::

    load_profile(name_or_path) -> Profile          list_profiles() -> list[str]
    layer_memory(layer) -> LayerMemory             check(net, profile) -> list[Violation]
    map_layers(net, profile) -> Mapping        place_neurons(net, profile) -> NeuroPlacement
    estimate(net, profile, synops, duration, spikes_per_layer=...) -> Estimate
    format_table / format_json / format_markdown (Estimate) -> str
    format_comparison_table / _json / _markdown ([Estimate, ...]) -> str
"""

from .estimator import Estimate, LayerEstimate, estimate
from .mapping import Mapping, map_layers
from .memory import LayerMemory, layer_memory
from .neurocore import NeuroPlacement, place_neurons
from .profile import (
    ARCHITECTURES,
    CONFIDENCES,
    Architecture,
    Core,
    LayerConstraints,
    NeuroCores,
    Profile,
    Quantity,
    list_profiles,
    load_profile,
)
from .report import (
    format_comparison_json,
    format_comparison_markdown,
    format_comparison_table,
    format_json,
    format_markdown,
    format_table,
)
from .rules import RULES, Rule, Violation, check
from .schema import profile_from_dict

__all__ = [
    "ARCHITECTURES",
    "CONFIDENCES",
    "Architecture",
    "Core",
    "Estimate",
    "LayerConstraints",
    "LayerEstimate",
    "LayerMemory",
    "Mapping",
    "NeuroCores",
    "NeuroPlacement",
    "Profile",
    "Quantity",
    "RULES",
    "Rule",
    "Violation",
    "check",
    "estimate",
    "format_comparison_json",
    "format_comparison_markdown",
    "format_comparison_table",
    "format_json",
    "format_markdown",
    "format_table",
    "layer_memory",
    "list_profiles",
    "load_profile",
    "map_layers",
    "place_neurons",
    "profile_from_dict",
]
