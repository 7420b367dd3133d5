"""Layer → core assignment as bipartite matching by max-flow (Edmonds–Karp).

The flow graph is source → layers → cores → sink with unit capacities. Nodes and edges are built
and searched in the same order as sinabs' ``get_valid_mapping`` (layers in network order, cores in
index order, breadth-first augmenting paths), so a sequential network lands on the same cores as
sinabs puts it. When no complete matching exists the failure is explained: layers that fit no core,
and a Hall-violating set (k layers whose candidate cores number fewer than k).

Graphs map the same way: any core may send to any other, so placement depends on memory alone, as in sinabs 3.1.3
(``layer2core_map`` from ``get_valid_mapping``, ``sinabs/backend/dynapcnn/mapping.py:44-73``; destinations play no
part). How many cores a core sends to is design rule SPK015, and the estimate lists each layer's destinations with
the cores they landed on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..ir import Network
from .memory import LayerMemory, layer_memory
from .profile import Architecture, Profile


class _FlowGraph:
    """Residual graph stored as edge arrays; edge ``e ^ 1`` is the reverse of edge ``e``."""

    def __init__(self, n_nodes: int) -> None:
        self.adj: list[list[int]] = [[] for _ in range(n_nodes)]
        self.head: list[int] = []
        self.cap: list[int] = []
        self.flow: list[int] = []

    def add_edge(self, u: int, v: int, cap: int) -> None:
        for a, b, c in ((u, v, cap), (v, u, 0)):
            self.adj[a].append(len(self.head))
            self.head.append(b)
            self.cap.append(c)
            self.flow.append(0)

    def max_flow(self, source: int, sink: int) -> int:
        """Edmonds–Karp: augment along shortest (breadth-first) paths until none is left."""
        total = 0
        while True:
            pred: list[int | None] = [None] * len(self.adj)
            queue = deque([source])
            while queue and pred[sink] is None:
                u = queue.popleft()
                for e in self.adj[u]:
                    v = self.head[e]
                    if pred[v] is None and v != source and self.cap[e] > self.flow[e]:
                        pred[v] = e
                        queue.append(v)
            if pred[sink] is None:
                return total
            path: list[int] = []
            v = sink
            while v != source:
                edge = pred[v]
                assert edge is not None  # every node on the path was reached through an edge
                path.append(edge)
                v = self.head[edge ^ 1]
            delta = min(self.cap[e] - self.flow[e] for e in path)
            for e in path:
                self.flow[e] += delta
                self.flow[e ^ 1] -= delta
            total += delta


def match(candidates: Sequence[Sequence[int]], n_cores: int) -> list[int | None]:
    """Maximum matching of items to cores; ``candidates[i]`` lists the cores item i may use."""
    n = len(candidates)
    source, sink = 0, n + n_cores + 1
    g = _FlowGraph(n + n_cores + 2)
    for i in range(n):
        g.add_edge(source, i + 1, 1)
    for i, cores in enumerate(candidates):
        for c in cores:
            g.add_edge(i + 1, n + 1 + c, 1)
    for c in range(n_cores):
        g.add_edge(n + 1 + c, sink, 1)
    g.max_flow(source, sink)
    result: list[int | None] = [None] * n
    for i in range(n):
        for e in g.adj[i + 1]:
            if e % 2 == 0 and g.flow[e] == 1:  # a forward layer → core edge carrying flow
                result[i] = g.head[e] - n - 1
    return result


def hall_violator(candidates: Sequence[Sequence[int]], matched: Sequence[int | None]) -> tuple[list[int], list[int]]:
    """Items reachable by alternating paths from unmatched items that have candidates, and their cores.

    For a maximum matching this set S has |N(S)| < |S| (Hall's condition fails); empty if every
    unmatched item simply has no candidate core.
    """
    owner = {c: i for i, c in enumerate(matched) if c is not None}
    roots = [i for i, c in enumerate(matched) if c is None and candidates[i]]
    items, cores, queue = set(roots), set(), deque(roots)
    while queue:
        i = queue.popleft()
        for c in candidates[i]:
            if c in cores:
                continue
            cores.add(c)
            j = owner.get(c)
            if j is not None and j not in items:
                items.add(j)
                queue.append(j)
    return sorted(items), sorted(cores)


@dataclass(frozen=True)
class Mapping:
    """Result of :func:`map_layers`; ``assignment`` is None when no valid mapping exists."""

    assignment: dict[str, int] | None
    candidates: dict[str, tuple[int, ...]]
    memory: dict[str, LayerMemory] = field(default_factory=dict)
    unplaceable: tuple[str, ...] = ()
    conflict_layers: tuple[str, ...] = ()
    conflict_cores: tuple[int, ...] = ()
    explanation: str = ""

    @property
    def ok(self) -> bool:
        return self.assignment is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "assignment": None if self.assignment is None else dict(self.assignment),
            "candidates": {k: list(v) for k, v in self.candidates.items()},
            "unplaceable": list(self.unplaceable),
            "conflict_layers": list(self.conflict_layers),
            "conflict_cores": list(self.conflict_cores),
            "explanation": self.explanation,
        }


def _names(items: Sequence[str | int]) -> str:
    return ", ".join(str(x) for x in items)


def _unplaceable_reason(mem: LayerMemory, profile: Profile) -> str:
    over = []
    if mem.kernel > profile.max_kernel_memory:
        over.append(f"{mem.kernel} kernel words (largest core: {profile.max_kernel_memory})")
    if mem.neuron > profile.max_neuron_memory:
        over.append(f"{mem.neuron} neuron words (largest core: {profile.max_neuron_memory})")
    if mem.bias > profile.max_bias_memory:
        over.append(f"{mem.bias} bias words (largest core: {profile.max_bias_memory})")
    if over:
        return "needs " + " and ".join(over)
    return (
        f"needs {mem.kernel} kernel, {mem.neuron} neuron and {mem.bias} bias words, "
        "and no single core has room for all of them"
    )


def map_layers(net: Network, profile: Profile) -> Mapping:
    """Assign each layer of ``network`` to its own core of ``profile`` (memory fit only)."""
    if not profile.has_layer_cores:
        raise InputError(
            f"{profile.name} is a {profile.architecture} chip: it has no per-layer cores to map onto",
            fix=f"use `qsnn-deploy estimate --target {profile.name}` to compare it; convert and deploy "
            f"need a {Architecture.LAYER_PER_CORE} target such as speck2f",
        )
    names = [layer.name for layer in net.layers]
    memory = {layer.name: layer_memory(layer) for layer in net.layers}
    candidates = {n: tuple(c.index for c in profile.cores if c.fits(memory[n])) for n in names}
    matched = match([candidates[n] for n in names], len(profile.cores))
    if all(c is not None for c in matched):
        return Mapping({n: c for n, c in zip(names, matched) if c is not None}, candidates, memory)
    unplaceable = tuple(n for n in names if not candidates[n])
    items, cores = hall_violator([candidates[n] for n in names], matched)
    conflict = tuple(names[i] for i in items)
    parts = ["No valid layer-to-core mapping."]
    for n in unplaceable:
        parts.append(f"Layer {n} fits no core: it {_unplaceable_reason(memory[n], profile)}.")
    if len(names) > len(profile.cores):
        parts.append(
            f"The network has {len(names)} layers but {profile.name} has {len(profile.cores)} cores "
            "(one layer per core)."
        )
    elif conflict:
        needs = "; ".join(f"{n}: {memory[n].kernel} kernel / {memory[n].neuron} neuron words" for n in conflict)
        core_word = "core" if len(cores) == 1 else "cores"
        parts.append(
            f"Layers {_names(conflict)} can only use {core_word} {_names(cores)}: "
            f"{len(conflict)} layers compete for {len(cores)} {core_word} ({needs})."
        )
    return Mapping(None, candidates, memory, unplaceable, conflict, tuple(cores), " ".join(parts))
