"""Undo commands: every edit of the graph is one QUndoCommand pushed on a QUndoStack.

Contract: each command performs exactly one model operation (or a fixed group of them)
in ``redo`` and its exact inverse in ``undo``; the canvas never edits the model
otherwise. The model's change events then update every view, so commands know nothing
of the canvas.

* :class:`AddNode` — adds a block instance, with its canonical attrs
  (:func:`graph.edits.new_node_attrs`) unless given; ``.node_id`` is its id (chosen on
  first redo when not given, and kept for every later redo).
* :class:`RemoveNodes` — removes nodes; undo restores each node (id, block, attrs,
  literals, position) and every wire that touched them, exactly.
* :class:`Connect` — wires ``src -> dst``; undo removes it and restores the wire it
  replaced on ``dst``. Wiring what is already wired is a no-op (and marked obsolete).
* :class:`Disconnect` — removes the wire into ``dst``; undo restores it.
* :class:`SetLiteral` — sets (``None``: clears) the literal of an input port.
* :class:`SetAttrs`, :class:`RenameNode` — as the model operations.
* :class:`SetPortCount` — gives a node's variadic input group a number of ports; undo
  restores the count, then the wires and literals that lowering it removed.
* :class:`MoveNodes` — moves nodes, ``{id: (old_pos, new_pos)}``; two MoveNodes with the
  same non-``None`` ``merge_key`` and the same nodes merge into one undo step (a live
  drag or keyboard nudges), anything else stays separate (one step per drag).
* :class:`PasteGraph` — adds the nodes of a graph-file dict (SPEC section 5) under fresh
  ids, shifted by ``offset``, with the wires among them; ``.node_ids`` lists the new ids
  (in the order of the dict) after the first redo.
* :func:`push_macro` — pushes several commands as one undo step (auto-layout, add-and-wire,
  re-wire).

Model operations that the model refuses raise :class:`blocks.errors.GraphError`; callers
check (e.g. ``model.can_connect``) before pushing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtGui import QUndoCommand, QUndoStack

from blocks.errors import GraphError
from graph.edits import new_node_attrs, port_group
from graph.fileformat import graph_from_dict, graph_to_dict
from graph.model import GraphModel, Node, PortCountDrop, PortRef, Wire

Pos = tuple[float, float]
#: A numbered copy's suffix: pasting ``image_2`` again gives ``image_3``, not ``image_2_2``.
_SUFFIX = re.compile(r"_\d+\Z")


class AddNode(QUndoCommand):
    """Add one block instance (see the module docstring)."""

    def __init__(
        self,
        model: GraphModel,
        block: str,
        node_id: str | None = None,
        pos: Pos = (0.0, 0.0),
        attrs: str | None = None,
        literals: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"Add {block}")
        self.model = model
        self.block = block
        self.node_id: str | None = node_id
        self.pos = (float(pos[0]), float(pos[1]))
        # By default the block's full canonical attrs (palette, quick-add and drops alike).
        self.attrs = new_node_attrs(model.registry.get(block)) if attrs is None else attrs
        self.literals = dict(literals or {})

    def redo(self) -> None:
        self.node_id = self.model.add_node(
            self.block, self.node_id, attrs=self.attrs, literals=self.literals, pos=self.pos
        )

    def undo(self) -> None:
        if self.node_id is not None:
            self.model.remove_node(self.node_id)


class RemoveNodes(QUndoCommand):
    """Remove nodes and their wires; undo restores them exactly."""

    def __init__(self, model: GraphModel, node_ids: Iterable[str]) -> None:
        ids = [node_id for node_id in dict.fromkeys(node_ids) if node_id in model]
        super().__init__("Delete " + (ids[0] if len(ids) == 1 else f"{len(ids)} blocks"))
        self.model = model
        self.node_ids = ids
        self._nodes: list[Node] = []
        self._wires: list[Wire] = []

    def redo(self) -> None:
        doomed = set(self.node_ids)
        # Wires in model order, so undo puts them back in the same order.
        self._wires = [
            w for w in self.model.wires() if w.src.node in doomed or w.dst.node in doomed
        ]
        self._nodes = [self.model.node(node_id) for node_id in self.node_ids]
        for node_id in self.node_ids:
            self.model.remove_node(node_id)

    def undo(self) -> None:
        for node in self._nodes:
            self.model.add_node(
                node.block, node.id, attrs=node.attrs, literals=node.literals, pos=node.pos,
                port_counts=node.port_counts,
            )
        for wire in self._wires:
            self.model.add_wire_unchecked(wire)


class Connect(QUndoCommand):
    """Wire ``src -> dst``; undo restores the wire it replaced."""

    def __init__(self, model: GraphModel, src: PortRef, dst: PortRef) -> None:
        super().__init__(f"Connect {src} → {dst}")
        self.model = model
        self.src = src
        self.dst = dst
        self._replaced: Wire | None = None
        self._noop = False

    def redo(self) -> None:
        before = self.model.wire_into(self.dst)
        self._noop = before is not None and before.src == self.src
        if self._noop:
            self.setObsolete(True)
            return
        self._replaced = self.model.connect(self.src, self.dst)

    def undo(self) -> None:
        if self._noop:
            return
        self.model.disconnect(self.dst)
        if self._replaced is not None:
            self.model.add_wire_unchecked(self._replaced)


class Disconnect(QUndoCommand):
    """Remove the wire into ``dst``; undo restores it."""

    def __init__(self, model: GraphModel, dst: PortRef) -> None:
        super().__init__(f"Disconnect {dst}")
        self.model = model
        self.dst = dst
        self._wire: Wire | None = None

    def redo(self) -> None:
        self._wire = self.model.disconnect(self.dst)

    def undo(self) -> None:
        if self._wire is not None:
            self.model.add_wire_unchecked(self._wire)


class SetLiteral(QUndoCommand):
    """Set (``None``: clear) the literal typed into an input port."""

    def __init__(self, model: GraphModel, node_id: str, port: str, text: str | None) -> None:
        super().__init__(f"Set {node_id}.{port}")
        self.model = model
        self.node_id = node_id
        self.port = port
        self.new = text
        self.old = model.node(node_id).literals.get(port)

    def redo(self) -> None:
        self.model.set_literal(self.node_id, self.port, self.new)

    def undo(self) -> None:
        self.model.set_literal(self.node_id, self.port, self.old)


class SetAttrs(QUndoCommand):
    """Set a node's attrs string."""

    def __init__(self, model: GraphModel, node_id: str, text: str) -> None:
        super().__init__(f"Set attrs of {node_id}")
        self.model = model
        self.node_id = node_id
        self.new = text
        self.old = model.node(node_id).attrs

    def redo(self) -> None:
        self.model.set_attrs(self.node_id, self.new)

    def undo(self) -> None:
        self.model.set_attrs(self.node_id, self.old)


class SetPortCount(QUndoCommand):
    """Give ``node_id``'s variadic ``group`` ``count`` ports; undo puts back the count and
    what lowering it removed."""

    def __init__(self, model: GraphModel, node_id: str, group: str, count: int) -> None:
        current = port_group(model, node_id)
        self.old = count if current is None else current.count
        verb = "Add" if count > self.old else "Remove"
        super().__init__(f"{verb} {group} ports of {node_id} ({self.old} → {count})")
        self.model = model
        self.node_id = node_id
        self.group = group
        self.new = count
        self._dropped = PortCountDrop()

    def redo(self) -> None:
        self._dropped = self.model.set_port_count(self.node_id, self.group, self.new)

    def undo(self) -> None:
        self.model.set_port_count(self.node_id, self.group, self.old)
        for wire in self._dropped.wires:
            self.model.add_wire_unchecked(wire)
        for port, text in self._dropped.literals.items():
            self.model.set_literal(self.node_id, port, text)


_MOVE_ID = 0x7B01


class MoveNodes(QUndoCommand):
    """Move nodes, ``{id: (old_pos, new_pos)}``; merges with a MoveNodes of the same drag."""

    def __init__(
        self,
        model: GraphModel,
        moves: Mapping[str, tuple[Pos, Pos]],
        merge_key: object | None = None,
        text: str | None = None,
    ) -> None:
        count = len(moves)
        default = "Move " + (next(iter(moves)) if count == 1 else f"{count} blocks")
        super().__init__(text or default)
        self.model = model
        self.moves = {
            node_id: ((float(old[0]), float(old[1])), (float(new[0]), float(new[1])))
            for node_id, (old, new) in moves.items()
        }
        self.merge_key = merge_key

    def id(self) -> int:
        return _MOVE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if (
            not isinstance(other, MoveNodes)
            or self.merge_key is None
            or other.merge_key != self.merge_key
            or set(other.moves) != set(self.moves)
        ):
            return False
        for node_id, (_, new) in other.moves.items():
            self.moves[node_id] = (self.moves[node_id][0], new)
        return True

    def redo(self) -> None:
        for node_id, (_, new) in self.moves.items():
            if node_id in self.model:
                self.model.move(node_id, new)

    def undo(self) -> None:
        for node_id, (old, _) in self.moves.items():
            if node_id in self.model:
                self.model.move(node_id, old)


class RenameNode(QUndoCommand):
    """Give a node a new id; its wires follow."""

    def __init__(self, model: GraphModel, old: str, new: str) -> None:
        super().__init__(f"Rename {old} → {new}")
        self.model = model
        self.old = old
        self.new = new

    def redo(self) -> None:
        self.model.rename_node(self.old, self.new)

    def undo(self) -> None:
        self.model.rename_node(self.new, self.old)


class PasteGraph(QUndoCommand):
    """Add the nodes of a graph-file dict under fresh ids, shifted by ``offset``.

    The dict is read by :func:`graph.fileformat.graph_from_dict` (which raises a
    GraphFileError when it is not a graph) when the command is made, so a bad clipboard
    never reaches the undo stack.
    """

    def __init__(
        self, model: GraphModel, data: Mapping[str, Any], offset: Pos = (0.0, 0.0)
    ) -> None:
        super().__init__("Paste")
        self.model = model
        self.offset = (float(offset[0]), float(offset[1]))
        self._nodes, self._wires = read_graph_dict(data)
        self.setText(
            "Paste "
            + (self._nodes[0].id if len(self._nodes) == 1 else f"{len(self._nodes)} blocks")
        )
        self._renames: dict[str, str] = {}
        self.node_ids: list[str] = []

    def redo(self) -> None:
        first = not self._renames
        dx, dy = self.offset
        ids: list[str] = []
        for node in self._nodes:
            new_id = (
                self.model.unique_id(_SUFFIX.sub("", node.id))
                if first
                else self._renames.get(node.id)
            )
            assert new_id is not None
            self.model.add_node(
                node.block,
                new_id,
                attrs=node.attrs,
                literals=node.literals,
                pos=(node.pos[0] + dx, node.pos[1] + dy),
                port_counts=node.port_counts,
            )
            self._renames[node.id] = new_id
            ids.append(new_id)
        self.node_ids = ids
        for wire in self._wires:
            src = PortRef(self._renames[wire.src.node], wire.src.port)
            dst = PortRef(self._renames[wire.dst.node], wire.dst.port)
            try:
                self.model.add_wire_unchecked(Wire(src, dst))
            except GraphError:
                continue  # a second wire into one input in hand-made data: keep the first

    def undo(self) -> None:
        for node_id in reversed(self.node_ids):
            if node_id in self.model:
                self.model.remove_node(node_id)


def push_macro(stack: QUndoStack, text: str, commands: Iterable[QUndoCommand]) -> None:
    """Push ``commands`` as one undo step called ``text``."""
    stack.beginMacro(text)
    try:
        for command in commands:
            stack.push(command)
    finally:
        stack.endMacro()


# ----------------------------------------------------------------------------- clipboard data


def graph_dict(model: GraphModel, node_ids: Iterable[str]) -> dict[str, Any]:
    """The graph-file dict (SPEC section 5) of ``node_ids`` and the wires among them."""
    return graph_to_dict(model, [node_id for node_id in node_ids if node_id in model])


def read_graph_dict(data: Any) -> tuple[list[Node], list[Wire]]:
    """The nodes and wires a graph-file dict holds (GraphFileError when it is not one)."""
    model = graph_from_dict(data)
    return model.nodes(), model.wires()
