"""Graph files (SPEC section 5): JSON, UTF-8, ``"format": "tensorblocks.graph"``, version 2.

File extension convention: ``NAME.tbg.json`` (any name loads; the editor offers this one).

Contract:

* :func:`load_graph(path) <load_graph>` reads a file into a :class:`~graph.model.GraphModel`.
  It checks STRUCTURE and TYPES only — JSON syntax (with line and column), the top-level
  object, ``format``, ``version``, that ``nodes`` and ``edges`` are lists of well-formed
  objects, node ids (valid, unique), that ``block`` and ``attrs`` are strings, ``inputs``
  an object of strings, ``pos`` two finite numbers, ``ports`` (see below), edge ends
  ``node.port`` on existing nodes and at most one wire into an input. Every such problem is a
  :class:`~blocks.errors.GraphFileError` with ``file`` and ``location`` (``nodes[3].inputs.size``);
  all of them are collected and raised together as :class:`GraphLoadError` (a
  GraphFileError whose ``problems`` lists each one). Semantic problems — an unknown block,
  a bad attrs string, a bad literal, a wire into a port the block does not have — are NOT
  load errors: the model keeps them as written and :mod:`graph.validate` reports them, so
  such a file can be opened and fixed in the editor. Nothing is evaluated or unpickled.
* Version 2 added the node key ``"ports": {"values": 3}``: the number of ports of a
  variadic input group (ConcatV2's ``values_0 .. values_2``). It is written for the nodes
  of variadic blocks only, always; a variadic node without it has its group's default
  count. On load it must be an object of whole numbers; for a known block, it must name
  the block's group and a count the group allows (:meth:`blocks.spec.VariadicInput.count_problem`:
  ``min_count`` to ``max_count``), else the file is refused naming ``nodes[i].ports.values``;
  for an unknown block, each count must lie in 0 .. :data:`~blocks.spec.MAX_VARIADIC_COUNT`
  and is kept as written. Version 1 had no variadic blocks: its migration only bumps the
  version.
* Plugins (optional, any version): a file may hold a top-level ``"plugins"`` object, block
  name -> the plugin distribution that declares it (:mod:`blocks.plugins`);
  :func:`graph_to_dict` writes it for the plugin blocks the graph uses, and only then. On
  load, a node whose block is unknown but recorded there is a :class:`MissingPluginError`
  naming the block and the package (``check`` and ``run`` exit 1, as for any invalid
  graph); an unknown block the file does not record stays a validation problem. Older
  TensorBlocks keep the key as an unknown top-level key and write it back.
* Unknown top-level keys (e.g. ``"ui"``) go to ``model.extra`` and are written back by
  :func:`save_graph`. Unknown keys inside a node or an edge are refused (they would be lost).
* Versions: a file of an older version is migrated step by step by the functions in
  :data:`MIGRATIONS` (``MIGRATIONS[n]`` turns a version-``n`` dict into a version-``n+1``
  dict); a newer version is refused ("written by a newer TensorBlocks (version 3); this
  one reads up to 2").
* Relative paths in a graph (an Input's ``file``) are relative to the graph file's folder.
  The model does not know its file: callers pass ``base_dir=graph_base_dir(path)`` to
  :func:`graph.infer.infer` and :meth:`graph.engine.Engine.run`.
  :func:`graph.edits.rebase_changes` says how relative paths change when a graph moves to
  another folder (Save As).
* :func:`save_graph` is atomic (:func:`graph.atomic.write_atomically`, the one writer):
  on any failure the previous file is left intact and the temporary file removed; a
  read-only or non-regular target is refused. Attrs are written in canonical form
  (``format_attrs(parse_attrs(...))``) when they parse, otherwise exactly as typed, so
  nothing the user wrote is lost; literals are written as typed (also under a wire).
* :func:`graph_to_dict(model, node_ids) <graph_to_dict>` with ``node_ids`` gives only those
  nodes and the wires among them (copy and paste).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blocks.attrs import format_attrs, parse_attrs
from blocks.errors import GraphFileError, TensorBlocksError, more_problems
from blocks.input_files import resolve_file
from blocks.library import REGISTRY, BlockRegistry
from blocks.literals import parse_literal
from blocks.plugins import missing_block_reason
from blocks.spec import MAX_VARIADIC_COUNT, PortKind, node_inputs, port_count_problem
from graph.atomic import write_atomically
from graph.model import NODE_ID, GraphModel, PortRef, Wire

FORMAT = "tensorblocks.graph"
#: The version this TensorBlocks writes and the newest it reads.
CURRENT_VERSION = 2
#: The file name suffix the editor offers.
SUFFIX = ".tbg.json"
#: Files larger than this are refused before parsing (a graph is a few kilobytes).
MAX_FILE_BYTES = 64 * 1024 * 1024
#: The most nodes a graph file may hold (so any file is checked in seconds); a visual
#: graph has hundreds.
MAX_NODES = 20_000
#: The most wires: every input takes at most one, blocks have a handful of inputs.
MAX_EDGES = 8 * MAX_NODES
#: The most values all tensor literals of a graph may hold together (one literal holds at
#: most blocks.literals.MAX_LITERAL_VALUES); large data belongs in .npy files.
MAX_GRAPH_LITERAL_VALUES = 4_000_000

Migration = Callable[[dict[str, Any]], dict[str, Any]]


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 only added the ``ports`` node key, which version-1 files never need
    (there were no variadic blocks): a version-1 file reads as it is."""
    return data


#: ``MIGRATIONS[n]`` turns the dict of a version-``n`` file into a version-``n+1`` dict.
MIGRATIONS: dict[int, Migration] = {1: _v1_to_v2}

#: The optional top-level key recording each plugin block's package.
PLUGINS_KEY = "plugins"
_TOP_KEYS = ("format", "version", "nodes", "edges", PLUGINS_KEY)
_NODE_KEYS = ("id", "block", "attrs", "ports", "inputs", "pos")
_EDGE_KEYS = ("from", "to")


class GraphLoadError(GraphFileError):
    """One or more structural problems of a graph file; ``problems`` lists each of them.

    ``str()`` is the first problem with its place, plus "(and N more: the second)".
    """

    def __init__(self, problems: list[GraphFileError]) -> None:
        first = problems[0]
        super().__init__(
            first.reason + more_problems(list(problems)),
            file=first.file,
            location=first.location,
            node=first.node,
            block=first.block,
            port=first.port,
        )
        self.problems = problems


class MissingPluginError(GraphLoadError):
    """The file's only problems: blocks of plugin packages (recorded in the file) that are
    not installed. Each problem names the block and the package."""


# ----------------------------------------------------------------------------- paths


def graph_base_dir(path: str | os.PathLike[str]) -> Path:
    """The folder relative paths in the graph file ``path`` resolve against."""
    return Path(path).resolve().parent


# ----------------------------------------------------------------------------- loading


def load_graph(path: str | os.PathLike[str], *, registry: BlockRegistry = REGISTRY) -> GraphModel:
    """Read the graph file ``path`` (see the module docstring); GraphFileError on problems."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise GraphFileError("cannot read the graph file: no such file", file=name) from None
    except IsADirectoryError:
        raise GraphFileError("cannot read the graph file: it is a folder", file=name) from None
    except OSError as error:
        raise GraphFileError(
            f"cannot read the graph file: {error.strerror or error}", file=name
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise GraphFileError(
            f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: not a graph file",
            file=name,
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise GraphFileError(
            f"expected UTF-8 text, found the byte 0x{raw[error.start]:02x} at offset {error.start}",
            file=name,
        ) from None
    return graph_from_json(text, file=name, registry=registry)


def graph_from_json(
    text: str, *, file: str | None = None, registry: BlockRegistry = REGISTRY
) -> GraphModel:
    """The graph in the JSON ``text`` (``file`` names it in errors)."""
    return graph_from_dict(_parse_json(text, file), file=file, registry=registry)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key '{key}'")
        result[key] = value
    return result


def _parse_json(text: str, file: str | None) -> Any:
    if not isinstance(text, str):
        raise GraphFileError(f"expected JSON text, found {type(text).__name__}", file=file)
    try:
        return json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as error:
        raise GraphFileError(
            f"not valid JSON: {error.msg}",
            file=file,
            location=f"line {error.lineno}, column {error.colno}",
        ) from None
    except RecursionError:
        raise GraphFileError("not a graph file: JSON nested too deeply", file=file) from None
    except ValueError as error:  # from the hooks: NaN/Infinity, duplicate keys
        raise GraphFileError(f"not valid JSON: {error}", file=file) from None


def _kind(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(value: Any, limit: int = 40) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _migrate(data: dict[str, Any], file: str | None) -> dict[str, Any]:
    """Check ``format`` and ``version`` and bring ``data`` to :data:`CURRENT_VERSION`."""
    if "format" not in data:
        raise GraphFileError(
            f"not a TensorBlocks graph file: no \"format\" key (expected \"format\": \"{FORMAT}\")",
            file=file,
            location="format",
        )
    if data["format"] != FORMAT:
        raise GraphFileError(
            f"not a TensorBlocks graph file: \"format\" is {_short(data['format'])}, "
            f"expected \"{FORMAT}\"",
            file=file,
            location="format",
        )
    if "version" not in data:
        raise GraphFileError(
            "no \"version\" key: cannot tell which format version this file uses",
            file=file,
            location="version",
        )
    version = data["version"]
    current = CURRENT_VERSION  # read at call time so tests can pretend to be newer
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise GraphFileError(
            f"unknown format version {_short(version)}: expected a whole number from 1 to "
            f"{current}",
            file=file,
            location="version",
        )
    if version > current:
        raise GraphFileError(
            f"written by a newer TensorBlocks (version {version}); this one reads up to "
            f"{current}",
            file=file,
            location="version",
        )
    while version < current:
        migration = MIGRATIONS.get(version)
        if migration is None:
            raise GraphFileError(
                f"cannot read format version {version}: no migration to version {version + 1}",
                file=file,
                location="version",
            )
        try:
            data = migration(dict(data))
        except TensorBlocksError as error:
            raise GraphFileError(
                f"cannot migrate from version {version}: {error.reason}", file=file
            ) from None
        except Exception as error:  # a migration meeting a malformed old file
            raise GraphFileError(
                f"cannot migrate from version {version}: {type(error).__name__}: {error}",
                file=file,
            ) from None
        if not isinstance(data, dict):
            raise GraphFileError(
                f"cannot migrate from version {version}: the migration gave {_kind(data)}",
                file=file,
            )
        version += 1
        data["version"] = version
    return data


def graph_from_dict(
    data: Any, *, file: str | None = None, registry: BlockRegistry = REGISTRY
) -> GraphModel:
    """The graph described by the parsed JSON ``data`` (see the module docstring)."""
    if not isinstance(data, dict):
        raise GraphFileError(
            f"not a TensorBlocks graph file: expected a JSON object, found {_kind(data)}",
            file=file,
        )
    data = _migrate(data, file)
    _check_size(data, file)
    problem = _Problems(file)
    model = GraphModel(registry)
    nodes = data.get("nodes", [])
    if not isinstance(nodes, list):
        problem(f"expected a list of nodes, found {_kind(nodes)}", "nodes")
        nodes = []
    broken: set[str] = set()  # ids of nodes that were refused: their wires say nothing new
    for index, item in enumerate(nodes):
        node_id = _load_node(model, item, f"nodes[{index}]", problem)
        if node_id is not None and node_id not in model:
            broken.add(node_id)

    edges = data.get("edges", [])
    if not isinstance(edges, list):
        problem(f"expected a list of edges, found {_kind(edges)}", "edges")
        edges = []
    for index, item in enumerate(edges):
        _load_edge(model, item, f"edges[{index}]", broken, problem)

    missing = _missing_plugins(model, nodes, data.get(PLUGINS_KEY, {}), problem)
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TOP_KEYS:
            continue
        try:  # what cannot be written back must not be accepted (NaN, sets, ...)
            # A private JSON copy: the caller's objects are not shared with the model.
            extra[key] = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError, RecursionError) as error:
            problem(f"cannot be stored in a graph file: {error}", str(key))
    if problem.found:
        if len(problem.found) == missing:
            raise MissingPluginError(problem.found)
        raise GraphLoadError(problem.found)
    model.extra = extra
    return model


def _missing_plugins(
    model: GraphModel, nodes: list[Any], recorded: Any, problem: _Problems
) -> int:
    """Report each loaded node (of the file's ``nodes``) whose block is unknown here but
    recorded as a plugin's; returns how many (a malformed ``"plugins"`` object is a
    problem of its own)."""
    if not (isinstance(recorded, dict)
            and all(isinstance(v, str) for v in recorded.values())):
        problem(f"expected \"{PLUGINS_KEY}\" as an object of block name -> package name, "
                f"found {_short(recorded)}", PLUGINS_KEY)
        return 0
    count = 0
    for index, item in enumerate(nodes):
        node_id, block = (item.get("id"), item.get("block")) if isinstance(item, dict) else (
            None, None)
        if not isinstance(node_id, str) or node_id not in model or not isinstance(block, str):
            continue
        package = recorded.get(block)
        if package and block not in model.registry:
            problem(missing_block_reason(block, package), f"nodes[{index}].block",
                    node=node_id, block=block)
            count += 1
    return count


def _check_size(data: dict[str, Any], file: str | None) -> None:
    """Refuse, before building anything, a graph too large to check in seconds."""
    nodes, edges = data.get("nodes"), data.get("edges")
    if isinstance(nodes, list) and len(nodes) > MAX_NODES:
        raise GraphFileError(
            f"the graph has {len(nodes)} nodes; at most {MAX_NODES} are supported", file=file,
            location="nodes",
        )
    if isinstance(edges, list) and len(edges) > MAX_EDGES:
        raise GraphFileError(
            f"the graph has {len(edges)} wires; at most {MAX_EDGES} are supported", file=file,
            location="edges",
        )
    if not isinstance(nodes, list):
        return
    values = 0
    for item in nodes:
        inputs = item.get("inputs") if isinstance(item, dict) else None
        if isinstance(inputs, dict):
            values += sum(text.count(",") for text in inputs.values() if isinstance(text, str))
    if values > MAX_GRAPH_LITERAL_VALUES:
        raise GraphFileError(
            f"the graph's literals hold about {values} values together, more than "
            f"{MAX_GRAPH_LITERAL_VALUES}; put large data in .npy files read by Input blocks",
            file=file,
        )


class _Problems:
    """Collects the structural problems of one file, each with its location."""

    def __init__(self, file: str | None) -> None:
        self.file = file
        self.found: list[GraphFileError] = []

    def __call__(self, reason: str, location: str, **place: str | None) -> None:
        self.found.append(GraphFileError(reason, file=self.file, location=location, **place))


def _load_node(model: GraphModel, item: Any, where: str, problem: _Problems) -> str | None:
    """Add the node described by ``item``; returns its id when it has a usable one."""
    if not isinstance(item, dict):
        problem(f"expected a node object like {{\"id\": ..., \"block\": ...}}, found {_kind(item)}",
                where)
        return None
    unknown = [key for key in item if key not in _NODE_KEYS]
    node_id = item.get("id")
    before = len(problem.found)
    for key in unknown:
        problem(f"unknown key '{key}' in a node (known keys: {', '.join(_NODE_KEYS)})",
                f"{where}.{key}")
    if "id" not in item:
        problem("a node needs an \"id\"", f"{where}.id")
        node_id = None
    elif not isinstance(node_id, str):
        problem(f"expected the node id as a string, found {_kind(node_id)}", f"{where}.id")
        node_id = None
    elif not NODE_ID.match(node_id):
        problem(f"node id {_short(node_id)} is not valid: it must match [A-Za-z_][A-Za-z0-9_-]*",
                f"{where}.id")
    elif node_id in model:
        problem(f"duplicate node id '{node_id}': node ids must be unique", f"{where}.id",
                node=node_id)
        # The first node of that id stays; wires to it are still checked.
        return None
    place = {"node": node_id} if isinstance(node_id, str) and NODE_ID.match(node_id) else {}

    block = item.get("block")
    if "block" not in item:
        problem("a node needs a \"block\" (e.g. \"Input\")", f"{where}.block", **place)
    elif not isinstance(block, str):
        problem(f"expected the block name as a string, found {_kind(block)}", f"{where}.block",
                **place)
    attrs = item.get("attrs", "")
    if not isinstance(attrs, str):
        problem(f"expected the attrs as a string like \"centered_ = true;\", found {_kind(attrs)}",
                f"{where}.attrs", **place)
    inputs = item.get("inputs", {})
    literals: dict[str, str] = {}
    if not isinstance(inputs, dict):
        problem(f"expected the inputs as an object of port literals, found {_kind(inputs)}",
                f"{where}.inputs", **place)
    else:
        for port, text in inputs.items():
            if not isinstance(text, str):
                problem(
                    f"expected the literal as a string (e.g. \"{{8,8}}\"), found {_kind(text)} "
                    f"{_short(text)}",
                    f"{where}.inputs.{port}", port=port, **place,
                )
            else:
                literals[port] = text
    pos = item.get("pos", [0, 0])
    if not (isinstance(pos, list) and len(pos) == 2 and all(map(_finite_number, pos))):
        problem(f"expected the position as two numbers [x, y], found {_short(pos)}",
                f"{where}.pos", **place)
        pos = [0, 0]
    counts = _port_counts(model.registry, block, item, where, problem, place)

    if len(problem.found) > before or not isinstance(node_id, str):
        return node_id if isinstance(node_id, str) else None
    assert isinstance(block, str) and isinstance(attrs, str)
    model.add_node(block, node_id, attrs=attrs, literals=literals,
                   pos=(float(pos[0]), float(pos[1])), port_counts=counts)
    return node_id


def _port_counts(
    registry: BlockRegistry, block: Any, item: dict[str, Any], where: str,
    problem: _Problems, place: Mapping[str, str],
) -> dict[str, int]:
    """A node's ``ports`` key, checked (see the module docstring); problems go to
    ``problem``."""
    if "ports" not in item:
        return {}
    ports = item["ports"]
    if not isinstance(ports, dict):
        problem(f"expected the ports as an object like {{\"values\": 3}}, found {_kind(ports)}",
                f"{where}.ports", **place)
        return {}
    spec = registry.get(block) if isinstance(block, str) else None
    counts: dict[str, int] = {}
    for name, count in ports.items():
        if spec is not None:
            reason = port_count_problem(spec, name, count)
        elif not isinstance(count, int) or isinstance(count, bool):
            reason = f"expected a whole number of ports, found {_kind(count)} {_short(count)}"
        elif not 0 <= count <= MAX_VARIADIC_COUNT:
            reason = f"expected 0 to {MAX_VARIADIC_COUNT} ports, found {count}"
        else:
            reason = None
        if reason is not None:
            problem(reason, f"{where}.ports.{name}", **place)
            continue
        counts[name] = count
    return counts


def _finite_number(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _load_edge(
    model: GraphModel, item: Any, where: str, broken: set[str], problem: _Problems
) -> None:
    if not isinstance(item, dict):
        problem(
            f"expected an edge object like {{\"from\": \"a.output\", \"to\": \"b.input\"}}, "
            f"found {_kind(item)}",
            where,
        )
        return
    refs: dict[str, PortRef] = {}
    for key in item:
        if key not in _EDGE_KEYS:
            problem(f"unknown key '{key}' in an edge (known keys: from, to)", f"{where}.{key}")
    for key in _EDGE_KEYS:
        text = item.get(key)
        if key not in item:
            problem(f"an edge needs \"{key}\" (\"node.port\")", f"{where}.{key}")
            continue
        if not isinstance(text, str):
            problem(f"expected \"node.port\", found {_kind(text)} {_short(text)}",
                    f"{where}.{key}")
            continue
        try:
            ref = PortRef.parse(text)
        except TensorBlocksError as error:
            problem(error.reason, f"{where}.{key}")
            continue
        if ref.node in broken:
            continue  # the node itself was refused; its wires would only repeat that
        if not NODE_ID.match(ref.node):
            problem(f"'{text}': '{ref.node}' is not a valid node id", f"{where}.{key}")
            continue
        if ref.node not in model:
            problem(f"'{text}': no node '{ref.node}'", f"{where}.{key}", node=ref.node,
                    port=ref.port)
            continue
        refs[key] = ref
    if len(refs) != 2:
        return
    wire = Wire(refs["from"], refs["to"])
    existing = model.wire_into(wire.dst)
    if existing is not None:
        problem(
            f"input '{wire.dst}' already has a wire from '{existing.src}': an input takes at "
            "most one wire",
            f"{where}.to", node=wire.dst.node, port=wire.dst.port,
        )
        return
    model.add_wire_unchecked(wire)


# ----------------------------------------------------------------------------- writing


def _canonical_attrs(block: str, attrs: str, registry: BlockRegistry) -> str | None:
    """The attrs to write for a node: canonical when they parse, as typed otherwise.

    ``None`` means the key is left out (a block without attrs and nothing typed).
    """
    spec = registry.get(block)
    if spec is None:
        return attrs if attrs else None
    if not spec.attrs:
        return attrs if attrs.strip() else None
    try:
        return format_attrs(parse_attrs(attrs, spec), spec)
    except TensorBlocksError:
        return attrs


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def graph_to_dict(model: GraphModel, node_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """The JSON-ready dict of ``model`` (only ``node_ids`` and the wires among them if given)."""
    if node_ids is None:
        nodes = model.nodes()
    else:
        wanted = set(node_ids)
        nodes = [node for node in model.nodes() if node.id in wanted]
    kept = {node.id for node in nodes}
    out_nodes: list[dict[str, Any]] = []
    for node in nodes:
        entry: dict[str, Any] = {"id": node.id, "block": node.block}
        attrs = _canonical_attrs(node.block, node.attrs, model.registry)
        if attrs is not None:
            entry["attrs"] = attrs
        if node.port_counts:
            entry["ports"] = dict(node.port_counts)
        entry["inputs"] = dict(node.literals)
        entry["pos"] = [_number(node.pos[0]), _number(node.pos[1])]
        out_nodes.append(entry)
    plugins = {node.block: spec.package for node in nodes
               if (spec := model.registry.get(node.block)) is not None and spec.package}
    out_edges = [
        {"from": str(wire.src), "to": str(wire.dst)}
        for wire in model.wires()
        if wire.src.node in kept and wire.dst.node in kept
    ]
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": CURRENT_VERSION,
        "nodes": out_nodes,
        "edges": out_edges,
    }
    if plugins:
        data[PLUGINS_KEY] = dict(sorted(plugins.items()))
    for key, value in model.extra.items():
        if key not in _TOP_KEYS:
            data[key] = value
    return data


def graph_to_json(model: GraphModel, node_ids: Iterable[str] | None = None) -> str:
    """The file text of ``model``: one line per node and per edge, so diffs stay readable."""
    try:
        return _json_text(graph_to_dict(model, node_ids))
    except (TypeError, ValueError, RecursionError) as error:  # e.g. a set or NaN in model.extra
        raise GraphFileError(f"cannot write the graph: {error}") from None


def _json_text(data: dict[str, Any]) -> str:
    lines = ["{"]
    items = list(data.items())
    for index, (key, value) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        name = json.dumps(key, ensure_ascii=False, allow_nan=False)
        if key in ("nodes", "edges") and value:
            lines.append(f"  {name}: [")
            rows = [json.dumps(entry, ensure_ascii=False, allow_nan=False) for entry in value]
            lines.extend(f"    {row}," for row in rows[:-1])
            lines.append(f"    {rows[-1]}")
            lines.append(f"  ]{comma}")
        else:
            body = json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False)
            body = body.replace("\n", "\n  ")
            lines.append(f"  {name}: {body}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def save_graph(model: GraphModel, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically (see the module docstring).

    GraphFileError when it cannot be written; the previous file is then intact.
    """
    name = os.fspath(path)
    try:
        text = graph_to_json(model)
    except GraphFileError as error:
        raise error.at(file=name) from None
    write_atomically(name, text.encode("utf-8"))


__all__ = ["write_atomically"]  # re-exported: older callers import it from here


# ----------------------------------------------------------------------------- moving


def path_literals(model: GraphModel) -> Iterator[tuple[str, str, str]]:
    """(node id, port, text) of every PATH literal in ``model`` (the files it names)."""
    for node in model.nodes():
        spec = model.registry.get(node.block)
        if spec is None:
            continue
        for port in node_inputs(spec, node.port_counts):
            text = node.literals.get(port.name)
            if port.kind is PortKind.PATH and text is not None:
                yield node.id, port.name, text


@dataclass(frozen=True)
class OutsideFile:
    """A file a graph reads from outside its own folder."""

    node: str
    port: str
    #: The path as written in the graph.
    text: str
    #: Where it resolves (``..``, ``~`` and links followed).
    path: Path

    def describe(self) -> str:
        """``../data/x.npy (node 'image')``; a name that hides where it leads (a link, ~)
        says it: ``data.npy (node 'image', a link to /elsewhere/x.npy)``."""
        plain = self.text.strip('"')
        if Path(plain).is_absolute() or ".." in Path(plain).parts:
            return f"{self.text} (node '{self.node}')"
        return f"{self.text} (node '{self.node}', which is {self.path})"


def files_outside(model: GraphModel, base_dir: str | os.PathLike[str]) -> list[OutsideFile]:
    """The files ``model`` reads that lie outside ``base_dir`` (its graph file's folder).

    ``..`` paths, absolute paths and ``~`` paths that leave the folder, and links inside it
    that point out of it. Absolute paths still work; this is so the user is told which
    files a stranger's graph would read before its first run. Names that cannot be files
    are left to validation.
    """
    folder = Path(base_dir).resolve()
    found: list[OutsideFile] = []
    for node_id, port_name, text in path_literals(model):
        try:
            path = resolve_file(str(parse_literal(text, PortKind.PATH)), folder)
        except TensorBlocksError:
            continue
        if not path.is_relative_to(folder):
            found.append(OutsideFile(node_id, port_name, text.strip(), path))
    return found


def outside_files_note(files: list[OutsideFile], *, shown: int = 3) -> str:
    """One line telling which files outside its folder a graph reads."""
    names = ", ".join(item.describe() for item in files[:shown])
    more = f" and {len(files) - shown} more" if len(files) > shown else ""
    return f"the graph reads files outside its folder: {names}{more}"


def models_equal(first: GraphModel, second: GraphModel) -> bool:
    """Whether two graphs hold the same nodes (in order), wires and extra keys."""
    return _comparable(first) == _comparable(second)


def _comparable(model: GraphModel) -> Mapping[str, Any]:
    return {
        "nodes": [(n.id, n.block, n.attrs, dict(n.literals), n.pos, dict(n.port_counts))
                  for n in model.nodes()],
        "wires": sorted(str(w) for w in model.wires()),
        "extra": model.extra,
    }
