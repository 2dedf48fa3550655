"""The inspector: everything about the selected block, editable through undo commands.

Contract:

* ``Inspector(session, undo_stack)`` takes a :class:`~graph.session.Session` and connects
  to its events: model changes keep it current (a rename follows the node, a removal
  empties the view, literal and attrs changes update the fields in place so typing is never
  interrupted); the selection chooses the node shown (its current node; none: a
  placeholder); inference gives inferred shapes and problems, the report and stale events
  the latest run's status and time (marked stale when the node was edited since); the path
  event the folder file names are made relative to. ``set_node``, ``set_inference`` and
  ``set_run_report`` do the same by hand.
* Everything shown comes from the block's declaration (:class:`~blocks.spec.BlockSpec`):
  title, doc, each input port (kind, doc, default, choices), each attr, each output.
* Node id: edited in a field; an invalid or taken id is refused with an inline message;
  a valid one is applied with :class:`~app.commands.RenameNode`.
* A block with a variadic input group (ConcatV2's ``values``) shows the node's number of
  ports in a spin box above its inputs (the group's min to max); a new value is applied
  with :class:`~app.commands.SetPortCount` (lowering it drops the wires and literals of
  the ports that go; undo restores them). The ports listed are the node's
  (:func:`blocks.spec.node_inputs`).
* Input ports: a wired port shows its source (and a button to disconnect); an unwired one
  has an editor — a combo of the choices for a STRING port with choices, an editable combo
  of ``DT_*`` names for a DTYPE port, otherwise a line edit with the default as
  placeholder. Text is judged as it is typed (:func:`graph.resolve.check_literal`, the rule
  validation uses) and a problem is shown in red under the field; the literal is applied with
  :class:`~app.commands.SetLiteral` on Enter or focus-out only when it parses (an empty
  field clears the literal, so the default applies).
* Attrs: a form generated from the declaration (a check box per bool, a combo per string
  with choices, a line edit otherwise) AND the raw enuSpace attrs string, kept in sync:
  a form edit writes the canonical string (:func:`~blocks.attrs.format_attrs`) with
  :class:`~app.commands.SetAttrs`; typing in the string updates the form as it parses and
  is applied (canonically) on Enter or focus-out; a string that does not parse shows its
  :class:`~blocks.errors.AttrsError` inline and is not applied.
* Outputs: the inferred shape and dtype of each output, the node's problems, and the
  latest run's status and time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.commands import Disconnect, RenameNode, SetAttrs, SetLiteral, SetPortCount
from app.style import LIGHT, Theme, block_icon
from app.subscriptions import Subscriptions
from blocks.attrs import format_attrs, parse_attrs
from blocks.errors import AttrsError, TensorBlocksError
from blocks.literals import describe_kind, dtype_name, format_literal, supported_dtypes
from blocks.spec import AttrValue, BlockSpec, InputPort, PortKind, TensorInfo
from graph.edits import port_group
from graph.engine import RunReport
from graph.infer import Inference
from graph.model import (
    NODE_ID,
    AttrsChanged,
    GraphEvent,
    GraphModel,
    GraphReset,
    LiteralChanged,
    NodeAdded,
    NodeMoved,
    NodeRemoved,
    NodeRenamed,
    PortCountChanged,
    PortRef,
    WireAdded,
    WireRemoved,
)
from graph.resolve import literal_dtype, literal_problem
from graph.session import Session
from graph.text import as_plain_html

#: How an empty string choice is shown in a combo box.
EMPTY_CHOICE = '""  (empty)'


def dtype_choices() -> list[str]:
    """The ``DT_*`` names a DTYPE combo offers."""
    return [dtype_name(dtype) for dtype in supported_dtypes()]


def _label(text: str, name: str, parent: QWidget | None = None, *, wrap: bool = False) -> QLabel:
    label = QLabel(text, parent)
    label.setTextFormat(Qt.TextFormat.PlainText)  # names and messages come from files
    label.setObjectName(name)
    label.setWordWrap(wrap)
    if wrap:
        label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _set_invalid(widget: QWidget, invalid: bool) -> None:
    if widget.property("invalid") != invalid:
        widget.setProperty("invalid", invalid)
        widget.style().unpolish(widget)
        widget.style().polish(widget)


class _PortRow:
    """The widgets of one input port."""

    def __init__(self, port: InputPort) -> None:
        self.port = port
        self.editor: QWidget | None = None  # QLineEdit | QComboBox
        self.error = _label("", "error", wrap=True)
        self.error.hide()
        self.info = _label("", "info")
        self.typed_error: str | None = None  # the parse error of the text being typed

    def text(self) -> str:
        if isinstance(self.editor, QLineEdit):
            return self.editor.text()
        if isinstance(self.editor, QComboBox):
            text = self.editor.currentText()
            return "" if text == EMPTY_CHOICE else text
        return ""

    def set_text(self, text: str) -> None:
        editor = self.editor
        if isinstance(editor, QLineEdit):
            if editor.text() != text:
                editor.setText(text)
        elif isinstance(editor, QComboBox):
            editor.blockSignals(True)
            index = editor.findText(text)
            if index < 0 and not editor.isEditable():
                editor.addItem(text)
                index = editor.findText(text)
            if editor.isEditable():
                editor.setEditText(text)
            else:
                editor.setCurrentIndex(index)
            editor.blockSignals(False)


class Inspector(QScrollArea):
    """Shows and edits the selected node; see the module docstring."""

    statusMessage = Signal(str)
    #: The node the inspector shows was renamed through it (the new id).
    nodeRenamed = Signal(str)

    def __init__(
        self, session: Session, undo_stack: QUndoStack, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.model: GraphModel = session.model
        self.undo_stack = undo_stack
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._node_id: str | None = None
        self._inference: Inference | None = session.inference
        self._report: RunReport | None = session.report
        self._theme: Theme = LIGHT
        self._rebuild_pending = False
        self._rebuilding = False
        # Widgets of the current view (rebuilt with it); tests reach them through these.
        self.id_edit: QLineEdit | None = None
        self.id_error: QLabel | None = None
        self.ports: dict[str, _PortRow] = {}
        self.attr_widgets: dict[str, QWidget] = {}
        self.attrs_edit: QLineEdit | None = None
        self.attrs_error: QLabel | None = None
        self.output_labels: dict[str, QLabel] = {}
        self.problem_labels: list[QLabel] = []
        #: The number of ports of the node's variadic group (``None``: it has none).
        self.port_count_spin: QSpinBox | None = None
        self.run_label: QLabel | None = None
        self.subscriptions = Subscriptions(self)
        self.subscriptions.follow(
            session.events,
            model=self._on_event,
            inference=lambda event: self.set_inference(event.inference),
            report=lambda event: self.set_run_report(event.report),
            stale=lambda _event: self._update_run(),
            selection=lambda event: self.set_node(event.current),
        )
        self._node_id = session.current_node
        self._rebuild()

    # ------------------------------------------------------------------ public API

    @property
    def node_id(self) -> str | None:
        """The node shown, or ``None``."""
        return self._node_id

    def set_node(self, node_id: str | None) -> None:
        """Show ``node_id`` (``None`` or an unknown id: the placeholder)."""
        if node_id is not None and node_id not in self.model:
            node_id = None
        if node_id == self._node_id and self.widget() is not None:
            return
        self._node_id = node_id
        self._rebuild()

    @property
    def base_dir(self) -> Path | None:
        """The graph file's folder: the file browser starts there and makes names relative."""
        return self.session.base_dir

    def set_inference(self, inference: Inference | None) -> None:
        """Show ``inference`` (shapes, dtypes, problems)."""
        self._inference = inference
        self._update_inference()

    def set_run_report(self, report: RunReport | None) -> None:
        """Show the latest run's status and time of the node."""
        self._report = report
        self._update_run()

    def set_theme(self, theme: Theme) -> None:
        """Redraw the glyphs for ``theme``."""
        self._theme = theme
        self._schedule_rebuild()

    def close_model(self) -> None:
        """Stop following the session."""
        self.subscriptions.disconnect_all()

    # ------------------------------------------------------------------ model events

    def _on_event(self, event: GraphEvent) -> None:
        current = self._node_id
        if isinstance(event, GraphReset):
            if current is not None and current not in self.model:
                self._node_id = None
            self._schedule_rebuild()
        elif current is None:
            if isinstance(event, NodeAdded | NodeRemoved | WireAdded | WireRemoved):
                self._schedule_rebuild()  # the placeholder counts blocks and wires
        elif isinstance(event, NodeRemoved) and event.node.id == current:
            self._node_id = None
            self._schedule_rebuild()
        elif isinstance(event, NodeRenamed) and event.old_id == current:
            self._node_id = event.new_id
            if self.id_edit is not None:
                self.id_edit.setText(event.new_id)
                self._show_id_error(None)
        elif isinstance(event, WireAdded | WireRemoved):
            if current in (event.wire.dst.node, event.wire.src.node):
                self._schedule_rebuild()
        elif isinstance(event, LiteralChanged) and event.node == current:
            self._update_literal(event.port)
        elif isinstance(event, AttrsChanged) and event.node == current:
            self._update_attrs()
        elif isinstance(event, PortCountChanged) and event.node == current:
            self._schedule_rebuild()
        elif isinstance(event, NodeMoved):
            pass

    def _schedule_rebuild(self) -> None:
        # Rebuilding inside a signal of a widget that is about to be deleted is unsafe;
        # a zero timer rebuilds once after the current event, however many events came.
        if not self._rebuild_pending:
            self._rebuild_pending = True
            QTimer.singleShot(0, self._rebuild)

    # ------------------------------------------------------------------ building

    def _rebuild(self) -> None:
        # Removing the old fields moves the focus out of them, which would apply a
        # half-typed value to the node shown next: edits are ignored while rebuilding.
        self._rebuilding = True
        try:
            self._build()
        finally:
            self._rebuilding = False

    def _build(self) -> None:
        self._rebuild_pending = False
        scroll = self.verticalScrollBar().value()
        self.id_edit = self.id_error = self.attrs_edit = self.attrs_error = self.run_label = None
        self.port_count_spin = None
        self.ports, self.attr_widgets, self.output_labels, self.problem_labels = {}, {}, {}, []
        content = QWidget()
        content.setObjectName("inspectorContent")
        layout = QVBoxLayout(content)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.setSpacing(4)
        node_id = self._node_id
        if node_id is None or node_id not in self.model:
            self._node_id = None
            self._build_placeholder(layout)
        else:
            self._build_node(layout, node_id)
        layout.addStretch(1)
        old = self.takeWidget()
        if old is not None:
            old.hide()
            old.deleteLater()
        self.setWidget(content)
        self.verticalScrollBar().setValue(scroll)
        self._update_inference()
        self._update_run()

    def _build_placeholder(self, layout: QVBoxLayout) -> None:
        count = len(self.model)
        wires = len(self.model.wires())
        text = "Select a block to inspect it."
        if count:
            text += f"\n\n{count} block{'s' * (count != 1)}, {wires} wire{'s' * (wires != 1)}"
        else:
            text += "\n\nDouble-click a block in the palette, or drag it onto the canvas."
        label = _label(text, "placeholder", wrap=True)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(label)

    def _section(self, layout: QVBoxLayout, title: str) -> None:
        layout.addWidget(_label(title.upper(), "sectionHeader"))

    def _build_node(self, layout: QVBoxLayout, node_id: str) -> None:
        node = self.model.node(node_id)
        spec = self.model.registry.get(node.block)

        # Header: glyph, title, block name and category, doc.
        header = QHBoxLayout()
        header.setSpacing(8)
        glyph = QLabel()
        colour = spec.color if spec is not None else self._theme.error
        glyph.setPixmap(block_icon(node.block, colour, self._theme).pixmap(28, 28))
        header.addWidget(glyph, 0, Qt.AlignmentFlag.AlignTop)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        titles.addWidget(_label(spec.title if spec else node.block, "blockTitle"))
        titles.addWidget(
            _label(f"{node.block} · {spec.category}" if spec else "unknown block", "blockName")
        )
        header.addLayout(titles, 1)
        layout.addLayout(header)
        if spec is not None:
            layout.addWidget(_label(spec.doc, "doc", wrap=True))
        else:
            known = ", ".join(self.model.registry)
            layout.addWidget(
                _label(f"No block '{node.block}' is known ({known}).", "error", wrap=True)
            )

        self._section(layout, "Node")
        self.id_edit = QLineEdit(node_id)
        self.id_edit.setToolTip("The node id: letters, digits, _ and -, not starting with a digit")
        self.id_edit.textEdited.connect(self._on_id_edited)
        self.id_edit.editingFinished.connect(self._apply_id)
        self.id_error = _label("", "error", wrap=True)
        self.id_error.hide()
        id_row = QFormLayout()
        id_row.setContentsMargins(0, 4, 0, 0)
        id_row.addRow("id", self.id_edit)
        layout.addLayout(id_row)
        layout.addWidget(self.id_error)

        if spec is None:
            self._section(layout, "Problems")
            self._build_problems(layout)
            return

        inputs = self.model.inputs_of(node_id) or ()
        if inputs:
            self._section(layout, "Inputs")
            self._build_port_count(layout, node_id)
            for port in inputs:
                self._build_port(layout, node_id, spec, port)
        if spec.attrs:
            self._section(layout, "Attrs")
            self._build_attrs(layout, spec, node.attrs)
        self._section(layout, "Outputs")
        for output in spec.outputs:
            row = QHBoxLayout()
            name = _label(output.name, "portName")
            name.setToolTip(output.doc)
            row.addWidget(name)
            row.addStretch(1)
            info = _label("?", "info")
            row.addWidget(info)
            layout.addLayout(row)
            self.output_labels[output.name] = info
        self.run_label = _label("", "muted", wrap=True)
        layout.addWidget(self.run_label)
        self._build_problems(layout)

    def _build_port_count(self, layout: QVBoxLayout, node_id: str) -> None:
        """The spin box of the node's variadic group's number of ports (if it has one)."""
        group = port_group(self.model, node_id)
        if group is None:
            return
        spin = QSpinBox()
        spin.setRange(group.group.min_count, group.group.max_count)
        spin.setValue(group.count)
        # Applied on Enter, focus-out or an arrow step, not on each digit typed.
        spin.setKeyboardTracking(False)
        spin.setToolTip(
            f"How many '{group.group.name}' inputs this block has "
            f"({group.group.name}_0 .. {group.group.name}_{{N-1}}); lowering it drops the "
            "wires and values of the inputs that go (undo brings them back)"
        )
        spin.valueChanged.connect(
            lambda value, node=node_id, name=group.group.name: self._apply_port_count(
                node, name, value)
        )
        form = QFormLayout()
        form.setContentsMargins(0, 4, 0, 0)
        form.addRow(f"{group.group.name} ports", spin)
        layout.addLayout(form)
        self.port_count_spin = spin

    def _apply_port_count(self, node_id: str, group: str, count: int) -> None:
        if self._rebuilding or node_id not in self.model:
            return
        current = port_group(self.model, node_id)
        if current is not None and current.count != count:
            self._push(SetPortCount(self.model, node_id, group, count))

    def _build_problems(self, layout: QVBoxLayout) -> None:
        self._problem_box = QVBoxLayout()
        self._problem_box.setSpacing(2)
        layout.addLayout(self._problem_box)

    def _build_port(
        self, layout: QVBoxLayout, node_id: str, spec: BlockSpec, port: InputPort
    ) -> None:
        row = _PortRow(port)
        self.ports[port.name] = row
        top = QHBoxLayout()
        top.setContentsMargins(0, 6, 0, 0)
        name = _label(port.name, "portName")
        tip = (
            f"{port.doc}\n{describe_kind(port.kind, port.dtype)}"
            if port.doc
            else describe_kind(port.kind)
        )
        name.setToolTip(tip)
        top.addWidget(name)
        required = "" if port.required else " · optional"
        top.addWidget(_label(port.kind.value + required, "portKind"))
        top.addStretch(1)
        top.addWidget(row.info)
        layout.addLayout(top)

        wire = self.model.wire_into(PortRef(node_id, port.name))
        if wire is not None:
            line = QHBoxLayout()
            source = _label(f"← {wire.src}", "wiredFrom")
            source.setToolTip("wired: the wire takes precedence over a typed value")
            line.addWidget(source, 1)
            unplug = QToolButton()
            unplug.setText("✕")
            unplug.setToolTip(f"Disconnect {wire.src} → {wire.dst}")
            unplug.clicked.connect(
                lambda _=False, dst=wire.dst: self._push(Disconnect(self.model, dst))
            )
            line.addWidget(unplug)
            layout.addLayout(line)
            layout.addWidget(row.error)
            return

        literal = self.model.node(node_id).literals.get(port.name)
        if port.kind is PortKind.STRING and port.choices:
            combo = QComboBox()
            combo.addItems([c if c else EMPTY_CHOICE for c in port.choices])
            row.editor = combo
            row.set_text(literal if literal is not None else (port.default or ""))
            combo.activated.connect(lambda _i, r=row: self._apply_literal(r))
            layout.addWidget(combo)
        elif port.kind is PortKind.DTYPE:
            combo = QComboBox()
            combo.setEditable(True)
            combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            combo.addItems(dtype_choices())
            row.editor = combo
            row.set_text(literal if literal is not None else (port.default or ""))
            combo.activated.connect(lambda _i, r=row: self._apply_literal(r))
            combo_edit = combo.lineEdit()
            if combo_edit is not None:
                combo_edit.setPlaceholderText(port.default or "")
                combo_edit.textEdited.connect(lambda _t, r=row: self._check_literal(r))
                combo_edit.editingFinished.connect(lambda r=row: self._apply_literal(r))
            layout.addWidget(combo)
        else:
            edit = QLineEdit(literal or "")
            edit.setPlaceholderText(
                f"default: {port.default}"
                if port.default is not None
                else (describe_kind(port.kind, port.dtype) if port.required else "not set")
            )
            edit.setToolTip(tip)
            edit.setClearButtonEnabled(True)
            row.editor = edit
            edit.textChanged.connect(lambda _t, r=row: self._check_literal(r))
            edit.editingFinished.connect(lambda r=row: self._apply_literal(r))
            if port.kind is PortKind.PATH:
                line = QHBoxLayout()
                line.addWidget(edit, 1)
                browse = QPushButton("…")
                browse.setObjectName("browseButton")
                browse.setToolTip("Choose a file")
                browse.clicked.connect(lambda _=False, r=row: self._browse(r))
                line.addWidget(browse)
                layout.addLayout(line)
            else:
                layout.addWidget(edit)
        layout.addWidget(row.error)
        self._check_literal(row)

    def _build_attrs(self, layout: QVBoxLayout, spec: BlockSpec, text: str) -> None:
        form = QFormLayout()
        form.setContentsMargins(0, 4, 0, 0)
        form.setHorizontalSpacing(10)
        for attr in spec.attrs:
            widget: QWidget
            if attr.type is bool:
                box = QCheckBox(attr.name)
                box.setToolTip(attr.doc)
                box.clicked.connect(self._apply_form)
                form.addRow(box)
                widget = box
            elif attr.choices:
                combo = QComboBox()
                combo.addItems([c if c else EMPTY_CHOICE for c in attr.choices])
                combo.setToolTip(attr.doc)
                combo.activated.connect(self._apply_form)
                form.addRow(attr.name, combo)
                widget = combo
            else:
                edit = QLineEdit()
                edit.setToolTip(attr.doc)
                edit.editingFinished.connect(self._apply_form)
                form.addRow(attr.name, edit)
                widget = edit
            self.attr_widgets[attr.name] = widget
        layout.addLayout(form)
        layout.addWidget(_label("attrs string", "muted"))
        self.attrs_edit = QLineEdit(text)
        self.attrs_edit.setPlaceholderText(format_attrs(spec.default_attrs(), spec))
        self.attrs_edit.setToolTip("The enuSpace attrs string: key_ = value; for each attr")
        self.attrs_edit.textEdited.connect(self._on_attrs_edited)
        self.attrs_edit.editingFinished.connect(self._apply_attrs_text)
        layout.addWidget(self.attrs_edit)
        self.attrs_error = _label("", "error", wrap=True)
        self.attrs_error.hide()
        layout.addWidget(self.attrs_error)
        self._show_attrs_text(text)

    # ------------------------------------------------------------------ helpers

    def _spec(self) -> BlockSpec | None:
        if self._node_id is None or self._node_id not in self.model:
            return None
        return self.model.registry.get(self.model.node(self._node_id).block)

    def _push(self, command: Any) -> None:
        try:
            self.undo_stack.push(command)
        except TensorBlocksError as error:
            self.statusMessage.emit(str(error))

    # ------------------------------------------------------------------ node id

    def _id_problem(self, text: str) -> str | None:
        new = text.strip()
        if new == self._node_id:
            return None
        if not NODE_ID.match(new):
            return (
                f"'{new}' is not a valid id: use letters, digits, _ and -, "
                "starting with a letter or _"
            )
        if new in self.model:
            return f"a node '{new}' exists already"
        return None

    def _show_id_error(self, message: str | None) -> None:
        if self.id_error is None or self.id_edit is None:
            return
        self.id_error.setText(message or "")
        self.id_error.setVisible(bool(message))
        _set_invalid(self.id_edit, bool(message))

    def _on_id_edited(self, text: str) -> None:
        self._show_id_error(self._id_problem(text))

    def _apply_id(self) -> None:
        if self._rebuilding:
            return
        if self.id_edit is None or self._node_id is None:
            return
        new = self.id_edit.text().strip()
        problem = self._id_problem(new)
        self._show_id_error(problem)
        if problem is not None:
            self.statusMessage.emit(f"not renamed: {problem}")
            return
        if new != self._node_id:
            self._push(RenameNode(self.model, self._node_id, new))
            self.nodeRenamed.emit(new)

    # ------------------------------------------------------------------ literals

    def _check_literal(self, row: _PortRow) -> None:
        spec = self._spec()
        if spec is None:
            return
        text = row.text()
        node_dtype = (None if self._node_id is None
                      else literal_dtype(spec, self.model.node(self._node_id).literals))
        row.typed_error = literal_problem(row.port, text, node_dtype) if text.strip() else None
        self._show_port_error(row)

    def _show_port_error(self, row: _PortRow) -> None:
        message = row.typed_error
        if message is None and self._inference is not None and self._node_id is not None:
            for problem in self._inference.node_problems(self._node_id):
                if problem.port == row.port.name:
                    message = problem.reason
                    break
        row.error.setText(message or "")
        row.error.setVisible(bool(message))
        if row.editor is not None:
            _set_invalid(row.editor, row.typed_error is not None)

    def _apply_literal(self, row: _PortRow) -> None:
        if self._rebuilding:
            return
        if self._node_id is None or self._node_id not in self.model:
            return
        self._check_literal(row)
        if row.typed_error is not None:
            return
        text = row.text().strip()
        new = text or None
        node = self.model.node(self._node_id)
        old = node.literals.get(row.port.name)
        if isinstance(row.editor, QComboBox) and old is None and new == row.port.default:
            return  # the combo shows the default; choosing it again changes nothing
        if new != old:
            self._push(SetLiteral(self.model, self._node_id, row.port.name, new))

    def _update_literal(self, port_name: str) -> None:
        row = self.ports.get(port_name)
        if row is None or self._node_id is None:
            return
        literal = self.model.node(self._node_id).literals.get(port_name)
        shown = (
            literal
            if literal is not None
            else (row.port.default or "" if isinstance(row.editor, QComboBox) else "")
        )
        row.set_text(shown)
        # A dtype change re-types the other literals of the node.
        for other in self.ports.values():
            self._check_literal(other)

    def _browse(self, row: _PortRow) -> None:
        base = self.base_dir
        start = str(base) if base else ""
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a data file",
            start,
            "Data files (*.npy *.npz *.png *.jpg *.jpeg *.bmp);;All files (*)",
        )
        if not path or not isinstance(row.editor, QLineEdit):
            return
        text = path
        if base is not None:
            try:
                text = Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()
            except ValueError:  # another drive
                text = path
        row.editor.setText(format_literal(text, PortKind.PATH))
        self._apply_literal(row)

    # ------------------------------------------------------------------ attrs

    def _form_values(self, spec: BlockSpec) -> dict[str, AttrValue]:
        values: dict[str, AttrValue] = {}
        for attr in spec.attrs:
            widget = self.attr_widgets.get(attr.name)
            if isinstance(widget, QCheckBox):
                values[attr.name] = widget.isChecked()
            elif isinstance(widget, QComboBox):
                text = widget.currentText()
                values[attr.name] = "" if text == EMPTY_CHOICE else text
            elif isinstance(widget, QLineEdit):
                values[attr.name] = widget.text()
        return values

    def _show_form(self, spec: BlockSpec, values: dict[str, AttrValue]) -> None:
        for attr in spec.attrs:
            widget = self.attr_widgets.get(attr.name)
            value = values.get(attr.name, attr.default)
            _set_widget_value(widget, value)

    def _show_attrs_text(self, text: str) -> None:
        """Show the model's attrs ``text`` in both the string field and the form."""
        spec = self._spec()
        if spec is None or self.attrs_edit is None:
            return
        if self.attrs_edit.text() != text:
            self.attrs_edit.setText(text)
        if not self.attrs_edit.hasFocus():
            self.attrs_edit.setCursorPosition(0)  # the start of a long string, not its end
        self.attrs_edit.setToolTip(as_plain_html(text) if text else "the block's defaults")
        if not self._on_attrs_edited(text):
            # A string that does not parse: the form offers the defaults; editing it
            # replaces the bad string with a valid one.
            self._show_form(spec, spec.default_attrs())

    def _on_attrs_edited(self, text: str) -> bool:
        """Check the attrs ``text`` as typed: show its error, or show it in the form."""
        spec = self._spec()
        if spec is None or self.attrs_edit is None or self.attrs_error is None:
            return False
        try:
            values = parse_attrs(text, spec)
        except TensorBlocksError as error:
            self.attrs_error.setText(error.reason)
            self.attrs_error.show()
            _set_invalid(self.attrs_edit, True)
            return False
        self.attrs_error.hide()
        _set_invalid(self.attrs_edit, False)
        self._show_form(spec, values)
        return True

    def _apply_attrs_text(self) -> None:
        if self._rebuilding:
            return
        spec = self._spec()
        if spec is None or self.attrs_edit is None or self._node_id is None:
            return
        text = self.attrs_edit.text()
        try:
            values = parse_attrs(text, spec)
        except TensorBlocksError as error:
            self.statusMessage.emit(f"attrs not applied: {error.reason}")
            return
        canonical = format_attrs(values, spec) if text.strip() else ""
        if canonical != self.model.node(self._node_id).attrs:
            self._push(SetAttrs(self.model, self._node_id, canonical))
        elif self.attrs_edit.text() != canonical:
            self.attrs_edit.setText(canonical)

    def _apply_form(self, *_: Any) -> None:
        if self._rebuilding:
            return
        spec = self._spec()
        if spec is None or self._node_id is None:
            return
        try:
            text = format_attrs(self._form_values(spec), spec)
        except TensorBlocksError as error:
            self.statusMessage.emit(f"attrs not applied: {error.reason}")
            return
        if text != self.model.node(self._node_id).attrs:
            self._push(SetAttrs(self.model, self._node_id, text))

    def _update_attrs(self) -> None:
        if self._node_id is None:
            return
        self._show_attrs_text(self.model.node(self._node_id).attrs)

    # ------------------------------------------------------------------ inference and runs

    def _update_inference(self) -> None:
        inference = self._inference
        node_id = self._node_id
        if node_id is None:
            return
        for name, row in self.ports.items():
            info: TensorInfo | None = (
                None if inference is None else inference.ports.get(f"{node_id}.{name}")
            )
            row.info.setText("" if info is None else _describe(info, row.port.kind))
            self._show_port_error(row)
        for name, label in self.output_labels.items():
            info = None if inference is None else inference.ports.get(f"{node_id}.{name}")
            known = info is not None and (info.shape is not None or info.dtype is not None)
            label.setText(info.describe() if info is not None and known else "unknown")
        box = getattr(self, "_problem_box", None)
        if box is None:
            return
        for label in self.problem_labels:
            # Unparent now: deleteLater alone waits for an event loop, which a screenshot
            # run never enters, and the stale label would stay on screen.
            box.removeWidget(label)
            label.hide()
            label.setParent(None)
        self.problem_labels = []
        if inference is None:
            return
        port_names = set(self.ports)
        for problem in inference.node_problems(node_id):
            if problem.port in port_names and not self.ports[problem.port].error.isHidden():
                continue  # shown under its field already
            attrs_error = self.attrs_error
            if isinstance(problem, AttrsError) and attrs_error and not attrs_error.isHidden():
                continue
            where = (
                f"{problem.port}: "
                if problem.port
                else (f"{problem.attr}: " if problem.attr else "")
            )
            label = _label("⚠ " + where + problem.reason, "problem", wrap=True)
            box.addWidget(label)
            self.problem_labels.append(label)

    def _update_run(self) -> None:
        if self.run_label is None or self._node_id is None:
            return
        report = self._report
        node_report = None if report is None else report.nodes.get(self._node_id)
        if node_report is None:
            self.run_label.setText("not run yet" if report is None else "not in the last run")
            return
        ms = node_report.seconds * 1000.0
        text = f"last run: {node_report.status}"
        if node_report.status == "ran":
            text += f" in {ms:.1f} ms" if ms < 1000 else f" in {ms / 1000:.2f} s"
        stale = self.session.is_stale(self._node_id)
        if stale:
            text += " (stale: it or its inputs changed since; run again to update)"
        self.run_label.setText(text)
        self.run_label.setObjectName("error" if node_report.status == "failed"
                                     else "warning" if stale else "muted")
        self.run_label.style().unpolish(self.run_label)
        self.run_label.style().polish(self.run_label)


def _describe(info: TensorInfo, kind: PortKind) -> str:
    """What inference knows of an input port, in a few characters."""
    if kind is PortKind.TENSOR or (kind is PortKind.INT_LIST and info.value is None):
        return info.describe()
    return ""


def _set_widget_value(widget: QWidget | None, value: AttrValue) -> None:
    setter: Callable[[], None] | None = None
    if isinstance(widget, QCheckBox):
        box = widget

        def setter() -> None:
            box.setChecked(bool(value))
    elif isinstance(widget, QComboBox):
        combo = widget
        shown = EMPTY_CHOICE if value == "" else str(value)

        def setter() -> None:
            index = combo.findText(shown)
            if index < 0:
                combo.addItem(shown)
                index = combo.findText(shown)
            combo.setCurrentIndex(index)
    elif isinstance(widget, QLineEdit):
        edit = widget

        def setter() -> None:
            if edit.text() != str(value):
                edit.setText(str(value))

    if widget is not None and setter is not None:
        widget.blockSignals(True)
        setter()
        widget.blockSignals(False)
