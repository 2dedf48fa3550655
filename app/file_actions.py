"""New, Open, Save, Save As, recent files and crash recovery: the window's file dialogs.

Contract (:class:`FileActions`, owned by the main window):

* Every way of losing unsaved changes (New, Open, a dropped graph, closing) asks first:
  Save / Discard / Cancel.
* Opening stops a run, loads through the :class:`~app.document.Document` (a GraphReset:
  the session drops the old report and selection), re-infers, fits the view and, with
  Auto-run, runs. A file that cannot be read is logged (and shown in a dialog when
  interactive); nothing changes.
* Saving to a folder other than the one relative file names resolve in now — Save As
  elsewhere, or the first save of an untitled graph, whose names resolved in the current
  folder — first rewrites them (:meth:`graph.session.Session.rebase_changes`) as one undo
  step, so they keep pointing at the same files; if the file cannot be written that step
  is undone.
* The recent-files menu lists existing files, most recent first; an autosave left by a
  crash is offered back at start.
* Run over dataset… opens :class:`~app.batch_dialog.BatchDialog` on the window's session
  with the tool bar's seed; item 0 of the batch previews on the canvas.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from app.batch_dialog import BatchDialog
from app.commands import SetLiteral, push_macro
from app.document import GRAPH_SUFFIX, pending_recovery, recent_files
from app.outside_files import confirm_outside_files
from blocks.errors import TensorBlocksError

if TYPE_CHECKING:
    from app.main_window import MainWindow


class FileActions(QObject):
    """The window's file commands; see the module docstring."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.document = window.document

    def run_over_dataset(self) -> BatchDialog | None:
        """File > Run over dataset…: the batch dialog (modeless); ``None`` for an empty graph."""
        window = self.window
        if len(window.model) == 0:
            window.statusBar().showMessage("Nothing to run: the graph is empty", 3000)
            return None
        path = window.session.path
        if path is not None and not confirm_outside_files(window, window.model, path,
                                                          window.settings):
            return None
        dialog = BatchDialog(window.session, seed=window.seed_controls.seed, parent=window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _last_dir(self) -> str:
        return str(self.window.settings.value("lastDir", str(Path.home())))

    def maybe_save(self) -> bool:
        """Ask before unsaved changes are lost; True when it is fine to go on."""
        if not self.document.dirty:
            return True
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self.window, "Unsaved changes",
            f"{self.document.display_name} has unsaved changes. Save them first?",
            buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save,
        )
        if answer == buttons.Save:
            return self.save()
        return answer == buttons.Discard

    def new_graph(self) -> bool:
        """Start an empty graph (after the unsaved-changes prompt)."""
        if not self.maybe_save():
            return False
        self.window.runner.stop()
        self.document.new()
        self.window.statusBar().showMessage("New graph", 3000)
        return True

    def open_dialog(self) -> None:
        """Choose a graph file and open it."""
        if not self.maybe_save():
            return
        start = str(self.document.base_dir or self._last_dir())
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Open graph", start,
            f"TensorBlocks graphs (*{GRAPH_SUFFIX} *.json);;All files (*)",
        )
        if path:
            self.open_path(Path(path), ask=False)

    def open_path(self, path: Path, *, ask: bool = True, interactive: bool = True) -> bool:
        """Open the graph file ``path``; errors go to the log (and a dialog if interactive)."""
        window = self.window
        if ask and not self.maybe_save():
            return False
        try:
            self.document.open(Path(path))
        except (TensorBlocksError, OSError) as error:
            message = str(error)
            problems = getattr(error, "problems", None)
            if problems and len(problems) > 1:
                message += "\n" + "\n".join(str(p) for p in problems[1:8])
            window.log_message(f"cannot open {path}: {message}", level="error")
            if interactive:
                QMessageBox.warning(window, "Cannot open graph", message)
            return False
        window.runner.stop()
        if window.remember_files:
            window.settings.setValue("lastDir", str(Path(path).resolve().parent))
        window.update_inference()
        window.fit_all()
        window.statusBar().showMessage(f"Opened {self.document.display_name}", 4000)
        window.log_message(f"opened {self.document.path}", level="info")
        if window.autorun:
            window.schedule_autorun()
        return True

    def save(self) -> bool:
        """Save to the current file (Save As when untitled); True on success."""
        if self.document.path is None:
            return self.save_as_dialog()
        return self.save_to(self.document.path)

    def save_as_dialog(self) -> bool:
        """Choose a file name and save there."""
        start = str(self.document.path or Path(self._last_dir()) / ("untitled" + GRAPH_SUFFIX))
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save graph as", start,
            f"TensorBlocks graphs (*{GRAPH_SUFFIX});;JSON files (*.json)",
        )
        if not path:
            return False
        target = Path(path)
        if not target.name.lower().endswith(".json"):
            target = target.with_name(target.name + GRAPH_SUFFIX)
        return self.save_to(target)

    def save_to(self, path: Path) -> bool:
        """Save to ``path``, rewriting relative file names first when the folder changes."""
        window = self.window
        path = Path(path).resolve()
        model, stack = window.model, window.undo_stack
        edits = window.session.rebase_changes(path)
        if edits:
            push_macro(stack, "Rewrite file paths for the new folder",
                       [SetLiteral(model, e.node, e.port, e.new) for e in edits])
        try:
            self.document.save(path)
        except (TensorBlocksError, OSError) as error:
            if edits:
                stack.undo()  # the names stay as they were for the folder they resolve in
            window.log_message(f"cannot save {path}: {error}", level="error")
            QMessageBox.warning(window, "Cannot save graph", str(error))
            return False
        window.settings.setValue("lastDir", str(path.parent))
        window.statusBar().showMessage(f"Saved {path.name}", 4000)
        return True

    def fill_recent_menu(self, menu: QMenu) -> None:
        """List the recent files in ``menu``."""
        menu.clear()
        paths = recent_files(self.window.settings)
        for path in paths:
            action = menu.addAction(path.name)
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
            action.triggered.connect(
                lambda _=False, p=path: self.window.guarded(lambda: self.open_path(p))
            )
        if not paths:
            menu.addAction("No recent files").setEnabled(False)
        else:
            menu.addSeparator()
            clear = menu.addAction("Clear Recent Files")
            clear.triggered.connect(lambda: self.window.settings.setValue("recentFiles", []))

    def offer_recovery(self) -> bool:
        """If an autosave was left by a crash, offer to restore it; True if restored."""
        window = self.window
        recovery = pending_recovery(self.document.autosave_path.parent)
        if recovery is None:
            return False
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(recovery.saved_at))
        name = recovery.original.name if recovery.original else "an untitled graph"
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            window, "Recover unsaved changes",
            f"TensorBlocks did not close normally. Restore the unsaved changes to {name} "
            f"autosaved at {when}?",
            buttons.Yes | buttons.No, buttons.Yes,
        )
        if answer != buttons.Yes:
            recovery.autosave.unlink(missing_ok=True)
            return False
        try:
            self.document.recover(recovery)
        except TensorBlocksError as error:
            window.log_message(f"cannot recover the autosave: {error}", level="error")
            return False
        window.update_inference()
        window.fit_all()
        window.log_message(f"recovered unsaved changes to {name} from {when}", level="info")
        return True
