"""The canvas items: blocks (NodeItem), their ports (PortItem), wires (WireItem), the wire
being dragged (PendingWire), badges and the inline literal editor (LiteralEditor).

Contract:

* Items mirror the model and never edit it: they show what the scene tells them
  (:meth:`NodeItem.set_node`, :meth:`NodeItem.set_wired`, :meth:`WireItem.set_label`, ...)
  and the scene turns user gestures into undo commands.
* A NodeItem is a rounded box: a header in the block's colour (``BlockSpec.color``) with the
  node id and the block title, then one row per output (port on the right) and one row per
  input (port on the left). An unwired input shows its literal, or its default greyed, in a
  field that the scene edits in place; a wired input shows only its label. A literal that
  does not parse is drawn red (it is kept in the model: the file format stores literals as
  typed, and the problem badge says why).
* Below the inputs, the block's attrs (from ``BlockSpec.attrs``) in two compact columns:
  a bool as a check box, a string as ``name: value``. A click edits one in place
  (:func:`app.canvas.face.edit_attr`: a bool toggles, choices pop up as a menu), one undo
  step; :meth:`NodeItem.set_attrs` shows a new attrs string.
* :meth:`NodeItem.set_outputs` gives the node its run results: an image-shaped output is
  shown as a live thumbnail at the bottom of the block (on by default; the "preview" check
  box above it switches it per block, :attr:`NodeItem.preview_enabled`); while the run
  badge says "stale" the thumbnail is veiled (it shows a result older than the graph).
* Level of detail: below :data:`COMPACT_LOD` zoom the block shows only its node id in a
  large font (readable at that zoom), its attrs and ports hidden; the thumbnail stays.
* Ports are coloured by :class:`~blocks.spec.PortKind`; inputs that take no wire (string,
  dtype, path) are drawn as small hollow diamonds.
* A block with a variadic input group (ConcatV2's ``values``) shows the node's ports
  (:func:`blocks.spec.node_inputs`) and, in a row under the last one, an
  :class:`AddPortHandle` — a dashed "+" on the port edge with "add values_3" beside it.
  Clicking it, or dropping a wire on it, asks the scene to add the port
  (``scene.add_group_port``); the item never edits the model itself.
* Painting never lays text out: texts are QStaticText made when the node changes, and the
  node body is cached in device coordinates (DeviceCoordinateCache).
* A wire's tensor label is its own top-level item (:class:`WireLabel`) above the blocks, so
  a block never hides it.
* Moving a node only re-routes the wires of that node (:meth:`NodeItem.itemChange` asks
  the scene to update that node's wires).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFocusEvent,
    QFont,
    QFontMetricsF,
    QImage,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QStaticText,
)
from PySide6.QtWidgets import (
    QCompleter,
    QGraphicsItem,
    QGraphicsSceneHoverEvent,
    QGraphicsSceneMouseEvent,
    QLineEdit,
    QStyleOptionGraphicsItem,
    QWidget,
)

from app.canvas import face
from app.canvas.theme import LIGHT, CanvasTheme
from blocks.errors import TensorBlocksError
from blocks.spec import BlockSpec, InputPort, PortKind, node_inputs, port_count
from graph.model import Node, PortRef, Wire
from graph.resolve import literal_dtype, literal_problem
from graph.text import as_plain_html

if TYPE_CHECKING:
    pass

HEADER_HEIGHT = 28.0
ROW_HEIGHT = 24.0
CORNER = 7.0
PORT_RADIUS = 5.5
MIN_WIDTH = 210.0
FIELD_MIN_WIDTH = 96.0
LABEL_MARGIN = 14.0
BOTTOM_PAD = 8.0
#: Below this zoom, text is not drawn (it would be unreadable anyway).
TEXT_LOD = 0.4
#: Below this zoom a block shows a large title instead of its rows (8.5 pt text would be
#: under 5 px tall); its ports are hidden too.
COMPACT_LOD = 0.6
#: The on-screen height (px) of the large title of a compact block.
COMPACT_TITLE_PX = 15.0
ATTR_ROW = 20.0
PREVIEW_ROW = 20.0
CHECK_SIZE = 10.0

_fonts: dict[str, QFont] = {}


def font(role: str) -> QFont:
    """The canvas font for ``role`` (title, subtitle, label, field, badge), made once."""
    cached = _fonts.get(role)
    if cached is None:
        cached = QFont()
        sizes = {
            "title": 9.5,
            "subtitle": 8.0,
            "label": 8.5,
            "field": 8.5,
            "badge": 7.5,
            "wire": 7.5,
            "attr": 8.0,
        }
        cached.setPointSizeF(sizes.get(role, 8.5))
        if role in ("title", "badge"):
            cached.setBold(True)
        if role == "field":
            cached.setFamilies(["DejaVu Sans Mono", "Consolas", "Menlo", "monospace"])
            cached.setStyleHint(QFont.StyleHint.Monospace)
        _fonts[role] = cached
    return cached


def _static(text: str, role: str) -> QStaticText:
    """A laid-out text; identical texts share one (port names, defaults, dtypes repeat a lot)."""
    key = (text, role)
    static = _statics.get(key)
    if static is None:
        if len(_statics) > 20_000:
            _statics.clear()
        static = QStaticText(text)
        static.setTextFormat(Qt.TextFormat.PlainText)
        static.prepare(font=font(role))
        _statics[key] = static
    return static


def _elided_static(text: str, role: str, width: float) -> QStaticText:
    """``text`` elided in the middle to ``width`` px, laid out (cached like :func:`_static`)."""
    key = (text, role, width)
    elided = _elided.get(key)
    if elided is None:
        if len(_elided) > 20_000:
            _elided.clear()
        metrics = _metrics.get(role)
        if metrics is None:
            metrics = _metrics[role] = QFontMetricsF(font(role))
        elided = metrics.elidedText(text, Qt.TextElideMode.ElideMiddle, width)
        _elided[key] = elided
    return _static(elided, role)


_statics: dict[tuple[str, str], QStaticText] = {}
_elided: dict[tuple[str, str, float], str] = {}


def _compact_title_layout(node_id: str, size: int, room: float) -> tuple[int, str]:
    """(pixel size, text) of a far-zoomed-out title: a long id first gets a smaller (still
    readable) font, then a second line after a ``_`` or ``-`` (never inside a word), and
    only then an ellipsis — "red_square" must not become "re…"."""
    big = QFont(font("title"))
    big.setPixelSize(size)
    width = QFontMetricsF(big).horizontalAdvance(node_id)
    cut = max((node_id.rfind(mark, 0, len(node_id) // 2 + 3) for mark in "_-"), default=-1)
    smallest = 0.6 if cut > 0 else 0.35  # a single word shrinks further instead of breaking
    if width > room:
        fit = room / width * 0.96  # a little slack: sizes are whole pixels
        big.setPixelSize(max(1, int(size * max(smallest, fit))))
    metrics = QFontMetricsF(big)
    lines = [node_id]
    if metrics.horizontalAdvance(node_id) > room and cut > 0:
        lines = [node_id[: cut + 1], node_id[cut + 1 :]]
    lines = [metrics.elidedText(line, Qt.TextElideMode.ElideRight, room) for line in lines]
    return big.pixelSize(), "\n".join(lines)
_metrics: dict[str, QFontMetricsF] = {}


def _theme_of(item: QGraphicsItem) -> CanvasTheme:
    scene = item.scene()
    theme = getattr(scene, "theme", None)
    return theme if isinstance(theme, CanvasTheme) else LIGHT


def _lod(painter: QPainter, option: QStyleOptionGraphicsItem) -> float:
    return float(option.levelOfDetailFromTransform(painter.worldTransform()))


# ----------------------------------------------------------------------------- ports


class PortItem(QGraphicsItem):
    """A port circle on a node's edge: inputs on the left, outputs on the right."""

    NORMAL, COMPATIBLE, INCOMPATIBLE, TARGET = range(4)

    def __init__(self, node: NodeItem, name: str, *, output: bool, spec: InputPort | None) -> None:
        super().__init__(node)
        self.node_item = node
        self.name = name
        self.is_output = output
        self.spec = spec
        self.kind: PortKind | None = None if output else (spec.kind if spec else PortKind.TENSOR)
        self.wirable = output or self.kind is None or self.kind.wirable
        self.state = PortItem.NORMAL
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setZValue(2)
        kind_text = "tensor" if self.kind is None else self.kind.value
        doc = spec.doc if spec is not None else ""
        role = "output" if output else "input"
        tip = f"{name} — {kind_text} {role}" + (f"\n{doc}" if doc else "")
        if not self.wirable:
            tip += "\n(takes a typed value, not a wire)"
        self.setToolTip(tip)

    @property
    def ref(self) -> PortRef:
        """This port's address (follows renames of its node)."""
        return PortRef(self.node_item.node_id, self.name)

    def scene_centre(self) -> QPointF:
        """The centre of the port in scene coordinates (where wires attach)."""
        return self.node_item.pos() + self.pos()

    def set_state(self, state: int) -> None:
        """Highlight for a wire drag: NORMAL, COMPATIBLE, INCOMPATIBLE or TARGET."""
        if state != self.state:
            self.state = state
            self.update()

    def boundingRect(self) -> QRectF:
        r = PORT_RADIUS + 4.0
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if _lod(painter, option) < COMPACT_LOD:
            return  # a compact block shows its title only (see NodeItem.paint)
        theme = _theme_of(self)
        colour = QColor(theme.port_colour(self.kind))
        radius = PORT_RADIUS
        if self.state == PortItem.INCOMPATIBLE:
            colour.setAlpha(70)
        elif self.state in (PortItem.COMPATIBLE, PortItem.TARGET):
            radius += 1.5 if self.state == PortItem.COMPATIBLE else 3.0
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.state == PortItem.TARGET:
            painter.setPen(QPen(QColor(theme.highlight), 2.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(QPointF(0, 0), radius + 2.5, radius + 2.5)
        if not self.wirable:
            d = radius - 1.0
            diamond = QPainterPath()
            diamond.moveTo(0, -d)
            diamond.lineTo(d, 0)
            diamond.lineTo(0, d)
            diamond.lineTo(-d, 0)
            diamond.closeSubpath()
            painter.setPen(QPen(colour, 1.6))
            painter.setBrush(QColor(theme.node_body))
            painter.drawPath(diamond)
            return
        painter.setPen(QPen(QColor(theme.node_body), 1.6))
        painter.setBrush(colour)
        painter.drawEllipse(QPointF(0, 0), radius, radius)

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        if self.state == PortItem.NORMAL:
            self.set_state(PortItem.COMPATIBLE)
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        if self.state == PortItem.COMPATIBLE and not _dragging(self):
            self.set_state(PortItem.NORMAL)
        super().hoverLeaveEvent(event)


def _dragging(item: QGraphicsItem) -> bool:
    return bool(getattr(item.scene(), "wire_drag_active", False))


class AddPortHandle(QGraphicsItem):
    """The "+" under a variadic group's last port: a click (or a wire dropped on it) adds
    the group's next port (see the module docstring)."""

    RADIUS = PORT_RADIUS + 1.0

    def __init__(self, node: NodeItem, group: str, next_port: str) -> None:
        super().__init__(node)
        self.node_item = node
        self.group_name = group
        self.next_port = next_port
        #: Highlighted while a wire is dragged over it (a drop there adds and wires).
        self.hot = False
        self._label = _static(f"add {next_port}", "attr")
        self.setAcceptHoverEvents(True)
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setZValue(2)
        self.setToolTip(f"Add the input {next_port} (one more '{group}' port); "
                        "drop a wire here to add it wired")

    def scene_centre(self) -> QPointF:
        """The centre of the "+" in scene coordinates."""
        return self.node_item.pos() + self.pos()

    def set_hot(self, hot: bool) -> None:
        """Highlight (a wire being dragged is over it) or not."""
        if hot != self.hot:
            self.hot = hot
            self.update()

    def boundingRect(self) -> QRectF:
        r = self.RADIUS + 3.0
        return QRectF(-r, -r, LABEL_MARGIN + self._label.size().width() + r + 4, 2 * r)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if _lod(painter, option) < COMPACT_LOD:
            return  # a compact block shows its title only
        theme = _theme_of(self)
        colour = QColor(theme.highlight if self.hot else theme.port_colour(PortKind.TENSOR))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(colour, 1.6, Qt.PenStyle.SolidLine if self.hot else Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(QColor(theme.node_body))
        radius = self.RADIUS + (2.0 if self.hot else 0.0)
        painter.drawEllipse(QPointF(0, 0), radius, radius)
        painter.setPen(QPen(colour, 1.8))
        arm = radius - 2.5
        painter.drawLine(QPointF(-arm, 0), QPointF(arm, 0))
        painter.drawLine(QPointF(0, -arm), QPointF(0, arm))
        painter.setFont(font("attr"))
        painter.setPen(QColor(theme.text_dim))
        size = self._label.size()
        painter.drawStaticText(QPointF(LABEL_MARGIN, -size.height() / 2), self._label)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        widget = event.widget()
        view = widget.parentWidget() if widget is not None else None
        transform = getattr(view, "viewportTransform", None)
        if transform is not None and QStyleOptionGraphicsItem.levelOfDetailFromTransform(
            transform()
        ) < COMPACT_LOD:
            event.ignore()  # not drawn at this zoom: the press is the block's (a move)
            return
        event.accept()  # the click is the handle's, not a move of the block

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.contains(event.pos()):
            add = getattr(self.scene(), "add_group_port", None)
            if add is not None:
                add(self.node_item.node_id)
        event.accept()


# ----------------------------------------------------------------------------- badges


class ProblemBadge(QGraphicsItem):
    """A red circle with "!" on a node's corner; the tooltip names port/attr and reason."""

    RADIUS = 9.0

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.setZValue(5)
        self.setAcceptHoverEvents(True)
        self._mark = _static("!", "badge")

    def boundingRect(self) -> QRectF:
        r = self.RADIUS + 1
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        theme = _theme_of(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(theme.node_body), 1.5))
        painter.setBrush(QColor(theme.error))
        painter.drawEllipse(QPointF(0, 0), self.RADIUS, self.RADIUS)
        painter.setFont(font("badge"))
        painter.setPen(QColor("#ffffff"))
        size = self._mark.size()
        painter.drawStaticText(QPointF(-size.width() / 2, -size.height() / 2), self._mark)


class RunBadge(QGraphicsItem):
    """A pill above a node: "ran 3.2 ms" (green), "cached" (grey), "failed" (red)..."""

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.setZValue(5)
        self.status = ""
        self._text = _static("", "badge")
        self._rect = QRectF()

    def set_status(self, status: str, text: str) -> None:
        """Show ``text`` coloured for ``status`` (ran, cached, failed, skipped, cancelled)."""
        self.prepareGeometryChange()
        self.status = status
        self._text = _static(text, "badge")
        size = self._text.size()
        self._rect = QRectF(0, 0, size.width() + 14, size.height() + 4)
        self.update()

    def text(self) -> str:
        """The text shown."""
        return str(self._text.text())

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        theme = _theme_of(self)
        colour = {"ran": theme.ok, "failed": theme.error}.get(self.status, theme.cached)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colour))
        h = self._rect.height()
        painter.drawRoundedRect(self._rect, h / 2, h / 2)
        painter.setFont(font("badge"))
        painter.setPen(QColor("#ffffff"))
        painter.drawStaticText(QPointF(7, 2), self._text)


# ----------------------------------------------------------------------------- nodes


class _Row:
    """One row of a node: an output or an input, with its texts laid out once."""

    __slots__ = (
        "error",
        "field_is_default",
        "field_rect",
        "field_text",
        "info",
        "info_text",
        "label",
        "name",
        "y",
    )

    def __init__(self, name: str, y: float) -> None:
        self.name = name
        self.y = y
        self.label = _static(name, "label")
        self.field_rect: QRectF | None = None
        self.field_text: QStaticText | None = None
        self.field_is_default = False
        self.error = False
        #: An output's inferred "[shape] dtype", shown dim on the left of its row.
        self.info_text = ""
        self.info: QStaticText | None = None


class _AttrCell:
    """One attr on a block's face: its place (row, column) and its laid-out text."""

    __slots__ = ("attr", "column", "rect", "text", "value", "y")

    def __init__(self, attr: Any, y: float, column: int) -> None:
        self.attr = attr
        self.y = y
        self.column = column
        self.rect = QRectF()
        self.value: Any = attr.default
        self.text: QStaticText | None = None


class NodeItem(QGraphicsItem):
    """A block instance on the canvas (see the module docstring)."""

    def __init__(self, node: Node, spec: BlockSpec | None, wired: Iterable[str] = ()) -> None:
        super().__init__()
        self.node_id = node.id
        self.block = node.block
        self.spec = spec
        self.literals: dict[str, str] = dict(node.literals)
        self.wired: set[str] = set(wired)
        #: Local parse problems of the literals shown (port -> reason).
        self.literal_errors: dict[str, str] = {}
        #: The inference problems of this node, and the ports they name.
        self.problems: list[TensorBlocksError] = []
        self.problem_ports: set[str] = set()
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        self._rows_in: dict[str, _Row] = {}
        self._rows_out: dict[str, _Row] = {}
        self._width = MIN_WIDTH
        self._height = HEADER_HEIGHT
        self._title = _static(node.id, "title")
        self._subtitle = _static("", "subtitle")
        self._subtitle_x = 0.0
        self._label_width = 0.0
        self._problem_badge: ProblemBadge | None = None
        self._problem_text = ""
        #: ((node id, pixel size, room), pixel size, text) of the last compact title.
        self._compact_layout: tuple[tuple[str, int, float], int, str] | None = None
        self._run_badge: RunBadge | None = None
        self._press_field: str | None = None
        self._press_cell: str | None = None
        self._press_pos = QPointF()
        self.attrs_text = node.attrs
        self._cells: dict[str, _AttrCell] = {}
        self._body_height = HEADER_HEIGHT
        #: Whether this block shows its output thumbnail (switched by its "preview" box).
        self.preview_enabled = True
        self._thumb: QImage | None = None
        self._thumb_rect = QRectF()
        self._preview_toggle = QRectF()
        self._compact_title = ""
        #: The "+" that adds a port to the block's variadic group (``None``: no group).
        self.add_handle: AddPortHandle | None = None
        #: The thumbnail shows a result older than the graph (drawn veiled).
        self.thumbnail_stale = False
        self._shift_toggled = False
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptHoverEvents(True)
        self._hover = False
        self.setZValue(1)
        self._build(node)
        self.setPos(QPointF(*node.pos))

    # ------------------------------------------------------------------ building

    def _build(self, node: Node) -> None:
        spec = self.spec
        outputs = [p.name for p in spec.outputs] if spec else []
        input_specs: list[tuple[str, InputPort | None]] = (
            [(p.name, p) for p in node_inputs(spec, node.port_counts)]
            if spec
            else [(name, None) for name in node.literals]
        )
        group = spec.variadic if spec else None
        count = port_count(spec, node.port_counts) if spec else None
        # The "+" row goes under the group's last port.
        add_after = group.port_name(count - 1) if group is not None and count else None
        label_fm = QFontMetricsF(font("label"))
        self._label_width = max([label_fm.horizontalAdvance(n) for n, _ in input_specs] + [40.0])
        y = HEADER_HEIGHT + 4.0
        for name in outputs:
            self._rows_out[name] = _Row(name, y + ROW_HEIGHT / 2)
            y += ROW_HEIGHT
        add_y: float | None = None
        for name, _ in input_specs:
            self._rows_in[name] = _Row(name, y + ROW_HEIGHT / 2)
            y += ROW_HEIGHT
            if name == add_after:
                add_y = y + ROW_HEIGHT / 2
                y += ROW_HEIGHT
        attrs = spec.attrs if spec else ()
        if attrs:
            y += 4.0  # a gap and a hairline between the ports and the attrs
        for index, attr in enumerate(attrs):
            self._cells[attr.name] = _AttrCell(attr, y + (index // 2) * ATTR_ROW, index % 2)
        y += ATTR_ROW * ((len(attrs) + 1) // 2)
        self._body_height = y + BOTTOM_PAD
        self._height = self._body_height
        for name in outputs:
            self.outputs[name] = PortItem(self, name, output=True, spec=None)
        for name, port_spec in input_specs:
            self.inputs[name] = PortItem(self, name, output=False, spec=port_spec)
        if group is not None and count is not None and add_y is not None \
                and count < group.max_count:
            self.add_handle = AddPortHandle(self, group.name, group.port_name(count))
            self.add_handle.setPos(0.0, add_y)
        self._relayout()

    def _relayout(self) -> None:
        """Width from the title and labels; port positions; header texts."""
        title_fm = QFontMetricsF(font("title"))
        sub_fm = QFontMetricsF(font("subtitle"))
        subtitle = self.spec.title if self.spec else f"{self.block} (unknown block)"
        title_w = title_fm.horizontalAdvance(self.node_id) + 12 + sub_fm.horizontalAdvance(subtitle)
        attr_fm = QFontMetricsF(font("attr"))
        # Two columns of attrs; a bool's whole name must fit beside its check box.
        attr_w = max(
            [attr_fm.horizontalAdvance(c.attr.name) + CHECK_SIZE + 18 for c in self._cells.values()]
            + [0.0]
        )
        width = max(
            MIN_WIDTH,
            title_w + 2 * LABEL_MARGIN,
            LABEL_MARGIN + self._label_width + 12 + FIELD_MIN_WIDTH + 10,
            2 * attr_w + 2 * LABEL_MARGIN,
        )
        if width != self._width:
            self.prepareGeometryChange()
            self._width = width
        self._title = _static(self.node_id, "title")
        self._subtitle = _static(subtitle, "subtitle")
        self._subtitle_x = LABEL_MARGIN + title_fm.horizontalAdvance(self.node_id) + 8
        for name, row in self._rows_out.items():
            self.outputs[name].setPos(self._width, row.y)
        for name, row in self._rows_in.items():
            self.inputs[name].setPos(0.0, row.y)
        self._refresh_attrs()
        self._layout_preview()
        self._refresh_fields()

    def _refresh_attrs(self) -> None:
        """Lay out the attr cells for the current attrs string."""
        if not self._cells or self.spec is None:
            return
        values = face.attr_values(self.spec, self.attrs_text)
        column_width = (self._width - 2 * LABEL_MARGIN) / 2
        for cell in self._cells.values():
            cell.value = values.get(cell.attr.name, cell.attr.default)
            left = LABEL_MARGIN + cell.column * column_width
            cell.rect = QRectF(left, cell.y + 2, column_width - 6, ATTR_ROW - 4)
            if isinstance(cell.value, bool):
                label = cell.attr.name
                room = column_width - CHECK_SIZE - 12
            else:
                label = f"{cell.attr.name}: {face.attr_text(cell.attr, cell.value)}"
                room = column_width - 12
            cell.text = _elided_static(label, "attr", room)
        self.update()

    def set_attrs(self, attrs: str) -> None:
        """Show a new attrs string on the block's face (after an AttrsChanged)."""
        if attrs != self.attrs_text:
            self.attrs_text = attrs
            self._refresh_attrs()

    def attr_shown(self, name: str) -> Any:
        """The value the face shows for attr ``name`` (``None`` when it has no such attr)."""
        cell = self._cells.get(name)
        return None if cell is None else cell.value

    def set_outputs(self, results: Mapping[str, Any]) -> None:
        """Take this node's run results (``port -> array``; empty clears): the first
        image-shaped output becomes the thumbnail (see :func:`app.canvas.face.thumbnail`)."""
        image = None
        for name in self._rows_out:
            image = face.thumbnail(results.get(name))
            if image is not None:
                break
        self._thumb = image
        self._layout_preview()

    def thumbnail(self) -> QImage | None:
        """The output thumbnail shown (``None``: none, or switched off)."""
        return self._thumb if self.preview_enabled else None

    def set_preview_enabled(self, enabled: bool) -> None:
        """Show or hide this block's output thumbnail."""
        if enabled != self.preview_enabled:
            self.preview_enabled = enabled
            self._layout_preview()

    def _layout_preview(self) -> None:
        """The preview toggle row and the thumbnail below the body; the height follows."""
        height = self._body_height
        self._preview_toggle = QRectF()
        self._thumb_rect = QRectF()
        if self._thumb is not None:
            self._preview_toggle = QRectF(LABEL_MARGIN, height - 4, 90, PREVIEW_ROW - 4)
            height += PREVIEW_ROW - 2
            if self.preview_enabled:
                room = self._width - 2 * LABEL_MARGIN
                w, h = self._thumb.width(), self._thumb.height()
                scale = min(room / w, face.THUMB_SIZE * 0.8 / h)
                rect = QRectF(0, 0, w * scale, h * scale)
                rect.moveTopLeft(QPointF((self._width - rect.width()) / 2, height))
                self._thumb_rect = rect
                height += rect.height() + BOTTOM_PAD
        if height != self._height:
            self.prepareGeometryChange()
            self._height = height
        self.update()

    def _refresh_fields(self) -> None:
        """Lay out each unwired input's field text (literal, or default greyed)."""
        x0 = LABEL_MARGIN + self._label_width + 12
        field_width = self._width - 10 - x0
        self.literal_errors = {}
        spec = self.spec
        # Untyped tensor literals take the node's DTYPE input, as validation judges them.
        node_dtype = literal_dtype(spec, self.literals) if spec is not None else None
        for name, row in self._rows_in.items():
            if name in self.wired:
                row.field_rect = None
                row.field_text = None
                row.error = name in self.problem_ports  # e.g. a wire of the wrong kind
                continue
            row.field_rect = QRectF(x0, row.y - 9, field_width, 18)
            port = self.inputs[name].spec
            literal = self.literals.get(name)
            if literal is not None:
                text, is_default = literal, False
                problem = (literal_problem(port, literal, node_dtype) if port is not None
                           else None)
                if problem is not None:
                    self.literal_errors[name] = problem
            elif port is not None and port.default is not None:
                text, is_default = port.default, True
            elif port is not None and port.required:
                text, is_default = "required", True
            else:
                text, is_default = "—", True
            row.field_text = _elided_static(text, "field", field_width - 10)
            row.field_is_default = is_default
            row.error = (
                name in self.literal_errors
                or name in self.problem_ports
                or (is_default and text == "required")
            )
        self._update_badge()
        self.update()

    # ------------------------------------------------------------------ mirror

    def set_node(self, node: Node) -> None:
        """Show ``node``'s literals (after a LiteralChanged)."""
        self.literals = dict(node.literals)
        self._refresh_fields()

    def rename(self, new_id: str) -> None:
        """Show a new node id."""
        self.node_id = new_id
        self._relayout()

    def set_wired(self, port: str, wired: bool) -> None:
        """Mark input ``port`` as fed by a wire (its field is hidden) or not."""
        if (port in self.wired) == wired:
            return
        if wired:
            self.wired.add(port)
        else:
            self.wired.discard(port)
        self._refresh_fields()

    def set_output_info(self, infos: Mapping[str, str]) -> None:
        """Show each output's inferred "[shape] dtype" in its row (missing ones: nothing)."""
        changed = False
        for name, row in self._rows_out.items():
            text = infos.get(name, "")
            if text == row.info_text:
                continue
            changed = True
            row.info_text = text
            room = self._width - 2 * LABEL_MARGIN - row.label.size().width() - 10
            row.info = _elided_static(text, "wire", room) if text else None
        if changed:
            self.update()

    def output_info(self, name: str) -> str:
        """The inferred text shown in output ``name``'s row ("" when none)."""
        row = self._rows_out.get(name)
        return "" if row is None else row.info_text

    def set_problems(self, problems: list[TensorBlocksError]) -> None:
        """Show the inference problems of this node: a badge with a tooltip, red fields."""
        if not problems and not self.problems:
            return
        self.problems = list(problems)
        self.problem_ports = {p.port for p in problems if p.port}
        self._refresh_fields()

    def _update_badge(self) -> None:
        """The badge lists the inference problems, then the literals that do not parse (known
        at once, before inference runs again) that inference has not reported yet."""
        lines = [_problem_line(p.port, p.attr, p.reason) for p in self.problems]
        reported = {p.port for p in self.problems}
        lines += [
            _problem_line(port, None, reason)
            for port, reason in self.literal_errors.items()
            if port not in reported
        ]
        if not lines:
            if self._problem_badge is not None:
                self._problem_badge.setVisible(False)
            return
        if self._problem_badge is None:
            self._problem_badge = ProblemBadge(self)
        self._problem_badge.setPos(self._width - 2, 0)
        self._problem_text = "\n".join(lines)
        # Problems quote attrs and literals from the file: shown as text, never as HTML.
        self._problem_badge.setToolTip(as_plain_html(self._problem_text))
        self._problem_badge.setVisible(True)

    def problem_tooltip(self) -> str | None:
        """The problem badge's tooltip text, or ``None`` when there is no badge."""
        badge = self._problem_badge
        return self._problem_text if badge is not None and badge.isVisible() else None

    def set_run_status(self, status: str | None, text: str = "", tooltip: str = "") -> None:
        """Show the run badge (``None`` hides it); ``tooltip``: e.g. why the node failed.
        A "stale" status also veils the output thumbnail (it shows an old result)."""
        stale = status == "stale"
        if stale != self.thumbnail_stale:
            self.thumbnail_stale = stale
            self.update()
        if status is None:
            if self._run_badge is not None:
                self._run_badge.setVisible(False)
            return
        if self._run_badge is None:
            self._run_badge = RunBadge(self)
        self._run_badge.set_status(status, text)
        self._run_badge.setToolTip(as_plain_html(tooltip) if tooltip else "")
        self._run_badge.setPos(2, -self._run_badge.boundingRect().height() - 4)
        self._run_badge.setVisible(True)

    def run_badge_text(self) -> str | None:
        """The run badge's text, or ``None`` when hidden."""
        badge = self._run_badge
        return badge.text() if badge is not None and badge.isVisible() else None

    # ------------------------------------------------------------------ geometry

    @property
    def width(self) -> float:
        return self._width

    @property
    def height(self) -> float:
        return self._height

    def boundingRect(self) -> QRectF:
        return QRectF(-2, -2, self._width + 4, self._height + 7)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, self._width, self._height), CORNER, CORNER)
        return path

    def attr_at(self, local: QPointF) -> str | None:
        """The attr whose cell is at ``local`` (item coordinates), if any."""
        for name, cell in self._cells.items():
            if cell.rect.contains(local):
                return name
        return None

    def preview_toggle_at(self, local: QPointF) -> bool:
        """Whether ``local`` is on the "preview" check box."""
        return self._preview_toggle.contains(local)

    def field_at(self, local: QPointF) -> str | None:
        """The input whose literal field is at ``local`` (item coordinates), if any."""
        for name, row in self._rows_in.items():
            if row.field_rect is not None and row.field_rect.contains(local):
                return name
        return None

    def field_scene_rect(self, port: str) -> QRectF | None:
        """The scene rectangle of input ``port``'s field (``None`` when it is wired)."""
        row = self._rows_in.get(port)
        if row is None or row.field_rect is None:
            return None
        return row.field_rect.translated(self.pos())

    def port(self, name: str, *, output: bool) -> PortItem | None:
        """The port item called ``name`` (an output or an input)."""
        return (self.outputs if output else self.inputs).get(name)

    def ensure_port(self, name: str, *, output: bool) -> PortItem:
        """The port item called ``name``; made on the fly for a block the library lacks."""
        existing = self.port(name, output=output)
        if existing is not None:
            return existing
        rows = self._rows_out if output else self._rows_in
        y = (
            HEADER_HEIGHT
            + 4.0
            + ROW_HEIGHT * (len(self._rows_out) + len(self._rows_in)
                            + (self.add_handle is not None))
            + ROW_HEIGHT / 2
        )
        self.prepareGeometryChange()
        rows[name] = _Row(name, y)
        self._body_height = y + ROW_HEIGHT / 2 + BOTTOM_PAD
        self._height = self._body_height
        item = PortItem(self, name, output=output, spec=None)
        (self.outputs if output else self.inputs)[name] = item
        self._relayout()
        return item

    # ------------------------------------------------------------------ painting

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        theme = _theme_of(self)
        lod = _lod(painter, option)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        body = QRectF(0, 0, self._width, self._height)
        selected = self.isSelected()

        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(theme.node_shadow))
        painter.drawRoundedRect(body.translated(0, 2.5), CORNER, CORNER)

        outline = QPainterPath()
        outline.addRoundedRect(body, CORNER, CORNER)
        painter.setBrush(QColor(theme.node_body))
        painter.drawPath(outline)
        header_colour = QColor(self.spec.color if self.spec else "#7f7f7f")
        painter.save()
        painter.setClipPath(outline)
        painter.fillRect(QRectF(0, 0, self._width, HEADER_HEIGHT), header_colour)
        painter.restore()
        if selected:
            border = QPen(QColor(theme.node_selected), 2.0)
        elif self._hover:
            hover = QColor(theme.node_selected)
            hover.setAlpha(130)
            border = QPen(hover, 1.5)
        else:
            border = QPen(QColor(theme.node_border), 1.0)
        painter.setPen(border)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(outline)

        self._paint_thumbnail(painter, theme)
        if lod < COMPACT_LOD:
            self._paint_compact(painter, theme, lod)
            return
        painter.setFont(font("title"))
        painter.setPen(QColor(theme.header_text))
        title_y = (HEADER_HEIGHT - self._title.size().height()) / 2
        painter.drawStaticText(QPointF(LABEL_MARGIN, title_y), self._title)
        painter.setFont(font("subtitle"))
        faded = QColor(theme.header_text)
        faded.setAlpha(190)
        painter.setPen(faded)
        sub_y = (HEADER_HEIGHT - self._subtitle.size().height()) / 2 + 0.5
        painter.drawStaticText(QPointF(self._subtitle_x, sub_y), self._subtitle)

        painter.setFont(font("label"))
        painter.setPen(QColor(theme.text))
        for row in self._rows_out.values():
            size = row.label.size()
            painter.drawStaticText(
                QPointF(self._width - LABEL_MARGIN - size.width(), row.y - size.height() / 2),
                row.label,
            )
        painter.setFont(font("wire"))
        painter.setPen(QColor(theme.text_dim))
        for row in self._rows_out.values():
            if row.info is not None:
                size = row.info.size()
                painter.drawStaticText(QPointF(LABEL_MARGIN, row.y - size.height() / 2), row.info)
        painter.setFont(font("label"))
        painter.setPen(QColor(theme.text))
        for name, row in self._rows_in.items():
            size = row.label.size()
            painter.setFont(font("label"))
            painter.setPen(
                QColor(theme.error) if row.error and name in self.wired else QColor(theme.text)
            )
            painter.drawStaticText(QPointF(LABEL_MARGIN, row.y - size.height() / 2), row.label)
            if row.field_rect is None or row.field_text is None:
                continue
            painter.setPen(QPen(QColor(theme.error if row.error else theme.field_border), 1.0))
            painter.setBrush(QColor(theme.field_background))
            painter.drawRoundedRect(row.field_rect, 3.5, 3.5)
            painter.setFont(font("field"))
            if row.error:
                painter.setPen(QColor(theme.error))
            elif row.field_is_default:
                painter.setPen(QColor(theme.field_default_text))
            else:
                painter.setPen(QColor(theme.field_text))
            text_h = row.field_text.size().height()
            painter.drawStaticText(
                QPointF(row.field_rect.left() + 5, row.y - text_h / 2), row.field_text
            )
        self._paint_attrs(painter, theme)

    def _paint_attrs(self, painter: QPainter, theme: CanvasTheme) -> None:
        if not self._cells and self._preview_toggle.isNull():
            return
        painter.setFont(font("attr"))
        if self._cells:
            top = min(cell.y for cell in self._cells.values())
            painter.setPen(QPen(QColor(theme.field_border), 1.0))
            painter.drawLine(QPointF(LABEL_MARGIN, top - 1), QPointF(self._width - LABEL_MARGIN,
                                                                     top - 1))
        for cell in self._cells.values():
            if cell.text is None:
                continue
            x, mid = cell.rect.left(), cell.rect.center().y()
            if isinstance(cell.value, bool):
                _paint_check(painter, theme, QPointF(x, mid), cell.value)
                x += CHECK_SIZE + 5
            painter.setPen(QColor(theme.text))
            size = cell.text.size()
            painter.drawStaticText(QPointF(x, mid - size.height() / 2), cell.text)
        if not self._preview_toggle.isNull():
            mid = self._preview_toggle.center().y()
            _paint_check(painter, theme, QPointF(LABEL_MARGIN, mid), self.preview_enabled)
            label = _static("preview", "attr")
            painter.setPen(QColor(theme.text_dim))
            painter.drawStaticText(
                QPointF(LABEL_MARGIN + CHECK_SIZE + 5, mid - label.size().height() / 2), label
            )

    def _paint_thumbnail(self, painter: QPainter, theme: CanvasTheme) -> None:
        if self._thumb is None or self._thumb_rect.isNull() or not self.preview_enabled:
            return
        smooth = painter.testRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # pixels
        painter.drawImage(self._thumb_rect, self._thumb)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        if self.thumbnail_stale:
            veil = QColor(theme.node_body)
            veil.setAlpha(150)
            painter.fillRect(self._thumb_rect, veil)
        painter.setPen(QPen(QColor(theme.field_border), 1.0))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(self._thumb_rect)

    def _paint_compact(self, painter: QPainter, theme: CanvasTheme, lod: float) -> None:
        """Far zoomed out: the node id, large enough to read, over the body."""
        if lod <= 0:
            return
        room = QRectF(6, 0, self._width - 12, self._body_height)
        size = max(1, round(COMPACT_TITLE_PX / lod))
        key = (self.node_id, size, room.width())
        if self._compact_layout is None or self._compact_layout[0] != key:
            self._compact_layout = (key, *_compact_title_layout(self.node_id, size, room.width()))
        _, pixels, text = self._compact_layout
        self._compact_title = text.replace("\n", "")
        big = QFont(font("title"))
        big.setPixelSize(pixels)
        painter.setFont(big)
        painter.setPen(QColor(theme.text))
        painter.drawText(room, int(Qt.AlignmentFlag.AlignCenter), text)

    def compact_title(self) -> str:
        """The title last drawn in compact mode ("" when never drawn compact)."""
        return self._compact_title

    # ------------------------------------------------------------------ interaction

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        scene = self.scene()
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange and scene is not None:
            snap: Callable[[QPointF], QPointF] | None = getattr(scene, "snap_for_drag", None)
            if snap is not None and isinstance(value, QPointF):
                return snap(value)
        elif (
            change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged and scene is not None
        ):
            moved = getattr(scene, "node_moved", None)
            if moved is not None:
                moved(self)
        elif (
            change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged and scene is not None
        ):
            changed = getattr(scene, "node_selection_changed", None)
            if changed is not None:
                changed(self)
        return super().itemChange(change, value)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        self._press_field = None
        if event.button() == Qt.MouseButton.LeftButton:
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                # Shift adds to the selection (Qt only knows Ctrl); the release must not undo it.
                self.setSelected(not self.isSelected())
                self._shift_toggled = True
                event.accept()
                return
            self._press_field = self.field_at(event.pos())
            self._press_cell = self.attr_at(event.pos())
            if self.preview_toggle_at(event.pos()):
                self._press_cell = "\0preview"
            self._press_pos = event.screenPos().toPointF()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._shift_toggled:
            self._shift_toggled = False
            event.accept()
            return
        super().mouseReleaseEvent(event)
        field = self._press_field
        self._press_field = None
        cell, self._press_cell = self._press_cell, None
        moved = (event.screenPos().toPointF() - self._press_pos).manhattanLength()
        if cell is not None and moved <= 4 and event.button() == Qt.MouseButton.LeftButton:
            self._click_cell(cell, event)
            return
        if field is None or event.button() != Qt.MouseButton.LeftButton:
            return
        if moved <= 4 and self.field_at(event.pos()) == field:
            edit = getattr(self.scene(), "edit_literal", None)
            if edit is not None:
                edit(self.node_id, field)

    def _click_cell(self, cell: str, event: QGraphicsSceneMouseEvent) -> None:
        if cell == "\0preview":
            self.set_preview_enabled(not self.preview_enabled)
            return
        scene = self.scene()
        model = getattr(scene, "model", None)
        stack = getattr(scene, "undo_stack", None)
        if model is not None and stack is not None and self.attr_at(event.pos()) == cell:
            views = scene.views() if scene is not None else []
            face.edit_attr(model, stack, self.node_id, cell, event.screenPos(),
                           views[0] if views else None)

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self._hover = False
        self.update()

    def hoverMoveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        # An I-beam over a literal field says "click to type"; a hand over an attr, "click".
        pos = event.pos()
        cursor = (
            Qt.CursorShape.IBeamCursor
            if self.field_at(pos)
            else Qt.CursorShape.PointingHandCursor
            if self.attr_at(pos) or self.preview_toggle_at(pos)
            else Qt.CursorShape.ArrowCursor
        )
        if self.cursor().shape() != cursor:
            self.setCursor(cursor)

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.field_at(event.pos()) is None:
            activated = getattr(self.scene(), "nodeActivated", None)
            if activated is not None:
                activated.emit(self.node_id)
        event.accept()


def _paint_check(painter: QPainter, theme: CanvasTheme, left_mid: QPointF, checked: bool) -> None:
    """A small check box with its left edge at ``left_mid``."""
    box = QRectF(left_mid.x(), left_mid.y() - CHECK_SIZE / 2, CHECK_SIZE, CHECK_SIZE)
    if checked:
        painter.setPen(QPen(QColor(theme.highlight), 1.0))
        painter.setBrush(QColor(theme.highlight))
        painter.drawRoundedRect(box, 2.5, 2.5)
        tick = QPainterPath(QPointF(box.left() + 2.2, box.center().y()))
        tick.lineTo(box.left() + 4.2, box.bottom() - 2.4)
        tick.lineTo(box.right() - 2.0, box.top() + 2.4)
        painter.setPen(QPen(QColor(theme.node_body), 1.6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(tick)
    else:
        painter.setPen(QPen(QColor(theme.text_dim), 1.0))
        painter.setBrush(QColor(theme.field_background))
        painter.drawRoundedRect(box, 2.5, 2.5)


def _problem_line(port: str | None, attr: str | None, reason: str) -> str:
    if port:
        return f"port '{port}': {reason}"
    if attr:
        return f"attr '{attr}': {reason}"
    return reason


# ----------------------------------------------------------------------------- wires


def wire_path(start: QPointF, end: QPointF) -> QPainterPath:
    """A cubic curve leaving ``start`` to the right and entering ``end`` from the left."""
    dx = max(40.0, abs(end.x() - start.x()) * 0.5, abs(end.y() - start.y()) * 0.25)
    path = QPainterPath(start)
    path.cubicTo(QPointF(start.x() + dx, start.y()), QPointF(end.x() - dx, end.y()), end)
    return path


class WireItem(QGraphicsItem):
    """A wire between an output port and an input port, with the inferred tensor label."""

    def __init__(self, wire: Wire, src: PortItem, dst: PortItem) -> None:
        super().__init__()
        self.wire = wire
        self.src_port = src
        self.dst_port = dst
        self.problem = False
        self.highlighted = False
        self._label: QStaticText | None = None
        self._label_rect = QRectF()
        self._label_fits = False
        self._path = QPainterPath()
        self._shape: QPainterPath | None = None
        self._bounds = QRectF()
        self._hover = False
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(0)
        #: The label, a top-level item above the blocks (added with the wire to a scene).
        self.label_item = WireLabel(self)
        self.update_tooltip()
        self.update_path()

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemSceneChange:
            old = self.scene()
            if old is not None and self.label_item.scene() is old:
                old.removeItem(self.label_item)
        elif change == QGraphicsItem.GraphicsItemChange.ItemSceneHasChanged:
            new = self.scene()
            if new is not None and self.label_item.scene() is not new:
                new.addItem(self.label_item)
        return super().itemChange(change, value)

    def set_label(self, text: str | None) -> None:
        """Show ``text`` (e.g. ``[1,64,64,3] float32``) at the middle, or nothing."""
        if (text or None) == self.label_text():
            return
        self._label = _static(text, "wire") if text else None
        self.update_tooltip()
        self.update_path()

    def update_tooltip(self) -> None:
        """The tooltip names the wire and its tensor (also when the label has no room)."""
        text = self.label_text()
        self.setToolTip(as_plain_html(f"{self.wire}" + (f"\n{text}" if text else "")))
        label_item = getattr(self, "label_item", None)
        if label_item is not None:
            label_item.setToolTip(self.toolTip())

    def label_shown(self) -> bool:
        """Whether the label is drawn (a short wire has no room for it)."""
        return self._label_fits

    def label_text(self) -> str | None:
        """The label (drawn when there is room, always in the tooltip), if any."""
        return None if self._label is None else str(self._label.text())

    def set_highlighted(self, highlighted: bool) -> None:
        """Draw the wire in the accent colour (it touches a selected block)."""
        if highlighted != self.highlighted:
            self.highlighted = highlighted
            self.update()

    def set_problem(self, problem: bool) -> None:
        """Draw the wire red (the port it feeds has a problem)."""
        if problem != self.problem:
            self.problem = problem
            self.update()

    def update_path(self) -> None:
        """Re-route after a move of either end."""
        self.prepareGeometryChange()
        self._path = wire_path(self.src_port.scene_centre(), self.dst_port.scene_centre())
        self._shape = None
        bounds = self._path.boundingRect()
        self._label_fits = False
        if self._label is not None:
            size = self._label.size()
            ends = self._path.pointAtPercent(1.0) - self._path.pointAtPercent(0.0)
            # A label longer than a short wire would cover the ports: the tooltip has it then.
            self._label_fits = math.hypot(ends.x(), ends.y()) >= size.width() + 60
        if self._label_fits and self._label is not None:
            size = self._label.size()
            mid = self._path.pointAtPercent(0.5)
            self._label_rect = QRectF(
                mid.x() - size.width() / 2 - 6,
                mid.y() - size.height() / 2 - 2,
                size.width() + 12,
                size.height() + 4,
            )
        self._bounds = bounds.adjusted(-4, -4, 4, 4)
        label_item = getattr(self, "label_item", None)
        if label_item is not None:
            label_item.refresh()

    def path(self) -> QPainterPath:
        return self._path

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(10.0)
            self._shape = stroker.createStroke(self._path)
        return self._shape

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        theme = _theme_of(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.isSelected():
            colour, width = QColor(theme.wire_selected), 3.0
        elif self.highlighted:
            colour, width = QColor(theme.wire_selected), 2.2
        elif self.problem:
            colour, width = QColor(theme.error), 2.2
        else:
            colour, width = QColor(theme.wire), 2.0
        if self._hover and not self.isSelected():
            width += 1.0
        lod = _lod(painter, option)
        pen = QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        if lod * width < 1.2:
            # Far zoomed out a scene-width pen would vanish: keep the wire a pixel wide.
            pen.setWidthF(1.2)
            pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)

    def label_rect(self) -> QRectF | None:
        """The scene rectangle of the label when it is drawn, else ``None``."""
        return QRectF(self._label_rect) if self._label_fits and self._label else None

    def paint_label(self, painter: QPainter, lod: float) -> None:
        """Draw the label pill (for :class:`WireLabel`)."""
        if not self._label_fits or self._label is None or lod < 0.6:
            return
        theme = _theme_of(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(theme.node_border), 0.8))
        painter.setBrush(QColor(theme.label_background))
        r = self._label_rect
        painter.drawRoundedRect(r, r.height() / 2, r.height() / 2)
        painter.setFont(font("wire"))
        painter.setPen(QColor(theme.label_text))
        painter.drawStaticText(QPointF(r.left() + 6, r.top() + 2), self._label)

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self._hover = False
        self.update()


class WireLabel(QGraphicsItem):
    """A wire's tensor label, drawn above the blocks (a block never hides it)."""

    def __init__(self, wire: WireItem) -> None:
        super().__init__()
        self.wire = wire
        self._rect = QRectF()
        self.setZValue(1.5)  # above blocks (1), below badges and editors
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def refresh(self) -> None:
        """Follow the wire's label (text or place changed)."""
        rect = self.wire.label_rect() or QRectF()
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-1, -1, 1, 1) if not self._rect.isNull() else QRectF()

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        self.wire.paint_label(painter, _lod(painter, option))


class PendingWire(QGraphicsItem):
    """The wire following the mouse while the user drags from a port."""

    def __init__(self, anchor: QPointF, *, from_output: bool) -> None:
        super().__init__()
        self.anchor = anchor
        self.from_output = from_output
        self._path = QPainterPath()
        self._bounds = QRectF()
        self.setZValue(10)
        self.move_to(anchor)

    def move_to(self, point: QPointF) -> None:
        """Put the loose end at ``point`` (scene coordinates)."""
        self.prepareGeometryChange()
        if self.from_output:
            self._path = wire_path(self.anchor, point)
        else:
            self._path = wire_path(point, self.anchor)
        self._bounds = self._path.boundingRect().adjusted(-4, -4, 4, 4)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        theme = _theme_of(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(theme.wire_pending), 2.0, Qt.PenStyle.DashLine, Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        painter.setBrush(QBrush())
        painter.drawPath(self._path)


# ----------------------------------------------------------------------------- literal editor


class LiteralEditor(QLineEdit):
    """The inline editor of a port literal: Enter (or leaving it) commits, Esc cancels.

    ``completions`` (a port's choices, or the dtype names) are offered as the user types.
    """

    committed = Signal(str)
    cancelled = Signal()

    def __init__(self, text: str, placeholder: str = "", completions: Iterable[str] = ()) -> None:
        super().__init__(text)
        self.setPlaceholderText(placeholder)
        words = list(completions)
        if words:
            # Choices (SAME/VALID, DT_* names) pop up as the user types.
            completer = QCompleter(words, self)
            completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
            completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
            self.setCompleter(completer)
        self.setFont(font("field"))
        self.setFrame(False)
        self._done = False
        self.returnPressed.connect(self._commit)

    def _commit(self) -> None:
        if not self._done:
            self._done = True
            self.committed.emit(self.text())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            if not self._done:
                self._done = True
                self.cancelled.emit()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Tab:
            self._commit()
            event.accept()
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        # Leaving the field commits; a popup (the completer) or another window taking the
        # focus does not: the field is still open when the user comes back.
        if event.reason() not in (
            Qt.FocusReason.PopupFocusReason,
            Qt.FocusReason.ActiveWindowFocusReason,
        ):
            self._commit()
