"""What may be dropped on the canvas (or the window), and what it becomes.

Contract: :class:`CanvasDrops` filters the drag and drop events of the canvas viewport and
of the window (install it with ``installEventFilter`` on both; on the window it takes only
graph files). It accepts a block dragged from the palette (added
there), data files — ``.npy``, ``.npz``, images — (each becomes the block that reads data
files, through :func:`graph.edits.data_file_inputs`: one block per array of an ``.npz`` with
several, the file name relative to the graph's folder when the graph is saved, else
absolute, the dtype set when the file's is not the default), and a graph file (opened,
after the unsaved-changes prompt). Everything added by one drop is one undo step and ends
selected.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from app.canvas.scene import GRID
from app.commands import AddNode, push_macro
from app.palette import BLOCK_MIME
from blocks.errors import TensorBlocksError
from blocks.input_files import ARRAY_SUFFIXES, IMAGE_SUFFIXES
from graph.edits import data_file_inputs, free_position

if TYPE_CHECKING:
    from app.main_window import MainWindow

DATA_SUFFIXES = ARRAY_SUFFIXES + IMAGE_SUFFIXES
#: Vertical distance between the blocks one drop adds.
STACK_STEP = 110.0


def is_graph_file(path: Path) -> bool:
    return path.name.lower().endswith(".json")


def is_data_file(path: Path) -> bool:
    return path.suffix.lower() in DATA_SUFFIXES


class CanvasDrops(QObject):
    """The canvas's drop target; see the module docstring."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        dragging = kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop)
        if not dragging or not isinstance(event, QDragEnterEvent | QDropEvent):
            return super().eventFilter(watched, event)
        if not self.acceptable(event, graph_only=watched is self.window):
            return False
        if kind == QEvent.Type.Drop:
            point = event.position().toPoint()
            scene_pos = self.window.view.mapToScene(point.x(), point.y())
            self.window.guarded(lambda: self.handle_drop(event.mimeData(), scene_pos))
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        return True

    def acceptable(self, event: QDropEvent, *, graph_only: bool = False) -> bool:
        """Whether the dragged data is a palette block, a data file or a graph file (only a
        graph file with ``graph_only``: a drop on the window outside the canvas)."""
        mime = event.mimeData()
        paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
        if graph_only:
            return any(is_graph_file(path) for path in paths)
        return mime.hasFormat(BLOCK_MIME) or any(is_data_file(p) or is_graph_file(p)
                                                  for p in paths)

    def handle_drop(self, mime: Any, scene_pos: QPointF) -> list[str]:
        """Act on dropped data at ``scene_pos``; returns the ids of the blocks added."""
        pos = (round(scene_pos.x()), round(scene_pos.y()))
        if mime.hasFormat(BLOCK_MIME):
            node = self.window.add_block(bytes(mime.data(BLOCK_MIME)).decode("utf-8"), pos)
            return [node] if node else []
        added: list[str] = []
        for url in mime.urls():
            path = Path(url.toLocalFile()) if url.isLocalFile() else None
            if path is not None and is_graph_file(path):
                self.window.open_path(path)
                return []
            if path is not None and is_data_file(path):
                added += self.add_data_file(path, (pos[0], pos[1] + STACK_STEP * len(added)))
        return added

    def add_data_file(self, path: Path, pos: tuple[float, float]) -> list[str]:
        """Add the block(s) reading ``path`` at ``pos`` (one undo step); returns their ids."""
        window = self.window
        model = window.model
        try:
            spec, blocks = data_file_inputs(model.registry, path, window.session.base_dir)
        except (OSError, ValueError, TensorBlocksError) as error:
            window.log_message(f"cannot read {Path(path).name}: {error}", level="error")
            return []
        commands: list[AddNode] = []
        x, y = pos
        for stem, literals in blocks:
            position = free_position(model, (x, y), GRID)
            commands.append(AddNode(model, spec.name, model.unique_id(stem), position,
                                    literals=literals))
            y += STACK_STEP
        push_macro(window.undo_stack, f"Add {Path(path).name}", commands)
        ids = [command.node_id for command in commands if command.node_id is not None]
        window.session.select(ids)
        window.statusBar().showMessage(f"added {', '.join(ids)} reading {Path(path).name}", 5000)
        return ids
