"""The graph model: block instances and wires on networkx, with change notifications.

Contract:

* A node has an id (``[A-Za-z_][A-Za-z0-9_-]*``, unique), a block name, an attrs string,
  literal strings for its input ports and a canvas position. The block name, attrs and
  literals are stored as given — validity is judged by :mod:`graph.validate`, so a file
  with problems can still be loaded, shown and fixed.
* A wire connects ``node.port`` (an output) to ``node.port`` (an input). An input takes at
  most one wire; an output feeds any number. A wire takes precedence over the input's
  literal, which is kept.
* A node of a block with a variadic input group (``BlockSpec.variadic``, e.g. ConcatV2's
  ``values``) stores its number of ports in ``port_counts`` (``{"values": 3}``; set to the
  group's default when the node is added). Its inputs are
  :meth:`GraphModel.inputs_of` (:func:`blocks.spec.node_inputs`). :meth:`GraphModel.set_port_count`
  changes the count; lowering it first removes the wires into and the literals of the
  ports that go (each announced), and returns them so an undo can put them back.
* Every change goes through a method of :class:`GraphModel` and is announced to the
  listeners as one :class:`GraphEvent` after it is made. The editor mirrors the model
  through these events and never reaches inside it.
* ``revision`` counts changes (autosave compares it).

Storage: a ``networkx.MultiDiGraph`` whose nodes carry a :class:`Node` under ``"node"``
and whose edges are keyed by the destination port, so two wires between the same pair
of nodes (to different ports) are two edges.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from blocks.errors import GraphError
from blocks.library import REGISTRY, BlockRegistry
from blocks.spec import (
    BlockSpec,
    InputPort,
    PortCounts,
    node_input,
    node_inputs,
    port_count,
    port_count_problem,
)

NODE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


@dataclass(frozen=True, order=True)
class PortRef:
    """A port address, ``node.port``."""

    node: str
    port: str

    @classmethod
    def parse(cls, text: str) -> PortRef:
        """``"crop.size"`` -> ``PortRef("crop", "size")``; the port is after the last dot."""
        node, dot, port = text.rpartition(".")
        if not dot or not node or not port:
            raise GraphError(f"a port address is written node.port, got '{text}'")
        return cls(node, port)

    def __str__(self) -> str:
        return f"{self.node}.{self.port}"


@dataclass(frozen=True, order=True)
class Wire:
    """A wire from an output port to an input port."""

    src: PortRef
    dst: PortRef

    def __str__(self) -> str:
        return f"{self.src} -> {self.dst}"


@dataclass(frozen=True)
class Node:
    """A block instance. Immutable: the model replaces it on every change."""

    id: str
    block: str
    attrs: str = ""
    literals: Mapping[str, str] = field(default_factory=dict)
    pos: tuple[float, float] = (0.0, 0.0)
    #: The number of ports of each variadic input group (``{"values": 3}``); empty for a
    #: block without one.
    port_counts: Mapping[str, int] = field(default_factory=dict)


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True)
class GraphEvent:
    """Base of all change notifications."""


@dataclass(frozen=True)
class NodeAdded(GraphEvent):
    node: Node


@dataclass(frozen=True)
class NodeRemoved(GraphEvent):
    node: Node  # the node as it was; its wires were removed first (WireRemoved events)


@dataclass(frozen=True)
class NodeRenamed(GraphEvent):
    old_id: str
    new_id: str


@dataclass(frozen=True)
class WireAdded(GraphEvent):
    wire: Wire


@dataclass(frozen=True)
class WireRemoved(GraphEvent):
    wire: Wire


@dataclass(frozen=True)
class LiteralChanged(GraphEvent):
    node: str
    port: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class AttrsChanged(GraphEvent):
    node: str
    old: str
    new: str


@dataclass(frozen=True)
class NodeMoved(GraphEvent):
    node: str
    old: tuple[float, float]
    new: tuple[float, float]


@dataclass(frozen=True)
class PortCountChanged(GraphEvent):
    """A variadic group's number of ports changed (wires and literals on ports that went
    were removed first, each announced)."""

    node: str
    group: str
    old: int
    new: int


@dataclass(frozen=True)
class PortCountDrop:
    """What lowering a port count removed: the wires and literals of the ports that went."""

    wires: tuple[Wire, ...] = ()
    literals: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GraphReset(GraphEvent):
    """The whole graph was replaced (load, new); listeners rebuild from scratch."""


Listener = Callable[[GraphEvent], None]


class GraphModel:
    """A graph of block instances; see the module docstring for the contract."""

    def __init__(self, registry: BlockRegistry = REGISTRY) -> None:
        self.registry = registry
        self._g: nx.MultiDiGraph = nx.MultiDiGraph()
        self._listeners: list[Listener] = []
        self.revision = 0
        #: Unknown top-level keys of the graph file (e.g. "ui"), kept for the round trip.
        self.extra: dict[str, Any] = {}

    # ------------------------------------------------------------------ listeners

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, event: GraphEvent) -> None:
        self.revision += 1
        for listener in list(self._listeners):
            listener(event)

    # ------------------------------------------------------------------ queries

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._g

    def __len__(self) -> int:
        return int(self._g.number_of_nodes())

    def node(self, node_id: str) -> Node:
        """The node called ``node_id``; GraphError if there is none."""
        try:
            node: Node = self._g.nodes[node_id]["node"]
        except KeyError:
            raise GraphError(f"no node '{node_id}'", node=node_id) from None
        return node

    def nodes(self) -> list[Node]:
        """All nodes, in insertion order."""
        return [data["node"] for _, data in self._g.nodes(data=True)]

    def node_ids(self) -> list[str]:
        """All node ids, in insertion order."""
        return list(self._g.nodes)

    def wires(self) -> list[Wire]:
        """All wires, in insertion order."""
        return [data["wire"] for _, _, data in self._g.edges(data=True)]

    def wire_into(self, dst: PortRef) -> Wire | None:
        """The wire feeding input ``dst``, if any."""
        if dst.node not in self._g:
            return None
        for _, _, key, data in self._g.in_edges(dst.node, keys=True, data=True):
            if key == dst.port:
                wire: Wire = data["wire"]
                return wire
        return None

    def wires_into(self, node_id: str) -> list[Wire]:
        """The wires feeding ``node_id``."""
        return [data["wire"] for _, _, data in self._g.in_edges(node_id, data=True)]

    def wires_from(self, node_id: str) -> list[Wire]:
        """The wires leaving ``node_id``."""
        return [data["wire"] for _, _, data in self._g.out_edges(node_id, data=True)]

    def wires_of(self, node_id: str) -> list[Wire]:
        """Every wire touching ``node_id``."""
        return self.wires_into(node_id) + self.wires_from(node_id)

    def upstream(self, node_id: str) -> set[str]:
        """Every node ``node_id`` depends on (transitively)."""
        return set(nx.ancestors(self._g, node_id))

    def downstream(self, node_id: str) -> set[str]:
        """Every node that depends on ``node_id`` (transitively)."""
        return set(nx.descendants(self._g, node_id))

    def find_cycle(self) -> list[str] | None:
        """The node ids of one cycle, or ``None``."""
        try:
            edges = nx.find_cycle(self._g)
        except nx.NetworkXNoCycle:
            return None
        return [str(edge[0]) for edge in edges]

    def topological_order(self) -> list[str]:
        """Node ids so that every node comes after the nodes it depends on (GraphError on a cycle).

        Ties are broken by insertion order, so the order is stable across runs.
        """
        index = {node_id: i for i, node_id in enumerate(self._g.nodes)}
        try:
            return list(nx.lexicographical_topological_sort(self._g, key=index.__getitem__))
        except nx.NetworkXUnfeasible:
            cycle = self.find_cycle() or []
            raise GraphError("the graph has a cycle: " + " -> ".join(cycle + cycle[:1])) from None

    def generations(self) -> list[list[str]]:
        """Topological generations (for auto-layout); GraphError on a cycle."""
        try:
            return [list(gen) for gen in nx.topological_generations(self._g)]
        except nx.NetworkXUnfeasible:
            raise GraphError("the graph has a cycle") from None

    def unique_id(self, base: str) -> str:
        """An unused node id derived from ``base`` (``glimpse``, ``glimpse_2``, ...)."""
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", base) or "node"
        if not re.match(r"[A-Za-z_]", stem):
            stem = "n_" + stem
        if stem not in self._g:
            return stem
        i = 2
        while f"{stem}_{i}" in self._g:
            i += 1
        return f"{stem}_{i}"

    def inputs_of(self, node_id: str) -> tuple[InputPort, ...] | None:
        """The input ports of ``node_id`` (its variadic group spelled out), or ``None`` for
        a block the registry does not know."""
        node = self.node(node_id)
        spec = self.registry.get(node.block)
        return None if spec is None else node_inputs(spec, node.port_counts)

    def input_of(self, node_id: str, port: str) -> InputPort | None:
        """The input ``port`` of ``node_id``, or ``None`` (no such input, or unknown block)."""
        node = self.node(node_id)
        spec = self.registry.get(node.block)
        return None if spec is None else node_input(spec, node.port_counts, port)

    def can_connect(self, src: PortRef, dst: PortRef) -> str | None:
        """Why ``src -> dst`` cannot be wired, or ``None`` if it can.

        Checks: both nodes exist, ``src`` is an output and ``dst`` an input of their blocks,
        ``dst`` accepts a wire (its kind is wirable), and the wire would not close a cycle.
        An occupied input is not a reason: connecting replaces the old wire.
        """
        for ref in (src, dst):
            if ref.node not in self._g:
                return f"no node '{ref.node}'"
        src_spec = self.registry.get(self.node(src.node).block)
        dst_spec = self.registry.get(self.node(dst.node).block)
        if src_spec is not None and src_spec.output(src.port) is None:
            return f"'{src}' is not an output of {src_spec.name}"
        if dst_spec is not None:
            port = node_input(dst_spec, self.node(dst.node).port_counts, dst.port)
            if port is None:
                return f"'{dst}' is not an input of {dst_spec.name}"
            if not port.kind.wirable:
                return f"'{dst}' is a {port.kind.value} port: it takes a typed value, not a wire"
        if src.node == dst.node:
            return f"a wire from '{src.node}' to itself would make a cycle"
        if src.node in self.downstream(dst.node):
            return f"a wire {src} -> {dst} would make a cycle"
        return None

    # ------------------------------------------------------------------ operations

    def add_node(
        self,
        block: str,
        node_id: str | None = None,
        *,
        attrs: str = "",
        literals: Mapping[str, str] | None = None,
        pos: tuple[float, float] = (0.0, 0.0),
        port_counts: PortCounts | None = None,
    ) -> str:
        """Add a block instance; returns its id (derived from the block name if not given).

        ``port_counts`` gives a variadic block its number of ports (default: the group's
        ``default_count``); a count the group does not allow is a GraphError. For a block
        the registry does not know, the counts are kept as given.
        """
        if node_id is None:
            node_id = self.unique_id(snake_case(block))
        if not NODE_ID.match(node_id):
            raise GraphError(
                f"node id '{node_id}' is not valid: it must match [A-Za-z_][A-Za-z0-9_-]*",
                node=node_id,
            )
        if node_id in self._g:
            raise GraphError(f"a node '{node_id}' exists already", node=node_id)
        counts = _checked_counts(self.registry.get(block), port_counts, node_id)
        node = Node(node_id, block, attrs, dict(literals or {}), (float(pos[0]), float(pos[1])),
                    counts)
        self._g.add_node(node_id, node=node)
        self._emit(NodeAdded(node))
        return node_id

    def remove_node(self, node_id: str) -> Node:
        """Remove a node and its wires (each announced first); returns the removed node."""
        node = self.node(node_id)
        for wire in self.wires_of(node_id):
            self.disconnect(wire.dst)
        self._g.remove_node(node_id)
        self._emit(NodeRemoved(node))
        return node

    def rename_node(self, old_id: str, new_id: str) -> None:
        """Give a node a new id; its wires follow."""
        node = self.node(old_id)
        if new_id == old_id:
            return
        if not NODE_ID.match(new_id):
            raise GraphError(
                f"node id '{new_id}' is not valid: it must match [A-Za-z_][A-Za-z0-9_-]*",
                node=old_id,
            )
        if new_id in self._g:
            raise GraphError(f"a node '{new_id}' exists already", node=old_id)
        wires = self.wires_of(old_id)
        # Rebuild in place, keeping insertion order of the other nodes stable enough.
        nx.relabel_nodes(self._g, {old_id: new_id}, copy=False)
        self._g.nodes[new_id]["node"] = replace(node, id=new_id)
        for wire in wires:
            new_wire = Wire(_rename(wire.src, old_id, new_id), _rename(wire.dst, old_id, new_id))
            self._g.edges[new_wire.src.node, new_wire.dst.node, new_wire.dst.port]["wire"] = (
                new_wire
            )
        self._emit(NodeRenamed(old_id, new_id))

    def connect(self, src: PortRef, dst: PortRef) -> Wire | None:
        """Wire ``src`` to ``dst``; returns the wire it replaced on ``dst``, if any.

        GraphError (with the reason of :meth:`can_connect`) if it cannot be wired.
        """
        reason = self.can_connect(src, dst)
        if reason is not None:
            raise GraphError(reason, node=dst.node, port=dst.port)
        old = self.wire_into(dst)
        if old is not None:
            if old.src == src:
                return None
            self.disconnect(dst)
        wire = Wire(src, dst)
        self._g.add_edge(src.node, dst.node, key=dst.port, wire=wire)
        self._emit(WireAdded(wire))
        return old

    def add_wire_unchecked(self, wire: Wire) -> None:
        """Add a wire as a file states it, without kind checks (validation reports problems).

        Still refuses what the storage cannot hold: a missing node or a second wire into
        one input.
        """
        for ref in (wire.src, wire.dst):
            if ref.node not in self._g:
                raise GraphError(f"wire {wire}: no node '{ref.node}'", node=ref.node, port=ref.port)
        if self.wire_into(wire.dst) is not None:
            raise GraphError(
                f"input '{wire.dst}' has a wire already: an input takes at most one wire",
                node=wire.dst.node,
                port=wire.dst.port,
            )
        self._g.add_edge(wire.src.node, wire.dst.node, key=wire.dst.port, wire=wire)
        self._emit(WireAdded(wire))

    def disconnect(self, dst: PortRef) -> Wire | None:
        """Remove the wire into ``dst``; returns it (``None`` if there was none)."""
        wire = self.wire_into(dst)
        if wire is None:
            return None
        self._g.remove_edge(wire.src.node, wire.dst.node, key=wire.dst.port)
        self._emit(WireRemoved(wire))
        return wire

    def set_literal(self, node_id: str, port: str, text: str | None) -> None:
        """Set (or with ``None`` clear) the literal typed into an input port."""
        node = self.node(node_id)
        old = node.literals.get(port)
        if old == text:
            return
        literals = dict(node.literals)
        if text is None:
            literals.pop(port, None)
        else:
            literals[port] = text
        self._g.nodes[node_id]["node"] = replace(node, literals=literals)
        self._emit(LiteralChanged(node_id, port, old, text))

    def set_port_count(self, node_id: str, group: str, count: int) -> PortCountDrop:
        """Give ``node_id``'s variadic ``group`` ``count`` ports; returns what went.

        Lowering the count first removes the wires into the ports that go (WireRemoved each)
        and their literals (LiteralChanged each); then one PortCountChanged. GraphError when
        the block has no such group or the group does not allow ``count``.
        """
        node = self.node(node_id)
        spec = self.registry.get(node.block)
        if spec is None:
            raise GraphError(f"unknown block '{node.block}': its ports cannot be changed",
                             node=node_id, block=node.block)
        problem = port_count_problem(spec, group, count)
        if problem is not None:
            raise GraphError(problem, node=node_id, block=node.block)
        variadic, old = spec.variadic, port_count(spec, node.port_counts)
        assert variadic is not None and old is not None
        if count == old:
            return PortCountDrop()
        going = [variadic.port_name(index) for index in range(count, old)]
        wires = tuple(w for w in (self.disconnect(PortRef(node_id, port)) for port in going)
                      if w is not None)
        literals = {port: node.literals[port] for port in going if port in node.literals}
        for port in literals:
            self.set_literal(node_id, port, None)
        node = self.node(node_id)
        self._g.nodes[node_id]["node"] = replace(
            node, port_counts={**node.port_counts, group: count}
        )
        self._emit(PortCountChanged(node_id, group, old, count))
        return PortCountDrop(wires, literals)

    def set_attrs(self, node_id: str, text: str) -> None:
        """Set the attrs string (stored as given; validation judges it)."""
        node = self.node(node_id)
        if node.attrs == text:
            return
        self._g.nodes[node_id]["node"] = replace(node, attrs=text)
        self._emit(AttrsChanged(node_id, node.attrs, text))

    def move(self, node_id: str, pos: tuple[float, float]) -> None:
        """Move a node on the canvas."""
        node = self.node(node_id)
        new = (float(pos[0]), float(pos[1]))
        if node.pos == new:
            return
        self._g.nodes[node_id]["node"] = replace(node, pos=new)
        self._emit(NodeMoved(node_id, node.pos, new))

    def clear(self) -> None:
        """Remove everything, announced as one GraphReset."""
        self._g = nx.MultiDiGraph()
        self.extra = {}
        self._emit(GraphReset())

    def replace_with(self, other: GraphModel) -> None:
        """Take over ``other``'s nodes, wires and extra keys, announced as one GraphReset."""
        self._g = other._g.copy()
        self.extra = dict(other.extra)
        self._emit(GraphReset())

    def copy(self) -> GraphModel:
        """An independent copy without listeners."""
        clone = GraphModel(self.registry)
        clone._g = self._g.copy()
        clone.extra = dict(self.extra)
        return clone


def _checked_counts(spec: BlockSpec | None, counts: PortCounts | None, node_id: str
                    ) -> dict[str, int]:
    """The port counts a new node of ``spec`` stores (see :meth:`GraphModel.add_node`)."""
    given = dict(counts or {})
    if spec is None:
        return given
    for name, count in given.items():
        problem = port_count_problem(spec, name, count)
        if problem is not None:
            raise GraphError(problem, node=node_id, block=spec.name)
    group = spec.variadic
    return {} if group is None else {group.name: given.get(group.name, group.default_count)}


def snake_case(name: str) -> str:
    """``ExtractGlimpseV2`` -> ``extract_glimpse_v2``: node ids and icon names from block names."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _rename(ref: PortRef, old: str, new: str) -> PortRef:
    return PortRef(new, ref.port) if ref.node == old else ref
