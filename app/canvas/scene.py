"""The node-graph scene: shows a session's graph and turns gestures into undo commands.

Contract:

* ``GraphScene(session, undo_stack)`` takes a :class:`~graph.session.Session` and connects
  to its events: model changes keep one :class:`~app.canvas.items.NodeItem` per node and one
  :class:`~app.canvas.items.WireItem` per wire; inference labels wires and puts problem
  badges on blocks; the run report puts run badges on blocks, and a block whose results
  are stale (edited since the run) shows a "stale" badge instead; the session's selection
  and the scene's are one (selecting on the canvas selects in the session, and back). It
  never edits the model directly: every edit is an undo command from :mod:`app.commands`
  pushed on ``undo_stack`` (add, delete, wire, re-wire, disconnect,
  move, literal, paste, duplicate, auto-layout), and the model's events update the items.
* Signals: ``selectedNodesChanged(list[str])``, ``statusMessage(str)`` (refused
  connections, bad literals, clipboard problems), ``nodeActivated(str)`` (double-click on a
  block), ``quickAddRequested(QPointF, object)`` (a wire dropped on empty canvas, or a
  double-click there: scene position and the PortRef dragged from, or ``None``; the view
  opens the quick-add search).
* Wiring: drag from an output to an input (or back from an unwired input to an output).
  While dragging, compatible ports grow and the others fade. Dropping on an occupied input
  replaces its wire (one undo step, the old wire comes back on undo). Dragging a wired input
  lifts its wire off: dropping it on another input re-wires it, on empty canvas disconnects
  it. A refused drop sends ``can_connect``'s reason to ``statusMessage``.
* Moving: blocks snap to a 20 px grid (hold Alt to place freely); one MoveNodes per drag,
  pushed on release. Moving a block re-routes only that block's wires.
* Literals: clicking an unwired input's field opens an inline editor; Enter (or leaving the
  field) commits with SetLiteral, Esc cancels, an empty field clears the literal (the
  default applies). A literal that does not parse is still applied — the model stores
  literals as typed, like a file does, so nothing the user typed is lost — and is drawn
  red with a problem badge, and ``statusMessage`` says why.
* ``set_inference(inference)`` (called on the session's inference event) labels every wire
  with its source port's "[shape] dtype" (at the middle when the wire is long enough, in its
  tooltip always), shows each output's "[shape] dtype" dim in the output's row, and puts a
  red badge on nodes with problems (tooltip: port/attr and reason);
  ``set_run_report(report)`` (on the report and stale events) shows "ran 3.2 ms" /
  "cached" / "failed" / "stale" badges (``None`` clears either).
* Variadic inputs: a block's "+" handle (:class:`~app.canvas.items.AddPortHandle`) adds the
  next port of its group (:class:`~app.commands.SetPortCount`, one undo step); a wire
  dragged from an output and dropped on the "+" adds the port and wires it (one undo
  step). A PortCountChanged rebuilds that block's item and its wires. The block's
  right-click menu also adds a port, and removes the last one when
  :func:`graph.edits.port_removal_problem` allows it (else the entry is disabled and says why).
* Right-click: on a block, copy/cut/duplicate/disconnect/delete the selection; on empty
  canvas, add a block (by category), paste, select all, auto-layout. Selected blocks come to
  the front and their wires are drawn in the accent colour.
* Clipboard: graph-file JSON (SPEC section 5) as text/plain and
  ``application/x-tensorblocks-graph``; paste gives the nodes fresh ids and keeps the wires
  among them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QMimeData, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QGraphicsProxyWidget,
    QGraphicsScene,
    QGraphicsSceneContextMenuEvent,
    QGraphicsSceneMouseEvent,
    QMenu,
    QWidget,
)

from app.canvas.items import (
    AddPortHandle,
    LiteralEditor,
    NodeItem,
    PendingWire,
    PortItem,
    WireItem,
)
from app.canvas.layout import layered_positions
from app.canvas.theme import LIGHT, CanvasTheme
from app.commands import (
    AddNode,
    Connect,
    Disconnect,
    MoveNodes,
    PasteGraph,
    RemoveNodes,
    SetLiteral,
    SetPortCount,
    graph_dict,
    push_macro,
)
from app.subscriptions import Subscriptions
from blocks.errors import TensorBlocksError
from blocks.literals import dtype_name, supported_dtypes
from blocks.spec import BlockSpec, InputPort, PortKind, node_inputs
from graph.edits import port_add_problem, port_group, port_removal_problem
from graph.engine import NodeReport, RunReport
from graph.infer import Inference
from graph.model import (
    AttrsChanged,
    GraphEvent,
    GraphModel,
    GraphReset,
    LiteralChanged,
    Node,
    NodeAdded,
    NodeMoved,
    NodeRemoved,
    NodeRenamed,
    PortCountChanged,
    PortRef,
    Wire,
    WireAdded,
    WireRemoved,
    snake_case,
)
from graph.session import SelectionChanged, Session

GRID = 20.0
GRAPH_MIME = "application/x-tensorblocks-graph"
#: How far (scene px) from a port's centre a press or a drop still counts as on the port.
PORT_REACH = 11.0
#: Scene extent: large, so the view can pan freely around any graph.
SCENE_EXTENT = 200_000.0


@dataclass
class _WireDrag:
    fixed: PortItem  # the end that stays put
    from_output: bool  # the fixed end is an output
    pending: PendingWire
    detached: Wire | None  # the wire lifted off an input, if any
    detached_item: WireItem | None
    compatible: set[PortItem]
    target: PortItem | None = None
    #: The "+" handle the pointer is over (a drop there adds a port and wires it).
    handle: AddPortHandle | None = None


def first_wirable_input(spec: BlockSpec) -> str | None:
    """The input a wire dropped on a new block goes to: the first required tensor input,
    else the first input that takes a wire (of a new node: a variadic group at its default
    count)."""
    inputs = node_inputs(spec)
    for port in inputs:
        if port.kind is PortKind.TENSOR and port.required:
            return port.name
    for port in inputs:
        if port.kind.wirable:
            return port.name
    return None


def run_badge(report: NodeReport, *, stale: bool) -> tuple[str, str, str]:
    """(status, text, tooltip) of a node's run badge; a stale result says so."""
    status = str(report.status)
    ran = f"ran {format_seconds(report.seconds)}" if status == "ran" else status
    error = "" if report.error is None else str(report.error)
    if stale:
        return ("stale", "stale",
                f"{ran} before the last edit: these results no longer match the graph; "
                "run again (F5) to update them")
    return status, ran, error


def format_seconds(seconds: float) -> str:
    """``0.0032`` -> ``3.2 ms``; ``1.5`` -> ``1.50 s``."""
    ms = seconds * 1000.0
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.2f} s"


class GraphScene(QGraphicsScene):
    """The canvas scene (see the module docstring)."""

    selectedNodesChanged = Signal(list)
    statusMessage = Signal(str)
    nodeActivated = Signal(str)
    quickAddRequested = Signal(QPointF, object)

    def __init__(
        self, session: Session, undo_stack: QUndoStack, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.model: GraphModel = session.model
        self.undo_stack = undo_stack
        self.theme: CanvasTheme = LIGHT
        self.setSceneRect(QRectF(-SCENE_EXTENT / 2, -SCENE_EXTENT / 2, SCENE_EXTENT, SCENE_EXTENT))
        self.setBackgroundBrush(QColor(self.theme.background))
        self._nodes: dict[str, NodeItem] = {}
        self._wires: dict[PortRef, WireItem] = {}
        self._node_wires: dict[str, set[WireItem]] = {}
        self._inference: Inference | None = None
        self._run_report: RunReport | None = None
        self._drag: _WireDrag | None = None
        self.wire_drag_active = False
        self._move_start: dict[str, QPointF] | None = None
        self._snap = True
        self._editor: tuple[QGraphicsProxyWidget, LiteralEditor, str, str] | None = None
        self._last_selection: list[str] = []
        self._paste_serial = 0
        self._last_paste_text = ""
        self.selectionChanged.connect(self._on_selection_changed)
        self.subscriptions = Subscriptions(self)
        self.subscriptions.follow(
            session.events,
            model=self._on_event,
            inference=lambda event: self.set_inference(event.inference),
            # A new report and new stale nodes both redraw the run badges.
            report=self._show_session_runs,
            stale=self._show_session_runs,
            selection=self._on_session_selection,
        )
        self._rebuild()
        self.set_inference(session.inference)
        self.set_run_report(session.report)

    def _show_session_runs(self, _event: object) -> None:
        self.set_run_report(self.session.report)

    def detach(self) -> None:
        """Stop following the session (before dropping the scene while the session lives on)."""
        self.subscriptions.disconnect_all()

    # ------------------------------------------------------------------ queries

    def node_item(self, node_id: str) -> NodeItem | None:
        """The item showing ``node_id``."""
        return self._nodes.get(node_id)

    def node_items(self) -> list[NodeItem]:
        """Every node item."""
        return list(self._nodes.values())

    def wire_item(self, dst: PortRef) -> WireItem | None:
        """The item showing the wire into ``dst``."""
        return self._wires.get(dst)

    def wire_items(self) -> list[WireItem]:
        """Every wire item."""
        return list(self._wires.values())

    def port_item(self, ref: PortRef, *, output: bool) -> PortItem | None:
        """The item of port ``ref`` (an output or an input)."""
        node = self._nodes.get(ref.node)
        return None if node is None else node.port(ref.port, output=output)

    def selected_node_ids(self) -> list[str]:
        """The selected nodes, in model order."""
        chosen = {item.node_id for item in self.selectedItems() if isinstance(item, NodeItem)}
        return [node_id for node_id in self.model.node_ids() if node_id in chosen]

    def select_nodes(self, ids: Iterable[str]) -> None:
        """Select exactly the nodes ``ids``."""
        wanted = set(ids)
        self.blockSignals(True)
        try:
            self.clearSelection()
            for node_id in wanted:
                item = self._nodes.get(node_id)
                if item is not None:
                    item.setSelected(True)
        finally:
            self.blockSignals(False)
        self._on_selection_changed()

    def nodes_rect(self, ids: Iterable[str] | None = None) -> QRectF:
        """The scene rectangle around the given nodes (all when ``None``)."""
        items = (
            self._nodes.values()
            if ids is None
            else [self._nodes[i] for i in ids if i in self._nodes]
        )
        rect = QRectF()
        for item in items:
            rect = rect.united(item.sceneBoundingRect())
        return rect

    # ------------------------------------------------------------------ mirroring

    def _on_event(self, event: GraphEvent) -> None:
        if isinstance(event, NodeMoved):
            item = self._nodes.get(event.node)
            if item is not None and (item.pos().x(), item.pos().y()) != event.new:
                item.setPos(QPointF(*event.new))
        elif isinstance(event, WireAdded):
            self._add_wire_item(event.wire)
        elif isinstance(event, WireRemoved):
            self._remove_wire_item(event.wire)
        elif isinstance(event, LiteralChanged):
            item = self._nodes.get(event.node)
            if item is not None:
                item.set_node(self.model.node(event.node))
        elif isinstance(event, NodeAdded):
            self._add_node_item(event.node)
        elif isinstance(event, NodeRemoved):
            self._remove_node_item(event.node.id)
        elif isinstance(event, NodeRenamed):
            self._rename_node_item(event.old_id, event.new_id)
        elif isinstance(event, GraphReset):
            self._rebuild()
        elif isinstance(event, PortCountChanged):
            self._rebuild_node_item(event.node)
        elif isinstance(event, AttrsChanged):
            attrs_item = self._nodes.get(event.node)
            if attrs_item is not None:  # the block shows its attrs on its face
                attrs_item.set_attrs(self.model.node(event.node).attrs)

    def _rebuild(self) -> None:
        self._close_editor(commit=False)
        # Inference and run reports describe the graph that was replaced.
        self._inference = None
        self._run_report = None
        for item in list(self._wires.values()):
            self.removeItem(item)
        for node_item in list(self._nodes.values()):
            self.removeItem(node_item)
        self._nodes.clear()
        self._wires.clear()
        self._node_wires.clear()
        for node in self.model.nodes():
            self._add_node_item(node)
        for wire in self.model.wires():
            self._add_wire_item(wire)

    def _add_node_item(self, node: Node) -> None:
        wired = [wire.dst.port for wire in self.model.wires_into(node.id)]
        item = NodeItem(node, self.model.registry.get(node.block), wired)
        self._nodes[node.id] = item
        self._node_wires[node.id] = set()
        self.addItem(item)

    def _rebuild_node_item(self, node_id: str) -> None:
        """Make ``node_id``'s item again (its ports changed), with its wires, selection,
        preview switch, labels and badges; the session's selection is not disturbed."""
        old = self._nodes.get(node_id)
        if old is None or node_id not in self.model:
            return
        selected, preview = old.isSelected(), old.preview_enabled
        self.blockSignals(True)  # the selection stays what it was
        try:
            self._remove_node_item(node_id)
            self._add_node_item(self.model.node(node_id))
            for wire in self.model.wires_of(node_id):
                self._add_wire_item(wire)
            item = self._nodes[node_id]
            item.set_preview_enabled(preview)
            item.setSelected(selected)
            item.setZValue(2 if selected else 1)
            for wire_item in self._node_wires.get(node_id, ()):
                wire_item.set_highlighted(selected)
        finally:
            self.blockSignals(False)
        self.set_inference(self._inference)
        self.set_run_report(self._run_report)

    def _remove_node_item(self, node_id: str) -> None:
        if self._editor is not None and self._editor[2] == node_id:
            self._close_editor(commit=False)
        item = self._nodes.pop(node_id, None)
        for wire_item in self._node_wires.pop(node_id, set()):
            self._remove_wire_item(wire_item.wire)
        if item is not None:
            self.removeItem(item)

    def _rename_node_item(self, old: str, new: str) -> None:
        if self._editor is not None and self._editor[2] == old:
            self._close_editor(commit=False)
        item = self._nodes.pop(old, None)
        if item is None:
            return
        item.rename(new)
        self._nodes[new] = item
        wire_items = self._node_wires.pop(old, set())
        self._node_wires[new] = wire_items
        for wire_item in wire_items:
            self._wires.pop(wire_item.wire.dst, None)
            wire = wire_item.wire
            wire_item.wire = Wire(
                PortRef(new, wire.src.port) if wire.src.node == old else wire.src,
                PortRef(new, wire.dst.port) if wire.dst.node == old else wire.dst,
            )
            self._wires[wire_item.wire.dst] = wire_item
            wire_item.update_tooltip()
            wire_item.update_path()

    def _add_wire_item(self, wire: Wire) -> None:
        src_node, dst_node = self._nodes.get(wire.src.node), self._nodes.get(wire.dst.node)
        if src_node is None or dst_node is None:
            return
        item = WireItem(
            wire,
            src_node.ensure_port(wire.src.port, output=True),
            dst_node.ensure_port(wire.dst.port, output=False),
        )
        self._wires[wire.dst] = item
        self._node_wires[wire.src.node].add(item)
        self._node_wires[wire.dst.node].add(item)
        if self._inference is not None:
            item.set_label(self._wire_label(wire))
        self.addItem(item)
        dst_node.set_wired(wire.dst.port, True)

    def _remove_wire_item(self, wire: Wire) -> None:
        item = self._wires.pop(wire.dst, None)
        if item is None:
            return
        for node_id in (wire.src.node, wire.dst.node):
            self._node_wires.get(node_id, set()).discard(item)
        self.removeItem(item)
        dst_node = self._nodes.get(wire.dst.node)
        if dst_node is not None:
            dst_node.set_wired(wire.dst.port, False)

    def node_moved(self, item: NodeItem) -> None:
        """Called by a NodeItem whose position changed: re-route only its wires."""
        for wire_item in self._node_wires.get(item.node_id, ()):
            wire_item.update_path()

    def snap_for_drag(self, pos: QPointF) -> QPointF:
        """Where a node dragged by the user to ``pos`` goes (the grid, unless Alt is held)."""
        if self._move_start is None or not self._snap:
            return pos
        return QPointF(round(pos.x() / GRID) * GRID, round(pos.y() / GRID) * GRID)

    def _on_selection_changed(self) -> None:
        ids = self.selected_node_ids()
        if ids == self._last_selection:
            return
        # The selected blocks come to the front and their wires light up.
        for node_id in self._last_selection:
            item = self._nodes.get(node_id)
            if item is not None:
                item.setZValue(1)
            for wire_item in self._node_wires.get(node_id, ()):
                wire_item.set_highlighted(False)
        for node_id in ids:
            selected = self._nodes.get(node_id)
            if selected is not None:
                selected.setZValue(2)
            for wire_item in self._node_wires.get(node_id, ()):
                wire_item.set_highlighted(True)
        self._last_selection = ids
        if set(ids) != set(self.session.selection):
            self.session.select(ids)
        self.selectedNodesChanged.emit(ids)

    def _on_session_selection(self, event: SelectionChanged) -> None:
        if set(event.nodes) != set(self.selected_node_ids()):
            self.select_nodes(event.nodes)

    # ------------------------------------------------------------------ inference and runs

    def _wire_label(self, wire: Wire) -> str | None:
        inference = self._inference
        if inference is None:
            return None
        info = inference.ports.get(str(wire.src))
        if info is None or (info.shape is None and info.dtype is None):
            return None
        return str(info.describe())

    def _output_infos(self, node_id: str, item: NodeItem) -> dict[str, str]:
        inference = self._inference
        if inference is None:
            return {}
        infos: dict[str, str] = {}
        for name in item.outputs:
            info = inference.ports.get(f"{node_id}.{name}")
            if info is not None and (info.shape is not None or info.dtype is not None):
                infos[name] = str(info.describe())
        return infos

    def set_inference(self, inference: Inference | None) -> None:
        """Show ``inference`` (``None`` to clear): wire labels and problem badges."""
        self._inference = inference
        problems: dict[str, list[TensorBlocksError]] = {}
        if inference is not None:
            for problem in inference.problems:
                if problem.node is not None:
                    problems.setdefault(problem.node, []).append(problem)
        for node_id, item in self._nodes.items():
            item.set_problems(problems.get(node_id, []))
            item.set_output_info(self._output_infos(node_id, item))
        for wire_item in self._wires.values():
            wire_item.set_label(self._wire_label(wire_item.wire))
            dst = wire_item.wire.dst
            wire_item.set_problem(any(p.port == dst.port for p in problems.get(dst.node, [])))

    def set_run_report(self, report: RunReport | None) -> None:
        """Show ``report`` (``None`` to clear) as run badges; the session's stale nodes get a
        "stale" badge."""
        self._run_report = report
        nodes: Mapping[str, NodeReport] = {} if report is None else report.nodes
        results: Mapping[str, Any] = {} if report is None else report.results
        stale = self.session.stale
        for node_id, item in self._nodes.items():
            # The block's outputs (its thumbnail shows an image-shaped one).
            item.set_outputs({p: results[f"{node_id}.{p}"] for p in item.outputs
                              if f"{node_id}.{p}" in results})
            node_report = nodes.get(node_id)
            if node_report is None:
                item.set_run_status(None)
                continue
            item.set_run_status(*run_badge(node_report, stale=node_id in stale))

    def set_theme(self, theme: CanvasTheme) -> None:
        """Paint with ``theme`` from now on."""
        self.theme = theme
        self.setBackgroundBrush(QColor(theme.background))
        for item in self.items():
            item.update()
        if self._editor is not None:
            self._style_editor(self._editor[1])
        self.update()

    # ------------------------------------------------------------------ mouse

    def port_near(self, pos: QPointF, reach: float = PORT_REACH) -> PortItem | None:
        """The port closest to ``pos`` within ``reach`` scene px, if any."""
        area = QRectF(pos.x() - reach, pos.y() - reach, 2 * reach, 2 * reach)
        best: PortItem | None = None
        best_distance = reach * reach
        for item in self.items(area):
            if isinstance(item, PortItem) and item.isVisible():
                delta = item.scene_centre() - pos
                distance = delta.x() ** 2 + delta.y() ** 2
                if distance <= best_distance:
                    best, best_distance = item, distance
        return best

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._drag is None:
            port = self.port_near(event.scenePos())
            if port is not None and self._begin_wire_drag(port, event.scenePos()):
                event.accept()
                return
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and isinstance(
            self.mouseGrabberItem(), NodeItem
        ):
            self._snap = not bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
            self._move_start = {
                item.node_id: item.pos() for item in self._nodes.values() if item.isSelected()
            }

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._drag is not None:
            self._update_wire_drag(event.scenePos())
            event.accept()
            return
        self._snap = not bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._drag is not None:
            if event.button() == Qt.MouseButton.LeftButton:
                self._finish_wire_drag(event.scenePos())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self._move_start is not None:
            self._commit_moves()

    def context_menu(self, scene_pos: QPointF) -> QMenu:
        """The right-click menu at ``scene_pos``: on a block, what can be done to the
        selection; on empty canvas, adding a block (by category), paste and layout."""
        menu = QMenu()
        item = next((i for i in self.items(scene_pos) if isinstance(i, NodeItem)), None)
        if item is not None:
            if not item.isSelected():
                self.select_nodes([item.node_id])
            menu.addAction("Copy", self.copy_selection)
            menu.addAction("Cut", self.cut_selection)
            menu.addAction("Duplicate", self.duplicate_selection)
            menu.addAction("Disconnect", self.disconnect_selection)
            self._group_port_actions(menu, item.node_id)
            menu.addSeparator()
            menu.addAction("Delete", self.delete_selection)
            return menu
        add = menu.addMenu("Add block")
        for category, specs in self.model.registry.categories().items():
            add.addSection(category)
            for spec in specs:
                add.addAction(spec.title, functools.partial(self.add_block, spec.name, scene_pos))
        menu.addAction("Paste", lambda: self.paste(scene_pos))
        menu.addSeparator()
        menu.addAction("Select all", self.select_all)
        menu.addAction("Auto-layout", self.auto_layout)
        return menu

    def _group_port_actions(self, menu: QMenu, node_id: str) -> None:
        """"Add input values_3" and "Remove input values_2" for a block with a variadic
        group; a removal that is not allowed is shown disabled, saying why."""
        group = port_group(self.model, node_id)
        if group is None:
            return
        menu.addSeparator()
        add = menu.addAction(f"Add input {group.next_port}",
                             functools.partial(self.add_group_port, node_id))
        add_problem = port_add_problem(self.model, node_id)
        add.setEnabled(add_problem is None)
        remove = menu.addAction(f"Remove input {group.last_port}",
                                functools.partial(self.remove_group_port, node_id))
        problem = port_removal_problem(self.model, node_id)
        remove.setEnabled(problem is None)
        if problem is not None:
            remove.setText(f"Remove input {group.last_port} ({problem})")

    def contextMenuEvent(self, event: QGraphicsSceneContextMenuEvent) -> None:
        if self._drag is not None:
            return
        self.context_menu(event.scenePos()).exec(event.screenPos())
        event.accept()

    def disconnect_selection(self) -> None:
        """Remove every wire into or out of the selected blocks (one undo step)."""
        chosen = set(self.selected_node_ids())
        doomed = [w for w in self.model.wires() if w.src.node in chosen or w.dst.node in chosen]
        if doomed:
            push_macro(
                self.undo_stack, "Disconnect", [Disconnect(self.model, w.dst) for w in doomed]
            )

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        # Double-click on empty canvas: the block search, there (as Tab does at the cursor).
        if event.button() == Qt.MouseButton.LeftButton and not self.items(event.scenePos()):
            self.quickAddRequested.emit(event.scenePos(), None)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def _commit_moves(self) -> None:
        start = self._move_start or {}
        self._move_start = None
        moves: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
        for node_id in set(start) | set(self.selected_node_ids()):
            item = self._nodes.get(node_id)
            if item is None or node_id not in self.model:
                continue
            old = self.model.node(node_id).pos
            new = (item.pos().x(), item.pos().y())
            if old != new:
                moves[node_id] = (old, new)
        if moves:
            self.undo_stack.push(MoveNodes(self.model, moves))

    # ------------------------------------------------------------------ wiring

    def _begin_wire_drag(self, port: PortItem, pos: QPointF) -> bool:
        detached: Wire | None = None
        detached_item: WireItem | None = None
        if port.is_output:
            fixed, from_output = port, True
        else:
            detached = self.model.wire_into(port.ref)
            if detached is not None:
                source = self.port_item(detached.src, output=True)
                if source is None:
                    return False
                fixed, from_output = source, True
                detached_item = self._wires.get(detached.dst)
                if detached_item is not None:
                    detached_item.setVisible(False)
            elif not port.wirable:
                kind = port.kind.value if port.kind else "typed"
                self.statusMessage.emit(
                    f"'{port.ref}' is a {kind} port: it takes a typed value, not a wire"
                )
                return False
            else:
                fixed, from_output = port, False
        pending = PendingWire(fixed.scene_centre(), from_output=from_output)
        self.addItem(pending)
        pending.move_to(pos)
        self._drag = _WireDrag(fixed, from_output, pending, detached, detached_item, set())
        self.wire_drag_active = True
        self._highlight_compatible(self._drag)
        return True

    def _highlight_compatible(self, drag: _WireDrag) -> None:
        """Grow the ports the drag may end on and fade the others (without a per-port
        cycle search: one ancestor/descendant set for the whole drag)."""
        fixed_node = drag.fixed.node_item.node_id
        if drag.from_output:
            forbidden = self.model.upstream(fixed_node) | {fixed_node}
        else:
            forbidden = self.model.downstream(fixed_node) | {fixed_node}
        compatible: set[PortItem] = set()
        for node_id, node_item in self._nodes.items():
            ports = node_item.inputs if drag.from_output else node_item.outputs
            ok_node = node_id not in forbidden
            for port in ports.values():
                if ok_node and port.wirable:
                    compatible.add(port)
                    port.set_state(PortItem.COMPATIBLE)
                else:
                    port.set_state(PortItem.INCOMPATIBLE)
            for port in (node_item.outputs if drag.from_output else node_item.inputs).values():
                port.set_state(PortItem.INCOMPATIBLE)
        drag.fixed.set_state(PortItem.TARGET)
        drag.compatible = compatible

    def handle_near(self, pos: QPointF, reach: float = PORT_REACH) -> AddPortHandle | None:
        """The "+" handle whose circle is within ``reach`` scene px of ``pos``, if any."""
        area = QRectF(pos.x() - reach, pos.y() - reach, 2 * reach, 2 * reach)
        for item in self.items(area):
            if isinstance(item, AddPortHandle) and item.isVisible():
                delta = item.scene_centre() - pos
                if delta.x() ** 2 + delta.y() ** 2 <= reach * reach:
                    return item
        return None

    def _drop_handle(self, drag: _WireDrag, pos: QPointF) -> AddPortHandle | None:
        """The "+" a drop at ``pos`` would add a wired port to: a drag from an output,
        over the handle of another block it may feed."""
        if not drag.from_output:
            return None
        handle = self.handle_near(pos)
        if handle is None or self._closes_cycle(drag.fixed.node_item.node_id,
                                                handle.node_item.node_id):
            return None
        return handle

    def _closes_cycle(self, src: str, dst: str) -> bool:
        """Whether a wire from node ``src`` into node ``dst`` would close a cycle."""
        return src == dst or src in self.model.downstream(dst)

    def _update_wire_drag(self, pos: QPointF) -> None:
        drag = self._drag
        assert drag is not None
        handle = self._drop_handle(drag, pos)
        if handle is not drag.handle:
            if drag.handle is not None:
                drag.handle.set_hot(False)
            if handle is not None:
                handle.set_hot(True)
            drag.handle = handle
        target = self.port_near(pos)
        if target is not None and target not in drag.compatible:
            target = None
        if target is not drag.target:
            if drag.target is not None:
                drag.target.set_state(PortItem.COMPATIBLE)
            if target is not None:
                target.set_state(PortItem.TARGET)
            drag.target = target
        if target is None and handle is not None:
            drag.pending.move_to(handle.scene_centre())
        else:
            drag.pending.move_to(target.scene_centre() if target is not None else pos)

    def _end_wire_drag(self) -> None:
        drag = self._drag
        self._drag = None
        self.wire_drag_active = False
        if drag is None:
            return
        self.removeItem(drag.pending)
        if drag.handle is not None and shiboken6.isValid(drag.handle):
            drag.handle.set_hot(False)
        for node_item in self._nodes.values():
            for port in (*node_item.inputs.values(), *node_item.outputs.values()):
                port.set_state(PortItem.NORMAL)
        item = drag.detached_item
        if item is not None and shiboken6.isValid(item) and item.scene() is self:
            item.setVisible(True)

    def _finish_wire_drag(self, pos: QPointF) -> None:
        drag = self._drag
        assert drag is not None
        target = self.port_near(pos)
        handle = self._drop_handle(drag, pos) if target is None else None
        self._end_wire_drag()
        if handle is not None:
            self.add_group_port(handle.node_item.node_id, src=drag.fixed.ref, lift=drag.detached)
            return
        if target is None:
            if drag.detached is not None:
                self.undo_stack.push(Disconnect(self.model, drag.detached.dst))
            else:
                self.quickAddRequested.emit(pos, drag.fixed.ref)
            return
        if drag.detached is not None and target.ref == drag.detached.dst and not target.is_output:
            return  # put back where it was
        if target.is_output == drag.fixed.is_output:
            both = "outputs" if target.is_output else "inputs"
            self.statusMessage.emit(
                f"Cannot connect {drag.fixed.ref} and {target.ref}: both are {both}; "
                "drag from an output to an input"
            )
            return
        src, dst = (drag.fixed, target) if drag.from_output else (target, drag.fixed)
        self.connect_ports(src.ref, dst.ref, lift=drag.detached)

    def connect_ports(self, src: PortRef, dst: PortRef, *, lift: Wire | None = None) -> bool:
        """Wire ``src -> dst`` through the undo stack (moving ``lift`` there, if given).

        A refusal goes to ``statusMessage``; returns whether the wire was made.
        """
        reason = self.model.can_connect(src, dst)
        if reason is not None:
            self.statusMessage.emit(f"Cannot connect {src} → {dst}: {reason}")
            return False
        if lift is not None and lift.dst != dst:
            push_macro(
                self.undo_stack,
                f"Re-wire {src} → {dst}",
                [Disconnect(self.model, lift.dst), Connect(self.model, src, dst)],
            )
        else:
            existing = self.model.wire_into(dst)
            if existing is not None and existing.src == src:
                return True
            self.undo_stack.push(Connect(self.model, src, dst))
        return True

    def add_group_port(
        self, node_id: str, *, src: PortRef | None = None, lift: Wire | None = None
    ) -> str | None:
        """Add the next port of ``node_id``'s variadic group (one undo step); with ``src``,
        wire it from there too (moving ``lift``, the wire being dragged off an input, if
        given). Returns the new port's name; a refusal goes to ``statusMessage``."""
        if node_id not in self.model:
            return None
        problem = port_add_problem(self.model, node_id)
        group = port_group(self.model, node_id)
        if problem is not None or group is None:
            self.statusMessage.emit(f"Cannot add an input to {node_id}: {problem}")
            return None
        port = PortRef(node_id, group.next_port)
        grow = SetPortCount(self.model, node_id, group.group.name, group.count + 1)
        if src is None:
            self.undo_stack.push(grow)
            return port.port
        if self._closes_cycle(src.node, node_id):
            self.statusMessage.emit(f"Cannot connect {src} → {port}: it would make a cycle")
            return None
        commands: list[QUndoCommand] = []
        if lift is not None:
            commands.append(Disconnect(self.model, lift.dst))
        commands += [grow, Connect(self.model, src, port)]
        push_macro(self.undo_stack, f"Add {port} wired from {src}", commands)
        return port.port

    def remove_group_port(self, node_id: str) -> bool:
        """Remove the last (unwired) port of ``node_id``'s variadic group, one undo step;
        a refusal (:func:`graph.edits.port_removal_problem`) goes to ``statusMessage``."""
        problem = port_removal_problem(self.model, node_id)
        group = port_group(self.model, node_id)
        if problem is not None or group is None:
            self.statusMessage.emit(f"Cannot remove an input of {node_id}: {problem}")
            return False
        self.undo_stack.push(
            SetPortCount(self.model, node_id, group.group.name, group.count - 1)
        )
        return True

    # ------------------------------------------------------------------ adding blocks

    def compatible_blocks(self, from_port: PortRef | None) -> list[BlockSpec]:
        """The blocks that can be added wired to ``from_port`` (all when ``None``)."""
        specs = list(self.model.registry.values())
        if from_port is None:
            return specs
        if self._port_is_output(from_port):
            return [s for s in specs if first_wirable_input(s) is not None]
        return [s for s in specs if s.outputs]

    def _port_is_output(self, ref: PortRef) -> bool:
        node = self._nodes.get(ref.node)
        return node is not None and ref.port in node.outputs

    def add_block(
        self, block: str, scene_pos: QPointF, from_port: PortRef | None = None
    ) -> str | None:
        """Add ``block`` at ``scene_pos`` (wired to ``from_port`` when given), one undo step.

        With ``from_port`` an output, the new block's first wirable input is placed under
        the cursor and fed by it; with an input, the new block's first output feeds it.
        Returns the new node id (and selects it).
        """
        spec = self.model.registry.get(block)
        if spec is None:
            self.statusMessage.emit(f"Unknown block '{block}'")
            return None
        node_id = self.model.unique_id(snake_case(block))
        probe = NodeItem(Node(node_id, block), spec)  # for port offsets; never shown
        x, y = scene_pos.x(), scene_pos.y()
        wire: tuple[PortRef, PortRef] | None = None
        if from_port is not None:
            if self._port_is_output(from_port):
                port_name = first_wirable_input(spec)
                if port_name is not None:
                    offset = probe.inputs[port_name].pos()
                    x, y = x - offset.x(), y - offset.y()
                    wire = (from_port, PortRef(node_id, port_name))
            elif spec.outputs:
                offset = probe.outputs[spec.outputs[0].name].pos()
                x, y = x - offset.x(), y - offset.y()
                wire = (PortRef(node_id, spec.outputs[0].name), from_port)
        x, y = round(x / GRID) * GRID, round(y / GRID) * GRID
        commands: list[QUndoCommand] = [AddNode(self.model, block, node_id, pos=(x, y))]
        if wire is not None:
            commands.append(Connect(self.model, *wire))
        if len(commands) == 1:
            self.undo_stack.push(commands[0])
        else:
            push_macro(self.undo_stack, f"Add {block}", commands)
        self.select_nodes([node_id])
        return node_id

    # ------------------------------------------------------------------ literal editing

    def edit_literal(self, node_id: str, port: str) -> LiteralEditor | None:
        """Open the inline editor on input ``port`` of ``node_id`` (returns the line edit)."""
        item = self._nodes.get(node_id)
        rect = None if item is None else item.field_scene_rect(port)
        if item is None or rect is None:
            return None
        self._close_editor(commit=True)
        spec = item.inputs[port].spec if port in item.inputs else None
        current = self.model.node(node_id).literals.get(port)
        placeholder = spec.default if spec is not None and spec.default is not None else ""
        editor = LiteralEditor(current or "", placeholder, _completions(spec))
        self._style_editor(editor)
        proxy = self.addWidget(editor)
        proxy.setZValue(100)
        proxy.setGeometry(rect.adjusted(0, -1, 0, 1))
        editor.committed.connect(lambda text: self._commit_literal(node_id, port, text))
        editor.cancelled.connect(lambda: self._close_editor(commit=False))
        self._editor = (proxy, editor, node_id, port)
        self.setFocusItem(proxy)
        editor.setFocus()
        editor.selectAll()
        return editor

    def literal_editor(self) -> LiteralEditor | None:
        """The open inline editor, if any."""
        return None if self._editor is None else self._editor[1]

    def _style_editor(self, editor: LiteralEditor) -> None:
        theme = self.theme
        editor.setStyleSheet(
            f"QLineEdit {{ background: {theme.field_background}; color: {theme.field_text};"
            f" border: 1.5px solid {theme.highlight}; border-radius: 3px; padding: 0 3px; }}"
        )

    def _commit_literal(self, node_id: str, port: str, text: str) -> None:
        self._close_editor(commit=False)
        if node_id not in self.model:
            return
        value: str | None = text.strip() or None
        if self.model.node(node_id).literals.get(port) == value:
            return
        self.undo_stack.push(SetLiteral(self.model, node_id, port, value))
        item = self._nodes.get(node_id)
        if item is not None and port in item.literal_errors:
            self.statusMessage.emit(
                f"{node_id}.{port}: {item.literal_errors[port]} — kept as typed; "
                "the block cannot run until it is fixed"
            )

    def _close_editor(self, *, commit: bool) -> None:
        if self._editor is None:
            return
        proxy, editor, node_id, port = self._editor
        self._editor = None
        if commit and shiboken6.isValid(editor) and not editor._done:
            editor._done = True
            self._commit_literal(node_id, port, editor.text())
        if shiboken6.isValid(proxy):
            proxy.hide()
            # Removing the widget from inside its own signal would delete it mid-call.
            QTimer.singleShot(0, lambda: self._drop_proxy(proxy))

    def _drop_proxy(self, proxy: QGraphicsProxyWidget) -> None:
        if shiboken6.isValid(proxy) and proxy.scene() is self:
            self.removeItem(proxy)
            proxy.deleteLater()

    # ------------------------------------------------------------------ editing commands

    def delete_selection(self) -> None:
        """Delete the selected blocks and wires (one undo step)."""
        node_ids = self.selected_node_ids()
        doomed = set(node_ids)
        wires = [
            item.wire
            for item in self.selectedItems()
            if isinstance(item, WireItem)
            and item.wire.src.node not in doomed
            and item.wire.dst.node not in doomed
        ]
        commands: list[QUndoCommand] = []
        if node_ids:
            commands.append(RemoveNodes(self.model, node_ids))
        commands += [Disconnect(self.model, wire.dst) for wire in wires]
        if len(commands) == 1:
            self.undo_stack.push(commands[0])
        elif commands:
            push_macro(self.undo_stack, "Delete", commands)

    def copy_selection(self) -> None:
        """Put the selected blocks (and the wires among them) on the clipboard as graph JSON."""
        ids = self.selected_node_ids()
        if not ids:
            self.statusMessage.emit("Nothing selected to copy")
            return
        text = json.dumps(graph_dict(self.model, ids), indent=2)
        mime = QMimeData()
        mime.setText(text)
        mime.setData(GRAPH_MIME, text.encode("utf-8"))
        QGuiApplication.clipboard().setMimeData(mime)
        self._paste_serial = 0
        self.statusMessage.emit(f"Copied {len(ids)} block{'s' if len(ids) != 1 else ''}")

    def cut_selection(self) -> None:
        """Copy, then delete the selection."""
        if self.selected_node_ids():
            self.copy_selection()
            self.delete_selection()

    def paste(self, pos: QPointF | None = None) -> list[str]:
        """Paste graph JSON from the clipboard: at ``pos`` (scene) or shifted from the
        originals; the pasted blocks get fresh ids and are selected. Returns their ids."""
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return []
        if mime.hasFormat(GRAPH_MIME):
            text = bytes(mime.data(GRAPH_MIME).data()).decode("utf-8", "replace")
        else:
            text = mime.text()
        try:
            data = json.loads(text)
        except ValueError:
            self.statusMessage.emit("The clipboard holds no TensorBlocks graph")
            return []
        if text == self._last_paste_text:
            self._paste_serial += 1
        else:
            self._paste_serial = 1
        self._last_paste_text = text
        return self._paste_data(data, pos, "Paste", shift=40.0 * self._paste_serial)

    def _paste_data(self, data: Any, pos: QPointF | None, text: str, shift: float) -> list[str]:
        try:
            probe = PasteGraph(self.model, data)
        except TensorBlocksError as error:
            self.statusMessage.emit(f"Cannot paste: {error}")
            return []
        nodes = data.get("nodes", []) if isinstance(data, dict) else []
        xs = [float(n["pos"][0]) for n in nodes if isinstance(n, dict) and "pos" in n]
        ys = [float(n["pos"][1]) for n in nodes if isinstance(n, dict) and "pos" in n]
        left, top = (min(xs), min(ys)) if xs and ys else (0.0, 0.0)
        if pos is not None:
            offset = (round((pos.x() - left) / GRID) * GRID, round((pos.y() - top) / GRID) * GRID)
        else:
            offset = (shift, shift)
        probe.offset = offset
        probe.setText(text if text != "Paste" else probe.text())
        self.undo_stack.push(probe)
        self.select_nodes(probe.node_ids)
        return list(probe.node_ids)

    def duplicate_selection(self) -> list[str]:
        """Duplicate the selected blocks (with the wires among them) next to the originals."""
        ids = self.selected_node_ids()
        if not ids:
            return []
        return self._paste_data(graph_dict(self.model, ids), None, "Duplicate", shift=40.0)

    def auto_layout(self) -> None:
        """Arrange the blocks in columns by topological generation (one undo step)."""
        sizes = {node_id: (item.width, item.height) for node_id, item in self._nodes.items()}
        positions = layered_positions(self.model, sizes)
        moves = {
            node_id: (self.model.node(node_id).pos, pos)
            for node_id, pos in positions.items()
            if self.model.node(node_id).pos != pos
        }
        if moves:
            self.undo_stack.push(MoveNodes(self.model, moves, text="Auto-layout"))

    def select_all(self) -> None:
        """Select every block."""
        self.select_nodes(self._nodes)

    def nudge_selection(self, dx: float, dy: float) -> None:
        """Move the selected blocks by (dx, dy); repeated nudges merge into one undo step."""
        moves = {}
        for node_id in self.selected_node_ids():
            x, y = self.model.node(node_id).pos
            moves[node_id] = ((x, y), (x + dx, y + dy))
        if moves:
            self.undo_stack.push(MoveNodes(self.model, moves, merge_key="nudge"))

    def cancel_interaction(self) -> None:
        """Esc: drop a wire being dragged, close an editor."""
        if self._drag is not None:
            self._end_wire_drag()
        self._close_editor(commit=False)


def _completions(port: InputPort | None) -> list[str]:
    """What the inline editor offers for ``port``: its choices, or the dtype names."""
    if port is None:
        return []
    if port.choices:
        return [choice for choice in port.choices if choice]
    if port.kind is PortKind.DTYPE:
        return [dtype_name(dtype) for dtype in supported_dtypes()]
    return []
