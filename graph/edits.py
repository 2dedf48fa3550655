"""Editing rules the editor, the scripting API and the command line share — each in one place.

Contract:

* :func:`new_node_attrs` is the attrs string a newly added block gets: the full canonical
  string of its defaults (so the inspector and the file show every attr), ``""`` for a
  block without attrs or unknown to the registry.
* :func:`literal_target` checks that a value may be typed into ``node.port`` — the node
  exists, its block has that input, and no wire feeds it (a wire takes precedence over a
  typed value) — and returns the port's declaration (``None`` for an unknown block, whose
  literals are stored as given and judged by validation). A GraphError names the problem.
* :func:`data_file_inputs` is what a dropped data file becomes: the block that reads data
  files (the registry's first block with a PATH input) and, per array (each of up to
  :data:`MAX_NPZ_ARRAYS` arrays of an ``.npz`` with several), a node-id stem and its
  literals — the file literal (relative to the graph's folder when there is one) and the
  dtype when the file's is not the port's default.
* :func:`free_position` is where a block added at a position lands: on the canvas grid,
  moved along the diagonal off any block already there.
* :func:`port_group` is a node's variadic input group as it stands (the group, its count,
  the port a "+" adds and the last port); :func:`port_add_problem` and
  :func:`port_removal_problem` say why a port cannot be added, or why the last one
  cannot be removed by hand (the count is at its limit, or the last port is wired — lowering
  the count in the inspector drops wires, and undo restores them; removing one port by
  hand only takes an unwired one). The canvas, the inspector and the API ask these.
* :func:`rebase_changes` lists the PATH literal changes that keep relative file names
  pointing at the same files when the folder they resolve against changes (Save As to
  another folder, or the first save of an untitled graph, whose names resolved against the
  current folder). It changes nothing: the caller applies the changes (the editor as undo
  commands, the API directly) once the file is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blocks.attrs import format_attrs
from blocks.errors import GraphError, TensorBlocksError
from blocks.input_files import ARRAY_SUFFIXES, peek_tensor_file
from blocks.library import BlockRegistry
from blocks.literals import dtype_name, format_literal, parse_dtype
from blocks.spec import (
    BlockSpec,
    InputPort,
    PortKind,
    VariadicInput,
    node_inputs,
    port_count,
)
from graph.fileformat import path_literals
from graph.model import GraphModel, PortRef

#: At most this many arrays of one dropped ``.npz`` become blocks.
MAX_NPZ_ARRAYS = 8


@dataclass(frozen=True)
class LiteralEdit:
    """One literal to set: ``node.port`` from ``old`` to ``new``."""

    node: str
    port: str
    old: str | None
    new: str | None


def new_node_attrs(spec: BlockSpec | None) -> str:
    """The attrs string a new instance of ``spec`` starts with (see the module docstring)."""
    if spec is None or not spec.attrs:
        return ""
    return format_attrs(spec.default_attrs(), spec)


def free_position(model: GraphModel, pos: tuple[float, float], grid: float
                  ) -> tuple[float, float]:
    """``pos`` on the ``grid``, moved along the diagonal off any block there."""
    x, y = round(pos[0] / grid) * grid, round(pos[1] / grid) * grid
    taken = {node.pos for node in model.nodes()}
    while (x, y) in taken:
        x, y = x + grid, y + grid
    return (x, y)


def literal_target(model: GraphModel, ref: PortRef) -> InputPort | None:
    """The input ``ref`` a value may be typed into (see the module docstring)."""
    if ref.node not in model:
        known = ", ".join(model.node_ids()) or "none"
        raise GraphError(f"no node '{ref.node}' (nodes: {known})", node=ref.node)
    node = model.node(ref.node)
    spec = model.registry.get(node.block)
    if spec is None:
        return None
    port = model.input_of(ref.node, ref.port)
    if port is None:
        names = ", ".join(p.name for p in model.inputs_of(ref.node) or ())
        raise GraphError(
            f"{spec.name} has no input '{ref.port}' (its inputs: {names})",
            node=ref.node, block=node.block, port=ref.port,
        )
    wire = model.wire_into(ref) if port.kind.wirable else None
    if wire is not None:
        raise GraphError(
            f"the input is fed by a wire from '{wire.src}'; a wire takes precedence over a "
            "typed value",
            node=ref.node, block=node.block, port=ref.port,
        )
    return port


@dataclass(frozen=True)
class PortGroup:
    """A node's variadic input group as it stands."""

    node: str
    group: VariadicInput
    count: int

    @property
    def ports(self) -> list[str]:
        """The group's port names, in order."""
        return [self.group.port_name(index) for index in range(self.count)]

    @property
    def next_port(self) -> str:
        """The port one more would add."""
        return self.group.port_name(self.count)

    @property
    def last_port(self) -> str:
        """The group's last port (the one removing a port removes)."""
        return self.group.port_name(self.count - 1)


def port_group(model: GraphModel, node_id: str) -> PortGroup | None:
    """``node_id``'s variadic input group, or ``None`` (none, or an unknown block)."""
    node = model.node(node_id)
    spec = model.registry.get(node.block)
    count = None if spec is None else port_count(spec, node.port_counts)
    if spec is None or spec.variadic is None or count is None:
        return None
    return PortGroup(node_id, spec.variadic, count)


def port_add_problem(model: GraphModel, node_id: str) -> str | None:
    """Why a port cannot be added to ``node_id``'s variadic group, or ``None``."""
    group = port_group(model, node_id)
    if group is None:
        return f"{model.node(node_id).block} has no variable number of inputs"
    if group.count >= group.group.max_count:
        return f"'{group.group.name}' takes at most {group.group.max_count} ports"
    return None


def port_removal_problem(model: GraphModel, node_id: str) -> str | None:
    """Why the last port of ``node_id``'s variadic group cannot be removed by hand, or
    ``None`` (see the module docstring)."""
    group = port_group(model, node_id)
    if group is None:
        return f"{model.node(node_id).block} has no variable number of inputs"
    if group.count <= group.group.min_count:
        return (f"{model.node(node_id).block} takes at least {group.group.min_count} "
                f"'{group.group.name}' ports")
    wire = model.wire_into(PortRef(node_id, group.last_port))
    if wire is not None:
        return f"'{group.last_port}' is wired from '{wire.src}': disconnect it first"
    return None


def data_file_block(registry: BlockRegistry) -> BlockSpec | None:
    """The block that reads data files: the first with a PATH input."""
    for spec in registry.values():
        if any(port.kind is PortKind.PATH for port in node_inputs(spec)):
            return spec
    return None


def _file_literal(path: Path, base_dir: Path | None) -> str:
    text = path.as_posix()
    if base_dir is not None:
        try:
            text = Path(os.path.relpath(path, base_dir)).as_posix()
        except ValueError:  # another drive: keep it absolute
            text = path.as_posix()
    return format_literal(text, PortKind.PATH)


def data_file_inputs(
    registry: BlockRegistry, path: str | os.PathLike[str], base_dir: Path | None
) -> tuple[BlockSpec, list[tuple[str, dict[str, str]]]]:
    """The block and ``[(node-id stem, literals)]`` a dropped data file becomes.

    GraphError when no block reads files; OSError/ValueError when an ``.npz`` cannot be
    listed. A file whose contents cannot be read still becomes a block (inference then says
    what is wrong with it).
    """
    spec = data_file_block(registry)
    if spec is None:
        raise GraphError("no block reads data files")
    inputs = node_inputs(spec)
    file_port = next(p for p in inputs if p.kind is PortKind.PATH)
    dtype_port = next((p for p in inputs if p.kind is PortKind.DTYPE), None)
    resolved = Path(path).resolve()
    literal = _file_literal(resolved, base_dir)
    sources = [(resolved.name.split(".")[0], literal, resolved.as_posix())]
    if resolved.suffix.lower() == ".npz":
        with np.load(resolved, allow_pickle=False) as archive:
            keys = list(archive.files)
        if len(keys) > 1:
            sources = [(key, f"{literal}:{key}", f"{resolved.as_posix()}:{key}")
                       for key in keys[:MAX_NPZ_ARRAYS]]
    default_dtype = None
    if dtype_port is not None and dtype_port.default:
        try:
            default_dtype = parse_dtype(dtype_port.default)
        except TensorBlocksError:
            default_dtype = None
    blocks: list[tuple[str, dict[str, str]]] = []
    for stem, text, peek_name in sources:
        literals = {file_port.name: text}
        if dtype_port is not None and resolved.suffix.lower() in ARRAY_SUFFIXES:
            try:
                _shape, dtype = peek_tensor_file(peek_name, None)
                if dtype != default_dtype:
                    literals[dtype_port.name] = dtype_name(dtype)
            except TensorBlocksError:
                pass  # inference shows what is wrong with the file
        blocks.append((stem or "input", literals))
    return spec, blocks


def _split_npz_key(path: str) -> tuple[str, str]:
    """``data.npz:key`` -> (``data.npz``, ``:key``); other paths -> (path, "")."""
    lowered = path.lower()
    marker = lowered.rfind(".npz:")
    if marker >= 0:
        return path[: marker + 4], path[marker + 4 :]
    return path, ""


def rebase_changes(
    model: GraphModel, old_base: str | os.PathLike[str], new_base: str | os.PathLike[str]
) -> list[LiteralEdit]:
    """The PATH literal edits that keep relative names pointing at the same files.

    A path that cannot be made relative to ``new_base`` (another drive) becomes absolute;
    absolute paths are left alone. ``model`` is not changed.
    """
    old_dir, new_dir = Path(old_base).resolve(), Path(new_base).resolve()
    if old_dir == new_dir:
        return []
    changes: list[LiteralEdit] = []
    for node_id, port_name, text in path_literals(model):
        stripped = text.strip()
        quoted = stripped.startswith('"') and stripped.endswith('"') and len(stripped) >= 2
        inner = stripped[1:-1] if quoted else stripped
        file_part, key = _split_npz_key(inner)
        if not file_part or Path(file_part).is_absolute():
            continue
        absolute = old_dir / file_part
        try:
            moved = Path(os.path.relpath(absolute, new_dir)).as_posix()
        except ValueError:
            moved = absolute.as_posix()
        new_inner = moved + key
        new_text = f'"{new_inner}"' if quoted or new_inner != new_inner.strip() else new_inner
        if new_text != text:
            changes.append(LiteralEdit(node_id, port_name, text, new_text))
    return changes


def apply_edits(model: GraphModel, edits: list[LiteralEdit]) -> None:
    """Set each edit's new literal on ``model`` (each announced as a LiteralChanged)."""
    for edit in edits:
        model.set_literal(edit.node, edit.port, edit.new)
