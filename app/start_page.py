"""The start page and the File > Examples menu: recent files, and the examples with thumbnails.

Contract:

* :func:`examples` lists the example graphs shipped in ``assets/examples`` (name order).
* :func:`graph_thumbnail` draws a graph file as the canvas would (blocks, wires, labels),
  fitted into a small image; ``None`` when the file cannot be read.
* :class:`StartPage` is an overlay over the canvas's viewport: "Recent files" (from the
  settings, :func:`app.document.recent_files`) and "Examples" as thumbnails; activating one
  emits ``openRequested(path)``. It shows itself while the graph is empty and hides as soon
  as it has a block (it subscribes to the model), so it never covers work; "Empty canvas"
  hides it.
* :func:`fill_examples_menu` adds one action per example to a menu, each emitting the same
  request through a callback.
* :func:`install_start_page(window) <install_start_page>` wires both into a main window
  (the window's ``open_path``, ``model``, ``view``, ``settings`` and File menu): the
  one-line hook the window calls.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap, QUndoStack
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.document import recent_files
from blocks.errors import TensorBlocksError
from graph.fileformat import load_graph
from graph.model import GraphEvent, GraphModel
from graph.session import Session

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
THUMB = QSize(240, 140)


def examples() -> list[Path]:
    """The example graphs shipped with TensorBlocks."""
    return sorted(EXAMPLES.glob("*.tbg.json"))


def example_title(path: Path) -> str:
    """``noise_fill.tbg.json`` -> ``noise fill``."""
    return path.name.removesuffix(".tbg.json").replace("_", " ")


def graph_thumbnail(path: Path, size: QSize = THUMB) -> QImage | None:
    """The graph in ``path`` drawn by the canvas, fitted into ``size``."""
    from app.canvas.scene import GraphScene

    try:
        model = load_graph(path)
    except (TensorBlocksError, OSError):
        return None
    scene = GraphScene(Session(model), QUndoStack())
    try:
        image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(QColor(scene.theme.background))
        rect = scene.nodes_rect().adjusted(-20, -30, 20, 20)
        if rect.isEmpty():
            return image
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        scene.render(painter, QRectF(0, 0, size.width(), size.height()), rect,
                     Qt.AspectRatioMode.KeepAspectRatio)
        painter.end()
        return image
    finally:
        scene.detach()


class StartPage(QFrame):
    """Recent files and examples over an empty canvas (see the module docstring)."""

    openRequested = Signal(object)

    def __init__(self, model: GraphModel, settings: Any, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("StartPage")
        self.model = model
        self.settings = settings
        self.setAutoFillBackground(True)
        self.recent = QListWidget(self)
        self.recent.setObjectName("recentFiles")
        self.recent.setMaximumHeight(130)
        self.examples = QListWidget(self)
        self.examples.setObjectName("examples")
        self.examples.setViewMode(QListWidget.ViewMode.IconMode)
        self.examples.setIconSize(THUMB)
        self.examples.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.examples.setMovement(QListWidget.Movement.Static)
        self.examples.setSpacing(8)
        self.examples.setWordWrap(True)
        hint = QLabel("Or add blocks from the palette (Tab on the canvas: quick-add); "
                      "F1 lists every shortcut.")
        hint.setObjectName("muted")
        self.dismiss = QPushButton("Empty canvas", self)
        self.dismiss.setToolTip("Hide this page and start from an empty canvas")
        self.dismiss.clicked.connect(self.hide)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 4, 24, 10)
        self.recent_header = QLabel("RECENT FILES")
        self.recent_header.setObjectName("sectionHeader")
        layout.addWidget(self.recent_header)
        layout.addWidget(self.recent)
        examples_header = QLabel("EXAMPLES")
        examples_header.setObjectName("sectionHeader")
        layout.addWidget(examples_header)
        layout.addWidget(self.examples, 1)
        footer = QHBoxLayout()
        footer.addWidget(hint, 1)
        footer.addWidget(self.dismiss)
        layout.addLayout(footer)
        for widget in (self.recent, self.examples):
            widget.itemActivated.connect(self._on_activated)
            widget.itemClicked.connect(self._on_activated)
        self._fill_examples()
        self.refresh()
        self._unsubscribe = model.subscribe(self._on_event)
        parent.installEventFilter(self)
        self.destroyed.connect(lambda: self._unsubscribe())

    def _fill_examples(self) -> None:
        for path in examples():
            item = QListWidgetItem(example_title(path))
            image = graph_thumbnail(path)
            if image is not None:
                item.setIcon(QIcon(QPixmap.fromImage(image)))
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.examples.addItem(item)

    def refresh(self) -> None:
        """Re-read the recent files; show the page only while the graph is empty."""
        self.recent.clear()
        for path in recent_files(self.settings):
            item = QListWidgetItem(f"{path.name}    {path.parent}")
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.recent.addItem(item)
        has_recent = self.recent.count() > 0
        self.recent.setVisible(has_recent)
        self.recent_header.setVisible(has_recent)
        self._place()
        self.setVisible(len(self.model) == 0)

    def _place(self) -> None:
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect())

    def _on_event(self, _event: GraphEvent) -> None:
        visible = len(self.model) == 0
        if visible != self.isVisible():
            if visible:
                self.refresh()
            else:
                self.hide()

    def _on_activated(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            self.openRequested.emit(Path(str(path)))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize:
            self._place()
        return False


def fill_examples_menu(menu: QMenu, open_path: Callable[[Path], Any]) -> None:
    """One action per example in ``menu``; choosing one calls ``open_path(path)``."""
    for path in examples():
        action = menu.addAction(example_title(path))
        action.setToolTip(str(path))
        action.triggered.connect(lambda _=False, p=path: open_path(p))


def install_start_page(window: Any) -> StartPage:
    """Give ``window`` (a MainWindow) its start page over the canvas and File > Examples."""
    page = StartPage(window.model, window.settings, window.view.viewport())
    page.openRequested.connect(lambda path: window.open_path(path))
    file_menu = window.menuBar().actions()[0].menu()
    examples_menu = QMenu("&Examples", file_menu)
    examples_menu.setObjectName("examplesMenu")
    fill_examples_menu(examples_menu, lambda path: window.open_path(path))
    file_menu.insertMenu(window.recent_menu.menuAction(), examples_menu)
    window.examples_menu = examples_menu
    return page
