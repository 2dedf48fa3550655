"""The open graph file: its path, its unsaved-changes mark, recent files and autosave.

Contract:

* A :class:`Document` wraps the editor's one :class:`~graph.model.GraphModel` and its
  ``QUndoStack``. It never replaces the model object (the canvas and inspector keep their
  subscriptions): opening a file or starting a new graph calls ``model.replace_with`` /
  ``model.clear`` and clears the undo stack.
* ``dirty`` is "the undo stack is not at its clean index" (so undoing back to the saved
  state clears the mark), or a recovered autosave that was never saved. ``dirtyChanged`` and
  ``pathChanged`` announce changes.
* ``base_dir`` is the folder of the saved file (``None`` while untitled): relative file
  literals resolve there.
* Settings live in :func:`app_settings`: ``QSettings("TensorBlocks", "TensorBlocks")``, or,
  when the environment variable ``TENSORBLOCKS_SETTINGS_DIR`` names a folder, an ini file
  there (tests set it, so they never touch the user's settings). Autosaves go to
  :func:`data_dir`: that folder too, else ``QStandardPaths.AppDataLocation``.
* Autosave: every :data:`AUTOSAVE_SECONDS` while dirty, the graph is written (atomically)
  to ``autosave.tbg.json`` in :func:`data_dir` with the original path recorded. The
  document deletes its own autosave on a clean save, New, Open and a normal close, so one
  found at start means an editor did not close normally: :func:`pending_recovery` reports
  it and :meth:`Document.recover` loads it (dirty, under its original path). An autosave the
  document did not write is never deleted by it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QSettings, QStandardPaths, QTimer, Signal
from PySide6.QtGui import QUndoStack

from blocks.errors import GraphFileError
from graph.atomic import write_atomically
from graph.model import GraphModel

ORGANIZATION = "TensorBlocks"
APPLICATION = "TensorBlocks"
SETTINGS_ENV = "TENSORBLOCKS_SETTINGS_DIR"
AUTOSAVE_SECONDS = 60
AUTOSAVE_NAME = "autosave.tbg.json"
#: The top-level key of an autosave file that records where the graph came from.
AUTOSAVE_KEY = "tensorblocks_autosave"
MAX_RECENT = 10
GRAPH_SUFFIX = ".tbg.json"


def _override_dir() -> Path | None:
    value = os.environ.get(SETTINGS_ENV)
    return Path(value) if value else None


def app_settings() -> QSettings:
    """The editor's settings store (see the module docstring)."""
    folder = _override_dir()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        return QSettings(str(folder / "tensorblocks.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def data_dir() -> Path:
    """Where autosaves are written (created if missing)."""
    folder = _override_dir()
    if folder is None:
        location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        folder = Path(location) if location else Path(tempfile.gettempdir()) / APPLICATION
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def recent_files(settings: QSettings) -> list[Path]:
    """The recent files, most recent first, that still exist."""
    value: Any = settings.value("recentFiles", [])
    if isinstance(value, str):
        value = [value]
    paths = [Path(str(item)) for item in value] if isinstance(value, list | tuple) else []
    return [path for path in paths if path.is_file()][:MAX_RECENT]


def add_recent_file(settings: QSettings, path: Path) -> None:
    """Put ``path`` first in the recent files."""
    resolved = path.resolve()
    paths = [p for p in recent_files(settings) if p.resolve() != resolved]
    settings.setValue("recentFiles", [str(p) for p in [resolved, *paths][:MAX_RECENT]])


@dataclass(frozen=True)
class Recovery:
    """An autosave found at start: where it is, the file it belonged to, when it was made."""

    autosave: Path
    original: Path | None
    saved_at: float


def pending_recovery(folder: Path | None = None) -> Recovery | None:
    """The autosave left behind by an editor that did not close normally, if any."""
    path = (folder or data_dir()) / AUTOSAVE_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        meta = data.get(AUTOSAVE_KEY, {}) if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return Recovery(path, None, path.stat().st_mtime)
    original = meta.get("path") if isinstance(meta, dict) else None
    saved_at = meta.get("saved_at") if isinstance(meta, dict) else None
    return Recovery(
        path,
        Path(original) if isinstance(original, str) and original else None,
        float(saved_at) if isinstance(saved_at, int | float) else path.stat().st_mtime,
    )


class Document(QObject):
    """The open graph: model, undo stack, path, dirty mark, autosave."""

    dirtyChanged = Signal(bool)
    pathChanged = Signal(object)  # Path | None

    def __init__(
        self,
        model: GraphModel,
        undo_stack: QUndoStack,
        *,
        autosave_dir: Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.undo_stack = undo_stack
        self._path: Path | None = None
        self._recovered = False  # a recovered autosave is dirty until saved
        self._last_dirty = False
        self._autosave_dir = autosave_dir
        self._autosaved_revision = -1
        # Only an autosave this document wrote (or recovered) is ours to delete: one left by
        # a crashed session stays until the user has been offered to recover it.
        self._owns_autosave = False
        undo_stack.cleanChanged.connect(self._announce_dirty)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_SECONDS * 1000)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()

    # ------------------------------------------------------------------ state

    @property
    def path(self) -> Path | None:
        """The file the graph was opened from or saved to; ``None`` while untitled."""
        return self._path

    @property
    def base_dir(self) -> Path | None:
        """The folder relative file literals resolve against."""
        return None if self._path is None else self._path.parent

    @property
    def dirty(self) -> bool:
        """Whether there are unsaved changes."""
        return self._recovered or not self.undo_stack.isClean()

    @property
    def display_name(self) -> str:
        """The file name shown in the title bar."""
        return self._path.name if self._path is not None else "Untitled"

    @property
    def autosave_path(self) -> Path:
        """Where this document autosaves."""
        return (self._autosave_dir or data_dir()) / AUTOSAVE_NAME

    def _announce_dirty(self, *_: Any) -> None:
        if not shiboken6.isValid(self.undo_stack):
            return  # the stack announces its own destruction as a clean change
        dirty = self.dirty
        if dirty != self._last_dirty:
            self._last_dirty = dirty
            self.dirtyChanged.emit(dirty)

    def _set_path(self, path: Path | None) -> None:
        if path != self._path:
            self._path = path
            self.pathChanged.emit(path)

    def _reset(self, path: Path | None, *, recovered: bool = False) -> None:
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self._recovered = recovered
        self._set_path(path)
        self._announce_dirty()

    # ------------------------------------------------------------------ files

    def new(self) -> None:
        """An empty untitled graph."""
        self.model.clear()
        self._reset(None)
        self.discard_autosave()

    def open(self, path: Path) -> None:
        """Load ``path`` (GraphFileError / TensorBlocksError if it cannot be read)."""
        from graph.fileformat import load_graph

        path = Path(path).resolve()
        loaded = load_graph(path)
        self.model.replace_with(loaded)
        self._reset(path)
        self.discard_autosave()

    def save(self, path: Path | None = None) -> Path:
        """Write the graph to ``path`` (default: the current path) atomically; returns it."""
        from graph.fileformat import save_graph

        target = Path(path).resolve() if path is not None else self._path
        if target is None:
            raise GraphFileError("the graph has no file name yet: use Save As")
        save_graph(self.model, target)
        self._recovered = False
        self.undo_stack.setClean()
        self._set_path(target)
        self._announce_dirty()
        self.discard_autosave()
        return target

    # ------------------------------------------------------------------ autosave

    def autosave(self) -> bool:
        """Write the autosave file if there are unsaved changes; returns whether it wrote."""
        if not self.dirty:
            return False
        if self._autosaved_revision == self.model.revision and self.autosave_path.is_file():
            return False
        from graph.fileformat import graph_to_dict

        data = graph_to_dict(self.model)
        data[AUTOSAVE_KEY] = {
            "path": None if self._path is None else str(self._path),
            "saved_at": time.time(),
        }
        self.autosave_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.autosave_path, json.dumps(data, indent=1).encode("utf-8"))
        self._autosaved_revision = self.model.revision
        self._owns_autosave = True
        return True

    def discard_autosave(self) -> None:
        """Delete this document's autosave (after a save, New, Open or a normal close)."""
        if self._owns_autosave:
            self.autosave_path.unlink(missing_ok=True)
        self._owns_autosave = False
        self._autosaved_revision = -1

    def recover(self, recovery: Recovery) -> None:
        """Load an autosave: the graph, under its original path, marked unsaved."""
        from graph.fileformat import graph_from_dict

        try:
            data = json.loads(recovery.autosave.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise GraphFileError(
                f"cannot read the autosave: {error}", file=str(recovery.autosave)
            ) from None
        if not isinstance(data, dict):
            raise GraphFileError("the autosave is not a graph file", file=str(recovery.autosave))
        data.pop(AUTOSAVE_KEY, None)
        loaded = graph_from_dict(data)
        self.model.replace_with(loaded)
        self._reset(recovery.original, recovered=True)
        self._owns_autosave = True  # saving the recovered graph removes it
