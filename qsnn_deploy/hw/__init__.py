"""Hardware profiles, design rules, core mapping and the estimator (no torch needed).

Public API::

    load_profile(name_or_path) -> Profile          list_profiles() -> list[str]
    layer_memory(layer) -> LayerMemory             check(network, profile) -> list[Violation]
    map_layers(network, profile) -> Mapping        estimate(network, profile, synops, duration) -> Estimate
    format_table / format_json / format_markdown (Estimate) -> str
"""

from .estimator import Estimate, LayerEstimate, estimate
from .mapping import Mapping, map_layers
from .memory import LayerMemory, layer_memory
from .profile import CONFIDENCES, Core, LayerConstraints, Profile, Quantity, list_profiles, load_profile
from .report import format_json, format_markdown, format_table
from .rules import RULES, Rule, Violation, check
from .schema import profile_from_dict

__all__ = [
    "CONFIDENCES", "Core", "Estimate", "LayerConstraints", "LayerEstimate", "LayerMemory", "Mapping", "Profile",
    "Quantity", "RULES", "Rule", "Violation", "check", "estimate", "format_json", "format_markdown",
    "format_table", "layer_memory", "list_profiles", "load_profile", "map_layers", "profile_from_dict",
]
