"""One pass over a GraphModel that validation, inference and the engine share.

Contract:

* :func:`prepare(model) <prepare>` reads the model once and returns a :class:`Plan`: for every
  node its block declaration, parsed attrs, parsed literal (or default) values of its
  unwired inputs, its valid incoming wires, and every problem found (the checks listed in
  :mod:`graph.validate`), plus an execution order. The plan never refers back to the model,
  so a run is not disturbed by edits made after it started.
* The order is topological with ties broken by insertion order (as
  :meth:`GraphModel.topological_order`). Nodes on a cycle, and nodes downstream of one,
  come last; nodes on a cycle carry a "cycle: a -> b -> a" problem each.
* Parsing is memoized: attrs by (block declaration, text), literals by (text, kind, dtype),
  so re-running an unchanged graph re-parses nothing. Parsed arrays are made read-only
  because one parsed value is shared by every node and every run that types the same text.
* :func:`int_list_from_tensor` turns a wired 1-D integer tensor into ``tuple[int, ...]``
  for INT_LIST ports.
"""

from __future__ import annotations

import copy
import difflib
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from blocks.attrs import parse_attrs
from blocks.errors import GraphError, InvalidArgumentError, LiteralError, TensorBlocksError
from blocks.library import BlockRegistry
from blocks.literals import parse_literal
from blocks.spec import (
    AttrValue,
    BlockSpec,
    InputPort,
    PortCounts,
    PortKind,
    PortValue,
    node_inputs,
    port_count,
)
from graph.model import GraphModel, PortRef, Wire

# A bounded memo: an editing session types many texts; clearing now and then keeps it small.
_MEMO_LIMIT = 8192


@dataclass(eq=False)
class PortTable:
    """Per-block lookup tables computed once (hashed by identity)."""

    spec: BlockSpec
    inputs: dict[str, InputPort]
    outputs: tuple[str, ...]
    output_set: frozenset[str]
    #: The block's DTYPE input, which gives untyped tensor literals their dtype (Input).
    dtype_port: str | None
    #: Inputs in declared order, DTYPE ports first so tensor literals can use their value.
    parse_order: tuple[InputPort, ...]
    port_list: str
    #: attrs text -> (parsed attrs, canonical key) or the error it raised.
    attrs_memo: dict[str, tuple[dict[str, AttrValue], str] | TensorBlocksError] = field(
        default_factory=dict
    )


_TABLES: dict[int | tuple[int, int | None], PortTable] = {}


def port_table(spec: BlockSpec, port_counts: PortCounts | None = None) -> PortTable:
    """The lookup tables of a node of ``spec`` with ``port_counts`` (its variadic group's
    number of ports; computed on first use)."""
    # Most blocks have no variadic group: their key is the spec's id alone (this runs for
    # every node of every pass).
    key = id(spec) if spec.variadic is None else (id(spec), port_count(spec, port_counts))
    table = _TABLES.get(key)
    if table is None or table.spec is not spec:
        inputs = node_inputs(spec, port_counts)
        dtype_port = next((p.name for p in inputs if p.kind is PortKind.DTYPE), None)
        order = tuple(p for p in inputs if p.kind is PortKind.DTYPE) + tuple(
            p for p in inputs if p.kind is not PortKind.DTYPE
        )
        outputs = tuple(p.name for p in spec.outputs)
        table = PortTable(
            spec=spec,
            inputs={p.name: p for p in inputs},
            outputs=outputs,
            output_set=frozenset(outputs),
            dtype_port=dtype_port,
            parse_order=order,
            port_list=", ".join(p.name for p in inputs) or "none",
        )
        _TABLES[key] = table
    return table


def _fresh(error: TensorBlocksError) -> TensorBlocksError:
    """A copy of a memoized error, so each node's copy gets its own place fields."""
    return copy.copy(error)


def parse_attrs_cached(table: PortTable, text: str) -> tuple[dict[str, AttrValue], str]:
    """``parse_attrs(text, spec)`` memoized, with a canonical key of the values.

    The returned dict is shared between callers: read it, never change it.
    """
    hit = table.attrs_memo.get(text)
    if hit is None:
        try:
            if not table.spec.attrs and not text.strip():
                values: dict[str, AttrValue] = {}
            else:
                values = parse_attrs(text, table.spec)
            hit = (values, repr(tuple(values.get(a.name) for a in table.spec.attrs)))
        except TensorBlocksError as error:
            hit = error
        if len(table.attrs_memo) > _MEMO_LIMIT:
            table.attrs_memo.clear()
        table.attrs_memo[text] = hit
    if isinstance(hit, TensorBlocksError):
        raise _fresh(hit)
    return hit


_LITERAL_MEMO: dict[tuple[str, str, Any], PortValue | TensorBlocksError] = {}


def parse_literal_cached(text: str, kind: PortKind, dtype: str | np.dtype[Any] | None) -> PortValue:
    """``parse_literal(text, kind, dtype)`` memoized; arrays come back read-only."""
    # kind._value_ (a str) rather than kind: an Enum member hashes in Python, a str in C.
    key = (text, kind._value_, dtype)
    try:
        hit = _LITERAL_MEMO[key]
    except KeyError:
        try:
            hit = parse_literal(text, kind, dtype)
            if isinstance(hit, np.ndarray):
                hit.flags.writeable = False
        except TensorBlocksError as error:
            hit = error
        except (TypeError, ValueError, OverflowError) as error:  # a parser bug: still no crash
            hit = LiteralError(f"cannot read '{text}' as {kind.value}: {error}")
        if len(_LITERAL_MEMO) > _MEMO_LIMIT:
            _LITERAL_MEMO.clear()
        _LITERAL_MEMO[key] = hit
    if isinstance(hit, TensorBlocksError):
        raise _fresh(hit)
    return hit


def check_literal(port: InputPort, text: str, node_dtype: Any = None) -> PortValue:
    """The value of literal ``text`` typed into ``port``: the one rule for literals.

    Parses ``text`` as the port's kind (a TENSOR port without a dtype of its own takes
    ``node_dtype``, the value of its block's DTYPE input) and, for a port with choices,
    checks the parsed value is one of them. Raises the LiteralError naming the problem;
    validation, the inspector and the canvas all judge literals through this function.
    """
    dtype: str | np.dtype[Any] | None = port.dtype
    if dtype is None and port.kind is PortKind.TENSOR and isinstance(node_dtype, np.dtype):
        dtype = node_dtype
    value = parse_literal_cached(text, port.kind, dtype)
    if port.choices and value not in port.choices:
        raise LiteralError(f"expected one of {', '.join(port.choices)}, got '{value}'")
    return value


def literal_problem(port: InputPort, text: str, node_dtype: Any = None) -> str | None:
    """Why ``text`` is not a valid literal for ``port`` (:func:`check_literal`), or ``None``."""
    try:
        check_literal(port, text, node_dtype)
    except TensorBlocksError as error:
        return error.reason
    return None


def literal_dtype(spec: BlockSpec, literals: Mapping[str, str]) -> np.dtype[Any] | None:
    """The dtype untyped tensor literals of a node take: its DTYPE input's value (or default).

    ``None`` when the block has no DTYPE input or its value does not parse.
    """
    port = port_table(spec).dtype_port
    if port is None:
        return None
    declared = port_table(spec).inputs[port]
    text = literals.get(port) or declared.default
    if not text:
        return None
    try:
        value = check_literal(declared, text)
    except TensorBlocksError:
        return None
    return value if isinstance(value, np.dtype) else None


def int_list_from_tensor(value: Any) -> tuple[int, ...]:
    """A wired tensor for an INT_LIST port: a 1-D integer array -> ``tuple[int, ...]``."""
    if isinstance(value, tuple):
        return value
    array = np.asarray(value)
    check_int_list_tensor(tuple(array.shape), array.dtype)
    return tuple(array.tolist())


def check_int_list_tensor(
    shape: tuple[int | None, ...] | None, dtype: np.dtype[Any] | None
) -> None:
    """Refuse a tensor for an INT_LIST port unless it is 1-D of integers (unknowns pass).

    The one rule for the engine (with the value) and inference (shape and dtype only).
    """
    rank_bad = shape is not None and len(shape) != 1
    dtype_bad = dtype is not None and dtype.kind not in "iu"
    if rank_bad or dtype_bad:
        dims = "?" if shape is None else ",".join("?" if d is None else str(d) for d in shape)
        raise InvalidArgumentError(
            f"an int list port takes a 1-D integer tensor, got shape [{dims}] "
            f"{'?' if dtype is None else dtype.name}"
        )


@dataclass
class NodePlan:
    """What one node needs to run, read from the model once."""

    id: str
    block: str
    table: PortTable | None
    attrs: dict[str, AttrValue]
    attrs_key: str
    #: Parsed literal (or default) values of unwired inputs that have one.
    literals: dict[str, PortValue]
    #: The literal texts behind ``literals``, in declared order, for the cache signature.
    literal_key: str
    #: Valid incoming wires: input port -> source output.
    wires: dict[str, PortRef]
    #: Every upstream node id (by any wire, valid or not), in wire order.
    sources: list[str]
    problems: list[TensorBlocksError]


@dataclass
class Plan:
    """The prepared graph: nodes in execution order and every problem."""

    nodes: dict[str, NodePlan]
    order: list[str]
    problems: list[TensorBlocksError]
    #: Nodes that lie on a cycle.
    cyclic: set[str]


#: node id -> {input port: value fed instead of its literal (``None``: the literal is dropped)}.
Feeds = Mapping[str, Mapping[str, Any]]


def prepare(
    model: GraphModel, *, base_dir: Path | None = None, feeds: Feeds | None = None
) -> Plan:
    """Read ``model`` once: parse, check and order everything (see the module docstring).

    ``feeds`` replaces literals with values given by the caller (a batch run feeds each
    chunk's items this way): a fed port counts as set and its value is used as parsed;
    a port fed ``None`` counts as unset, so the block's own input check sees the node as
    it will run. The fed values are whatever the caller passes (arrays for the engine,
    TensorInfo for inference); the literal key of a fed port records ``<fed>``.
    """
    del base_dir  # files are looked at by inference and the engine, not here
    registry = _SpecLookup(model.registry)
    model_nodes = model.nodes()
    wires = model.wires()
    incoming: dict[str, list[Wire]] = {}
    for wire in wires:
        incoming.setdefault(wire.dst.node, []).append(wire)
    blocks = {node.id: node.block for node in model_nodes}

    plans: dict[str, NodePlan] = {}
    for node in model_nodes:
        plans[node.id] = _prepare_node(node.id, node.block, node.attrs, node.literals,
                                       incoming.get(node.id, ()), registry, blocks,
                                       None if feeds is None else feeds.get(node.id),
                                       node.port_counts)

    order, cyclic = _order(plans)
    if cyclic:
        _report_cycles(plans, cyclic)
    problems = [problem for node_id in plans for problem in plans[node_id].problems]
    return Plan(plans, order, problems, cyclic)


class _SpecLookup:
    """``registry.get`` memoized for one pass (a registry lookup goes through Mapping.get)."""

    def __init__(self, registry: BlockRegistry) -> None:
        self.registry = registry
        self.specs: dict[str, BlockSpec | None] = {}

    def get(self, name: str) -> BlockSpec | None:
        try:
            return self.specs[name]
        except KeyError:
            spec = self.specs[name] = self.registry.get(name)
            return spec

    def known(self, name: str = "") -> str:
        """The known block names, and the one ``name`` was probably meant to be."""
        names = list(self.registry)
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6) or [
            known for known in names if known.lower() == name.lower()
        ]
        hint = f"; did you mean '{close[0]}'?" if name and close else ""
        return ", ".join(names) + ")" + hint


def _prepare_node(
    node_id: str,
    block: str,
    attrs_text: str,
    literal_texts: Mapping[str, str],
    wires_in: Iterable[Wire],
    registry: _SpecLookup,
    blocks: Mapping[str, str],
    fed: Mapping[str, Any] | None = None,
    port_counts: PortCounts | None = None,
) -> NodePlan:
    problems: list[TensorBlocksError] = []
    sources = [wire.src.node for wire in wires_in]
    spec = registry.get(block)
    if spec is None:
        known = registry.known(block)
        problems.append(
            GraphError(f"unknown block '{block}' (known blocks: {known}", node=node_id, block=block)
        )
        return NodePlan(node_id, block, None, {}, "", {}, "", {}, sources, problems)
    table = port_table(spec, port_counts)

    wired: dict[str, PortRef] = {}
    for wire in wires_in:
        problem = _wire_problem(wire, table, wired, registry, blocks)
        if problem is not None:
            problems.append(problem.at(node=node_id, block=block, port=wire.dst.port))
        else:
            wired[wire.dst.port] = wire.src

    try:
        attrs, attrs_key = parse_attrs_cached(table, attrs_text)
    except TensorBlocksError as error:
        problems.append(error.at(node=node_id, block=block))
        attrs, attrs_key = {}, ""

    for name in literal_texts:
        if name not in table.inputs:
            problems.append(
                GraphError(
                    f"unknown port '{name}' of {block} (its inputs: {table.port_list})",
                    node=node_id, block=block, port=name,
                )
            )

    literals: dict[str, PortValue] = {}
    # The number of ports is part of what the node computes (the cache signature).
    key_parts: list[str] = [] if spec.variadic is None else [f"#{len(table.inputs)}"]
    is_set: dict[str, bool] = {}
    for port in table.parse_order:
        name = port.name
        text = literal_texts.get(name)
        if fed is not None and name in fed and name not in wired:
            value = fed[name]
            is_set[name] = value is not None
            if value is not None:
                literals[name] = value
                key_parts.append(f"{name}=<fed>")
                continue
            text = None
        is_set[name] = name in wired or text is not None
        if name in wired:
            continue
        if text is None:
            text = port.default
            if text is None:
                if port.required:
                    problems.append(
                        GraphError(
                            f"input '{name}' is required: connect a wire or type a value",
                            node=node_id, block=block, port=name,
                        )
                    )
                continue
        node_dtype = None if table.dtype_port is None else literals.get(table.dtype_port)
        try:
            value = check_literal(port, text, node_dtype)
        except TensorBlocksError as error:
            problems.append(error.at(node=node_id, block=block, port=name))
            continue
        literals[name] = value
        key_parts.append(f"{name}={text}")

    if spec.check_inputs is not None:
        try:
            for port_name, reason in spec.check_inputs(is_set):
                problems.append(GraphError(reason, node=node_id, block=block, port=port_name))
        except TensorBlocksError as error:
            problems.append(error.at(node=node_id, block=block))
        except Exception as error:  # a bug in a declaration must not stop validation
            problems.append(
                TensorBlocksError(
                    f"internal error in {block} input check: {type(error).__name__}: {error}",
                    node=node_id, block=block,
                )
            )

    return NodePlan(
        node_id, block, table, attrs, attrs_key, literals, "\x1f".join(key_parts), wired,
        sources, problems,
    )


def _wire_problem(
    wire: Wire,
    table: PortTable,
    wired: Mapping[str, PortRef],
    registry: _SpecLookup,
    blocks: Mapping[str, str],
) -> TensorBlocksError | None:
    src_block = blocks.get(wire.src.node)
    if src_block is None:
        return GraphError(f"wire {wire}: no node '{wire.src.node}'")
    src_spec = registry.get(src_block)
    if src_spec is not None and wire.src.port not in port_table(src_spec).output_set:
        outputs = ", ".join(port_table(src_spec).outputs) or "none"
        return GraphError(
            f"wire {wire}: '{wire.src}' is not an output of {src_block} (its outputs: {outputs})"
        )
    port = table.inputs.get(wire.dst.port)
    if port is None:
        return GraphError(
            f"wire {wire}: unknown port '{wire.dst.port}' of {table.spec.name} "
            f"(its inputs: {table.port_list})"
        )
    if not port.kind.wirable:
        return GraphError(
            f"wire {wire}: '{wire.dst.port}' is a {port.kind.value} port: "
            "it takes a typed value, not a wire"
        )
    if wire.dst.port in wired:
        return GraphError(
            f"wire {wire}: input '{wire.dst}' has a wire already from '{wired[wire.dst.port]}'; "
            "an input takes at most one wire"
        )
    return None


def _order(plans: Mapping[str, NodePlan]) -> tuple[list[str], set[str]]:
    """Topological order (insertion-order ties); nodes left over by a cycle come last."""
    index = {node_id: i for i, node_id in enumerate(plans)}
    ids = list(plans)
    indegree = dict.fromkeys(ids, 0)
    children: dict[str, list[str]] = {}
    for node_id, plan in plans.items():
        for src in plan.sources:
            if src in index:
                indegree[node_id] += 1
                children.setdefault(src, []).append(node_id)
    ready = [index[n] for n in ids if indegree[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node_id = ids[heapq.heappop(ready)]
        order.append(node_id)
        for child in children.get(node_id, ()):
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, index[child])
    if len(order) == len(ids):
        return order, set()

    left = [n for n in ids if indegree[n] > 0]
    graph = nx.DiGraph()
    graph.add_nodes_from(left)
    graph.add_edges_from(
        (src, n) for n in left for src in plans[n].sources if src in graph
    )
    cyclic: set[str] = set()
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1 or any(graph.has_edge(n, n) for n in component):
            cyclic |= component
    # Cycle members first (they fail), then what hangs below them, in dependency order.
    rest = [n for n in left if n not in cyclic]
    rest_graph = graph.subgraph(rest)
    rest_order = list(nx.lexicographical_topological_sort(rest_graph, key=index.__getitem__))
    return order + [n for n in left if n in cyclic] + rest_order, cyclic


#: The most node ids a cycle message spells out; longer cycles are shortened.
_CYCLE_SHOWN = 8


def _report_cycles(plans: Mapping[str, NodePlan], cyclic: set[str]) -> None:
    """Give every node on a cycle one problem naming a cycle of its component.

    Linear in the graph: one cycle is found per strongly connected component (a
    breadth-first search from its first node back to that node), and every node of the
    component shares its message — a ring of 10,000 nodes is one search, not one path
    per node.
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(cyclic)
    graph.add_edges_from(
        (src, n) for n in cyclic for src in plans[n].sources if src in cyclic
    )
    position = {node_id: i for i, node_id in enumerate(plans)}
    for component in nx.strongly_connected_components(graph):
        start = min(component, key=position.__getitem__)
        path = _cycle_through(graph, start)
        index = {node_id: i for i, node_id in enumerate(path)}
        for node_id in sorted(component, key=position.__getitem__):
            # Told from the node itself when it is on the cycle found (a few ids each).
            first = index.get(node_id, 0)
            text = _cycle_text(path, first)
            if node_id not in index:
                text += f" (node '{node_id}' is on another loop of these nodes)"
            plans[node_id].problems.append(
                GraphError(text, node=node_id, block=plans[node_id].block)
            )


def _cycle_text(path: list[str], first: int) -> str:
    """``cycle: a -> b -> a`` for ``path`` started at ``path[first]``, shortened if long."""
    count = len(path)
    shown = [path[(first + k) % count] for k in range(min(count, _CYCLE_SHOWN))]
    if count > _CYCLE_SHOWN:
        return "cycle: " + " -> ".join([*shown[:-1], "..."]) + f" -> {shown[0]} ({count} nodes)"
    return "cycle: " + " -> ".join([*shown, shown[0]])


def _cycle_through(graph: nx.DiGraph, start: str) -> list[str]:
    """A shortest cycle through ``start`` (its nodes from ``start``), found by one BFS."""
    if graph.has_edge(start, start):
        return [start]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node_id in frontier:
            for successor in graph.successors(node_id):
                if successor == start:
                    path = [node_id]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return path[::-1]
                if successor not in parent:
                    parent[successor] = node_id
                    following.append(successor)
        frontier = following
    return [start]  # pragma: no cover - a strongly connected component has a cycle
