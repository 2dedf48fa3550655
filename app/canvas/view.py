"""The node-graph view: zoom, pan, background grid, keyboard shortcuts, quick-add.

Contract: ``GraphView(scene)`` shows a :class:`~app.canvas.scene.GraphScene`.

* Dragging (a block, a wire, a rubber band) near the viewport's edge scrolls the canvas.
* Wheel zooms around the cursor (clamped to ``MIN_ZOOM``..``MAX_ZOOM``); the middle button,
  or Space held with the left button, pans; the left button on empty canvas draws a
  rubber band (Ctrl adds to the selection).
* The background is a grid of fine lines every 20 px and stronger ones every 100 px; the
  fine lines fade out when zoomed far out.
* Keys (the window may also bind them as actions; then its actions win):
  Tab quick-add at the cursor · Delete/Backspace delete · F / Home fit all ·
  Shift+F / . fit selection · Ctrl+C/X/V/D copy, cut, paste (at the cursor), duplicate ·
  Ctrl+L auto-layout · Ctrl+A select all · Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y undo, redo ·
  arrows nudge the selection by one grid step · +/- zoom · Ctrl+0 zoom 1:1 · Esc cancel.
* ``show_quick_add(scene_pos, from_port)`` opens the block search at a scene position (the
  popup kept inside the canvas); the chosen block is added there (wired to ``from_port``
  when given) in one undo step and scrolled into view if it reaches past an edge. The
  scene asks for it when a wire is dropped on empty canvas.
* ``fit_all()`` keeps the graph fitted while the view is resized (the window laying out its
  docks after the first show, the user dragging a splitter) until the user zooms or pans.
* ``pointer_scene_pos()`` is where the mouse is on the canvas, or ``None`` when it is
  elsewhere: ``paste_at_pointer()`` (Edit > Paste) lands there.
* ``paint_count`` counts paint events (the benchmark waits for the first one).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QCursor,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QGraphicsProxyWidget, QGraphicsView, QWidget

from app.canvas.quick_add import QuickAddPopup
from app.canvas.scene import GRID, GraphScene
from graph.model import PortRef

MIN_ZOOM = 0.05
MAX_ZOOM = 3.0
#: Fitting never zooms in further than this (a single block should not fill the screen).
MAX_FIT_ZOOM = 1.25
MAJOR_EVERY = 5
#: How close (px) to the viewport's edge a drag starts scrolling the canvas.
EDGE_MARGIN = 24


class GraphView(QGraphicsView):
    """The canvas widget (see the module docstring)."""

    def __init__(self, scene: GraphScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.graph_scene = scene
        self.paint_count = 0
        self._pan_from: QPoint | None = None
        self._space_held = False
        #: Fit again on resize (set by fit_all, cleared when the user zooms or pans).
        self.keep_fitted = False
        self.quick_add: QuickAddPopup | None = None
        self.setRenderHints(
            QPainter.RenderHint.Antialiasing
            | QPainter.RenderHint.TextAntialiasing
            | QPainter.RenderHint.SmoothPixmapTransform
        )
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        # Dragging a block, a wire or a rubber band near an edge scrolls the canvas.
        self._edge_timer = QTimer(self)
        self._edge_timer.setInterval(30)
        self._edge_timer.timeout.connect(self._edge_scroll)
        self._edge_pos = QPoint()
        self._edge_mods = Qt.KeyboardModifier.NoModifier
        scene.quickAddRequested.connect(self._on_quick_add_requested)

    # ------------------------------------------------------------------ zoom and fit

    def zoom(self) -> float:
        """The current scale (1.0 = 100 %)."""
        return float(self.transform().m11())

    def zoom_by(self, factor: float, anchor: QPointF | QPoint | None = None) -> None:
        """Zoom by ``factor`` keeping the scene point under ``anchor`` (viewport coordinates;
        the viewport centre when ``None``) in place; the zoom stays within the limits."""
        self.keep_fitted = False
        current = self.zoom()
        target = min(MAX_ZOOM, max(MIN_ZOOM, current * factor))
        if math.isclose(target, current):
            return
        point = QPointF(anchor) if anchor is not None else QPointF(self.viewport().rect().center())
        before = self.mapToScene(point.toPoint())
        self.scale(target / current, target / current)
        after = self.mapToScene(point.toPoint())
        self._scroll_scene_by(before - after)
        self.resetCachedContent()

    def _scroll_scene_by(self, delta: QPointF) -> None:
        """Move the visible area by ``delta`` scene units."""
        zoom = self.zoom()
        self._scroll_pixels(delta.x() * zoom, delta.y() * zoom)

    def _scroll_pixels(self, dx: float, dy: float) -> None:
        # The (hidden) scroll bars hold the exact pixel offset; centerOn would round each step.
        hbar, vbar = self.horizontalScrollBar(), self.verticalScrollBar()
        hbar.setValue(hbar.value() + round(dx))
        vbar.setValue(vbar.value() + round(dy))

    def fit_rect(self, rect: QRectF) -> None:
        """Show ``rect`` (scene) whole, zoomed in no further than MAX_FIT_ZOOM."""
        if rect.isNull() or rect.isEmpty():
            return
        margin = 40.0
        self.fitInView(
            rect.adjusted(-margin, -margin, margin, margin), Qt.AspectRatioMode.KeepAspectRatio
        )
        zoom = self.zoom()
        clamped = min(MAX_FIT_ZOOM, max(MIN_ZOOM, zoom))
        if not math.isclose(clamped, zoom):
            self.scale(clamped / zoom, clamped / zoom)
        self.centerOn(rect.center())
        self.resetCachedContent()

    def fit_all(self) -> None:
        """Show every block, and keep them fitted while the view is resized until the user
        zooms or pans."""
        rect = self.graph_scene.nodes_rect()
        self.keep_fitted = True
        if rect.isNull():
            self.resetTransform()
            self.centerOn(0, 0)
            return
        self.fit_rect(rect)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.keep_fitted:
            self.fit_all()

    def fit_selection(self) -> None:
        """Show the selected blocks (every block when nothing is selected)."""
        ids = self.graph_scene.selected_node_ids()
        if not ids:
            self.fit_all()
            return
        self.keep_fitted = False
        self.fit_rect(self.graph_scene.nodes_rect(ids))

    # ------------------------------------------------------------------ quick add

    def pointer_scene_pos(self, global_pos: QPoint | None = None) -> QPointF | None:
        """The scene position under the mouse (or ``global_pos``), or ``None`` when it is
        off the canvas."""
        local = self.viewport().mapFromGlobal(QCursor.pos() if global_pos is None else global_pos)
        if not self.viewport().rect().contains(local):
            return None
        return self.mapToScene(local)

    def paste_at_pointer(self) -> list[str]:
        """Paste the clipboard's blocks at the pointer (shifted from the originals when the
        pointer is off the canvas); returns their ids."""
        return self.graph_scene.paste(self.pointer_scene_pos())

    def _cursor_scene_pos(self) -> QPointF:
        pos = self.pointer_scene_pos()
        return pos if pos is not None else self.mapToScene(self.viewport().rect().center())

    def reveal_node(self, node_id: str) -> None:
        """Scroll just enough that the block ``node_id`` is wholly in view."""
        item = self.graph_scene.node_item(node_id)
        if item is None:
            return
        visible = self.mapToScene(self.viewport().rect()).boundingRect()
        if not visible.contains(item.sceneBoundingRect()):
            self.keep_fitted = False
            self.ensureVisible(item.sceneBoundingRect(), 30, 30)

    def _add_and_reveal(self, block: str, pos: QPointF, from_port: PortRef | None) -> None:
        node_id = self.graph_scene.add_block(block, pos, from_port)
        if node_id is not None:
            self.reveal_node(node_id)

    def show_quick_add(
        self, scene_pos: QPointF | None = None, from_port: PortRef | None = None
    ) -> QuickAddPopup:
        """Open the block search at ``scene_pos`` (the cursor when ``None``); the chosen block
        is added there, wired to ``from_port`` when given."""
        pos = QPointF(scene_pos) if scene_pos is not None else self._cursor_scene_pos()
        if self.quick_add is not None:
            self.quick_add.close()
        specs = self.graph_scene.compatible_blocks(from_port)
        title = "Add block" if from_port is None else f"Add block wired to {from_port}"
        popup = QuickAddPopup(specs, self, title)
        popup.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        popup.chosen.connect(lambda name: self._add_and_reveal(name, pos, from_port))
        self.quick_add = popup
        popup.destroyed.connect(lambda: self._forget_popup(popup))
        popup.popup_at(self._popup_corner(self.mapFromScene(pos), popup.width(), popup.height()))
        return popup

    def _popup_corner(self, local: QPoint, width: int, height: int) -> QPoint:
        """Where a popup of ``width`` x ``height`` opened at ``local`` (viewport) goes so it
        stays inside the canvas (moved left/up near the right/bottom edge)."""
        rect = self.viewport().rect()
        x = max(rect.left(), min(local.x(), rect.left() + rect.width() - width))
        y = max(rect.top(), min(local.y(), rect.top() + rect.height() - height))
        return self.viewport().mapToGlobal(QPoint(x, y))

    def _forget_popup(self, popup: QuickAddPopup) -> None:
        if self.quick_add is popup:
            self.quick_add = None

    def _on_quick_add_requested(self, scene_pos: QPointF, from_port: object) -> None:
        if isinstance(from_port, PortRef) or from_port is None:
            self.show_quick_add(scene_pos, from_port)

    # ------------------------------------------------------------------ painting

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        self.paint_count += 1

    def drawBackground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        rect = QRectF(rect)
        theme = self.graph_scene.theme
        painter.fillRect(rect, QColor(theme.background))
        zoom = self.zoom()
        left = math.floor(rect.left() / GRID)
        right = math.ceil(rect.right() / GRID)
        top = math.floor(rect.top() / GRID)
        bottom = math.ceil(rect.bottom() / GRID)
        show_minor = zoom >= 0.45
        major_x: list[float] = []
        major_y: list[float] = []
        step_major = MAJOR_EVERY if zoom >= 0.3 else MAJOR_EVERY * 5
        for i in range(left, right + 1):
            if i % step_major == 0:
                major_x.append(i * GRID)
        for j in range(top, bottom + 1):
            if j % step_major == 0:
                major_y.append(j * GRID)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        if show_minor:
            pen = QPen(QColor(theme.grid_minor))
            pen.setCosmetic(True)
            painter.setPen(pen)
            xs = [i * GRID for i in range(left, right + 1) if i % MAJOR_EVERY]
            ys = [j * GRID for j in range(top, bottom + 1) if j % MAJOR_EVERY]
            for x in xs:
                painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            for y in ys:
                painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
        pen = QPen(QColor(theme.grid_major))
        pen.setCosmetic(True)
        painter.setPen(pen)
        for x in major_x:
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        for y in major_y:
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))

    # ------------------------------------------------------------------ mouse

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.zoom_by(1.0015**delta, event.position())
        event.accept()

    def _start_pan(self, event: QMouseEvent) -> None:
        self.keep_fitted = False
        self._pan_from = event.position().toPoint()
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_held
        ):
            self._start_pan(event)
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            now = event.position().toPoint()
            delta = now - self._pan_from
            self._pan_from = now
            self._scroll_pixels(-delta.x(), -delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)
        self._edge_pos = event.position().toPoint()
        self._edge_mods = event.modifiers()
        dragging = bool(event.buttons() & Qt.MouseButton.LeftButton)
        if dragging and self._edge_step() != (0, 0):
            if not self._edge_timer.isActive():
                self._edge_timer.start()
        else:
            self._edge_timer.stop()

    def _edge_step(self) -> tuple[int, int]:
        """Pixels to scroll per tick when the cursor is near an edge during a drag."""
        rect = self.viewport().rect()
        pos = self._edge_pos

        def step(near_low: int, near_high: int) -> int:
            if near_low < EDGE_MARGIN:
                return -max(2, (EDGE_MARGIN - near_low) // 2)
            if near_high < EDGE_MARGIN:
                return max(2, (EDGE_MARGIN - near_high) // 2)
            return 0

        return (
            step(pos.x() - rect.left(), rect.right() - pos.x()),
            step(pos.y() - rect.top(), rect.bottom() - pos.y()),
        )

    def _edge_scroll(self) -> None:
        """Scroll towards the edge the cursor is at, and let what is dragged follow."""
        dx, dy = self._edge_step()
        if (dx, dy) == (0, 0):
            self._edge_timer.stop()
            return
        self._scroll_pixels(dx, dy)
        viewport = self.viewport()
        follow = QMouseEvent(
            QEvent.Type.MouseMove,
            QPointF(self._edge_pos),
            QPointF(viewport.mapToGlobal(self._edge_pos)),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.LeftButton,
            self._edge_mods,
        )
        QApplication.sendEvent(viewport, follow)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._edge_timer.stop()
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
            self.viewport().setCursor(
                Qt.CursorShape.OpenHandCursor if self._space_held else Qt.CursorShape.ArrowCursor
            )
            event.accept()
            return
        super().mouseReleaseEvent(event)

    # ------------------------------------------------------------------ keys

    def _editing(self) -> bool:
        return isinstance(self.graph_scene.focusItem(), QGraphicsProxyWidget)

    def event(self, event: QEvent) -> bool:
        # Tab opens the quick-add search instead of moving the focus (unless a field is open).
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Tab
            and not self._editing()
        ):
            self.keyPressEvent(event)
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self._editing():
            super().keyPressEvent(event)
            return
        if self._handle_key(event):
            event.accept()
            return
        super().keyPressEvent(event)

    def _handle_key(self, event: QKeyEvent) -> bool:
        scene = self.graph_scene
        key = event.key()
        mods = event.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return True
        if ctrl:
            ctrl_actions = {
                Qt.Key.Key_C: scene.copy_selection,
                Qt.Key.Key_X: scene.cut_selection,
                Qt.Key.Key_V: lambda: scene.paste(self._cursor_scene_pos()),
                Qt.Key.Key_D: scene.duplicate_selection,
                Qt.Key.Key_L: scene.auto_layout,
                Qt.Key.Key_A: scene.select_all,
                Qt.Key.Key_Y: scene.undo_stack.redo,
                Qt.Key.Key_0: lambda: self.zoom_by(1.0 / self.zoom()),
            }
            if key == Qt.Key.Key_Z:
                (scene.undo_stack.redo if shift else scene.undo_stack.undo)()
                return True
            action = ctrl_actions.get(Qt.Key(key))
            if action is not None:
                action()
                return True
            return False
        nudges = {
            Qt.Key.Key_Left: (-GRID, 0.0),
            Qt.Key.Key_Right: (GRID, 0.0),
            Qt.Key.Key_Up: (0.0, -GRID),
            Qt.Key.Key_Down: (0.0, GRID),
        }
        if key in nudges:
            scene.nudge_selection(*nudges[Qt.Key(key)])
            return True
        if key == Qt.Key.Key_Tab:
            self.show_quick_add()
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            scene.delete_selection()
        elif key == Qt.Key.Key_Home or (key == Qt.Key.Key_F and not shift):
            self.fit_all()
        elif key == Qt.Key.Key_Period or (key == Qt.Key.Key_F and shift):
            self.fit_selection()
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(1.2)
        elif key == Qt.Key.Key_Minus:
            self.zoom_by(1 / 1.2)
        elif key == Qt.Key.Key_Escape:
            scene.cancel_interaction()
            scene.clearSelection()
        else:
            return False
        return True

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            if self._pan_from is None:
                self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().keyReleaseEvent(event)
