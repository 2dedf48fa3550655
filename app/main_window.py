"""The editor's main window: lays out the widgets, wires the actions, opens the dialogs.

Data flow: file -> model -> session -> engine -> results -> views. The window owns one
:class:`~graph.session.Session` (the model, its folder, the engine, the latest inference
and run report, which results are stale, the selection) for its lifetime, and one
``QUndoStack``; a :class:`~app.document.Document` wraps them with the file's path, the
unsaved mark and autosave. The widgets take the session and follow its events themselves:
the canvas (:class:`~app.canvas.scene.GraphScene`), the inspector, the results panel and
the problems list. The window does not hand state to them.

Contract (:class:`MainWindow`):

* Layout: the canvas in the centre; docks: the palette (left), the inspector (right), and,
  tabbed along the bottom, the results, the live problems and the log. Geometry and dock
  state are saved in :func:`app.document.app_settings`.
* Inference (:meth:`graph.session.Session.infer`) runs 100 ms after the last change. Runs go
  through a :class:`~app.runner.Runner` on the session (one engine, so the cache carries
  over); with Auto-run on, a run starts 300 ms after the last change that affects results.
  With Auto-run off, edited results stay marked stale until the next run.
* Files (:mod:`app.file_actions`): New/Open/Save/Save As, the unsaved-changes prompt, recent
  files, recovery; drops (:mod:`app.drops`): a palette block, data files or a graph file on
  the canvas; a graph file anywhere on the window opens it.
* Title ``name.tbg.json[*] — TensorBlocks`` with ``setWindowModified`` as the mark.
* Nothing raised by a handler reaches the user as a crash: :meth:`report_exception` logs
  it (``app.editor`` installs it as ``sys.excepthook``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QShowEvent,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTabWidget,
    QWidget,
)

from app import style
from app.actions import create_actions, create_toolbar
from app.canvas.scene import GRID, GraphScene
from app.canvas.view import GraphView
from app.commands import AddNode
from app.document import Document, add_recent_file, app_settings, data_dir
from app.drops import CanvasDrops
from app.file_actions import FileActions
from app.inspector import Inspector
from app.memory_setting import MemorySetting
from app.messages import LogList, ProblemsList
from app.outside_files import confirm_outside_files
from app.palette import Palette
from app.results.panel import ResultsPanel
from app.run_controls import SeedControls, as_bool
from app.runner import Runner
from app.status import EditorStatus
from app.style import Theme
from blocks.errors import TensorBlocksError
from graph.edits import free_position
from graph.engine import Engine
from graph.infer import Inference
from graph.model import GraphEvent, GraphReset, NodeMoved
from graph.session import Session

INFER_DELAY_MS = 100
AUTORUN_DELAY_MS = 300
SCREENSHOT_SIZE = (1500, 950)

MENUS = {
    "&Edit": "undo redo | cut copy paste duplicate delete | select_all find_block quick_add",
    "&View": "fit fit_selection zoom_in zoom_out zoom_reset | layout | dark_theme |",
    "&Run": "run stop autorun | memory_limit clear_cache",
    "&Help": "shortcuts about",
}
TOOLBAR = ["new open save", "undo redo", "run stop autorun seed", "fit layout", "dark_theme"]


class MainWindow(QMainWindow):
    """The TensorBlocks editor window; see the module docstring."""

    #: Emitted after every inference (tests wait on it).
    inferenceUpdated = Signal(object)
    seed_controls: SeedControls  # made with the tool bar

    def __init__(
        self,
        *,
        settings: QSettings | None = None,
        engine: Engine | None = None,
        theme: str | None = None,
        restore_layout: bool = True,
        autosave_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings if settings is not None else app_settings()
        #: Whether opened and saved files go into the recent files (off for screenshots).
        self.remember_files = True
        self.setObjectName("TensorBlocksMainWindow")
        self.setWindowIcon(style.app_icon())
        self.setDockNestingEnabled(True)

        self.session = Session(engine=engine)
        self.model = self.session.model
        self.memory = MemorySetting(self)  # the run budget from the settings
        self.undo_stack = QUndoStack(self)
        self.document = Document(
            self.model, self.undo_stack, autosave_dir=autosave_dir or data_dir(), parent=self
        )
        self.files = FileActions(self)
        self._theme: Theme = style.theme_named(theme or str(self.settings.value("theme", "light")))

        # Canvas.
        self.scene = GraphScene(self.session, self.undo_stack)
        self.view = GraphView(self.scene)
        self.drops = CanvasDrops(self)
        viewport = self.view.viewport()
        viewport.setAcceptDrops(True)
        viewport.installEventFilter(self.drops)
        self.setAcceptDrops(True)  # a graph file dropped anywhere on the window opens it
        self.installEventFilter(self.drops)
        viewport.setMouseTracking(True)
        self.setCentralWidget(self.view)

        # Docks.
        self.block_palette = Palette(self.model.registry)
        self.inspector = Inspector(self.session, self.undo_stack)
        self.results = ResultsPanel(self.session, self)
        self.problems = ProblemsList(self.session)
        self.log = LogList()
        left, right, bottom = (Qt.DockWidgetArea.LeftDockWidgetArea,
                               Qt.DockWidgetArea.RightDockWidgetArea,
                               Qt.DockWidgetArea.BottomDockWidgetArea)
        self.palette_dock = self._dock("Blocks", "paletteDock", self.block_palette, left)
        self.inspector_dock = self._dock("Inspector", "inspectorDock", self.inspector, right)
        self.results_dock = self._dock("Results", "resultsDock", self.results, bottom)
        self.problems_dock = self._dock("Problems", "problemsDock", self.problems, bottom)
        self.log_dock = self._dock("Log", "logDock", self.log, bottom)
        self.tabifyDockWidget(self.results_dock, self.problems_dock)
        self.tabifyDockWidget(self.problems_dock, self.log_dock)
        self.results_dock.raise_()
        self.setTabPosition(bottom, QTabWidget.TabPosition.North)
        for dock in (self.results_dock, self.problems_dock, self.log_dock):
            # The tabs name these docks already; a title bar above them would say it twice.
            dock.setTitleBarWidget(QWidget(dock))
        self._layout_restored = False

        # Runs and timers.
        self.runner = Runner(session=self.session, parent=self)
        self._infer_timer = QTimer(self, singleShot=True, interval=INFER_DELAY_MS)
        self._infer_timer.timeout.connect(self.update_inference)
        self._autorun_timer = QTimer(self, singleShot=True, interval=AUTORUN_DELAY_MS)
        self._autorun_timer.timeout.connect(self.run_graph)

        self.icons: dict[QAction, str] = {}
        self.actions_by_name = create_actions(self, checked={
            "dark_theme": self._theme.dark,
            "autorun": as_bool(self.settings.value("autorun", False)),
        })
        self._create_menus()
        self.toolbar = create_toolbar(self, TOOLBAR)
        self.seed_spin, self.fresh_noise = self.seed_controls.spin, self.seed_controls.fresh
        self.editor_status = EditorStatus(self)
        self.run_label = self.editor_status.run_label
        self.zoom_label = self.editor_status.zoom_label
        self._connect()

        self.resize(1400, 880)
        if restore_layout:
            self._restore_layout()
        self.set_theme(self._theme)
        self._update_title()
        self.update_inference()

    # ------------------------------------------------------------------ construction

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        features = QDockWidget.DockWidgetFeature
        dock.setFeatures(features.DockWidgetMovable | features.DockWidgetClosable
                         | features.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _create_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._fill_menu(file_menu, "new open")
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        self._fill_menu(file_menu, "| save save_as | run_dataset | quit")
        for title, names in MENUS.items():
            menu = bar.addMenu(title)
            self._fill_menu(menu, names)
            if title == "&View":
                panels = menu.addMenu("&Panels")
                for dock in self.findChildren(QDockWidget):
                    panels.addAction(dock.toggleViewAction())

    def _fill_menu(self, menu: QMenu, names: str) -> None:
        """Add the named actions to ``menu``; ``|`` is a separator."""
        for name in names.split():
            if name == "|":
                menu.addSeparator()
            else:
                menu.addAction(self.actions_by_name[name])

    def _fill_recent_menu(self) -> None:
        self.files.fill_recent_menu(self.recent_menu)

    def _connect(self) -> None:
        status = self.statusBar()
        self.log.statusMessage.connect(lambda text: status.showMessage(text, 8000))
        self.session.events.model.connect(self._on_model_event)
        self.session.events.inference.connect(
            lambda event: self.inferenceUpdated.emit(event.inference))
        self.document.dirtyChanged.connect(lambda _dirty: self._update_title())
        self.document.pathChanged.connect(self._on_path_changed)
        self.scene.statusMessage.connect(lambda text: status.showMessage(text, 6000))
        self.scene.nodeActivated.connect(lambda _node: self._show_inspector())
        self.block_palette.blockActivated.connect(self.add_block_at_centre)
        self.inspector.statusMessage.connect(lambda text: status.showMessage(text, 6000))
        self.problems.nodeClicked.connect(self.select_node)
        self.problems.countChanged.connect(lambda n: self.problems_dock.setWindowTitle(
            f"Problems ({n})" if n else "Problems"))
        self.log.nodeClicked.connect(self.select_node)

    # ------------------------------------------------------------------ settings and theme

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self._layout_restored = bool(self.restoreState(state))

    def default_dock_sizes(self) -> None:
        """Give the docks their default sizes (the canvas gets the most room)."""
        width, height = self.width(), self.height()
        self.resizeDocks([self.palette_dock, self.inspector_dock],
                         [max(220, width // 7), max(320, width * 9 // 40)],
                         Qt.Orientation.Horizontal)
        # The results get 40% of the height (their images fill their views and a batch
        # lays out as a row in a wide panel); the canvas keeps the rest, so fitting the
        # graph does not shrink its text into blobs.
        self.resizeDocks([self.results_dock], [max(240, height * 40 // 100)],
                         Qt.Orientation.Vertical)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._layout_restored:
            self._layout_restored = True
            QTimer.singleShot(0, self.default_dock_sizes)

    def save_layout(self) -> None:
        """Remember geometry, dock layout, theme and auto-run."""
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("theme", self._theme.name)
        self.settings.setValue("autorun", self.autorun)
        self.settings.sync()

    @property
    def theme(self) -> Theme:
        """The current theme."""
        return self._theme

    def set_theme(self, theme: Theme) -> None:
        """Switch the whole editor (widgets, icons, canvas) to ``theme``."""
        self._theme = theme
        app = QApplication.instance()
        if isinstance(app, QApplication):
            style.apply_theme(app, theme)
        for action, name in self.icons.items():
            colour = theme.success if name == "run" else theme.error if name == "stop" else None
            action.setIcon(style.icon(name, theme, colour))
        self.scene.set_theme(theme.canvas)
        for widget in (self.block_palette, self.inspector, self.problems, self.log):
            widget.set_theme(theme)
        toggle = self.actions_by_name["dark_theme"]
        if toggle.isChecked() != theme.dark:
            toggle.blockSignals(True)
            toggle.setChecked(theme.dark)
            toggle.blockSignals(False)

    def _on_theme_toggled(self, dark: bool) -> None:
        self.set_theme(style.DARK if dark else style.LIGHT)
        self.settings.setValue("theme", self._theme.name)

    # ------------------------------------------------------------------ state

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.display_name}[*] — TensorBlocks")
        self.setWindowModified(self.document.dirty)

    def _on_path_changed(self, path: Path | None) -> None:
        self.session.set_path(path)
        self._update_title()
        if path is not None and self.remember_files:
            add_recent_file(self.settings, path)
        self._infer_timer.start()

    def _on_model_event(self, event: GraphEvent) -> None:
        self._infer_timer.start()
        if self.autorun and not isinstance(event, NodeMoved | GraphReset):
            self.schedule_autorun()

    def update_inference(self) -> Inference | None:
        """Infer shapes now; the session announces it to the widgets."""
        self._infer_timer.stop()
        try:
            return self.session.infer()
        except Exception as error:  # inference should not raise; keep the editor alive if it does
            self.log_message(f"inference failed: {type(error).__name__}: {error}", level="error")
            return None

    # ------------------------------------------------------------------ files

    def open_path(self, path: Path, *, ask: bool = True, interactive: bool = True) -> bool:
        """Open the graph file ``path`` (see :meth:`app.file_actions.FileActions.open_path`)."""
        return self.files.open_path(path, ask=ask, interactive=interactive)

    def offer_recovery(self) -> bool:
        """Offer to restore an autosave left by a crash; True if restored."""
        return self.files.offer_recovery()

    # ------------------------------------------------------------------ view, selection, blocks

    def fit_all(self) -> None:
        """Zoom to show every block."""
        self.view.fit_all()
        self.editor_status.update_zoom()

    def zoom_in(self) -> None:
        self.view.zoom_by(1.2)

    def zoom_out(self) -> None:
        self.view.zoom_by(1 / 1.2)

    def zoom_reset(self) -> None:
        self.view.zoom_by(1.0 / self.view.zoom())

    def _show_inspector(self) -> None:
        self.inspector_dock.show()
        self.inspector_dock.raise_()

    def select_node(self, node_id: str) -> None:
        """Select ``node_id`` (canvas, inspector and results follow) and centre it."""
        if node_id not in self.model:
            self.statusBar().showMessage(f"no node '{node_id}' in the graph", 4000)
            return
        self.session.select([node_id])
        self.view.centerOn(self.scene.nodes_rect([node_id]).center())

    def select_last_block(self) -> str | None:
        """Select the last block in topological order (the screenshot shows its results)."""
        try:
            order = self.model.topological_order()
        except TensorBlocksError:
            order = self.model.node_ids()
        self.session.select(order[-1:])
        return order[-1] if order else None

    def add_block(self, block: str, pos: tuple[float, float], *,
                  literals: dict[str, str] | None = None, node_id: str | None = None,
                  select: bool = True) -> str | None:
        """Add ``block`` at scene position ``pos`` (one undo step); returns its id."""
        if block not in self.model.registry:
            self.statusBar().showMessage(f"unknown block '{block}'", 4000)
            return None
        position = free_position(self.model, pos, GRID)
        command = AddNode(self.model, block, node_id, position, literals=literals)
        self.undo_stack.push(command)
        if select and command.node_id is not None:
            self.session.select([command.node_id])
        return command.node_id

    def add_block_at_centre(self, block: str) -> str | None:
        """Add ``block`` in the middle of the visible canvas (palette double-click)."""
        centre = self.view.mapToScene(self.view.viewport().rect().center())
        node = self.add_block(block, (round(centre.x() - 90.0), round(centre.y() - 40.0)))
        self.view.setFocus()
        return node

    def focus_palette_search(self) -> None:
        """Show the palette and put the cursor in its search field."""
        self.palette_dock.show()
        self.palette_dock.raise_()
        self.block_palette.search.setFocus()
        self.block_palette.search.selectAll()

    # ------------------------------------------------------------------ runs

    @property
    def autorun(self) -> bool:
        """Whether edits re-run the graph."""
        return self.actions_by_name["autorun"].isChecked()

    def _on_autorun_toggled(self, on: bool) -> None:
        self.settings.setValue("autorun", on)
        if on:
            self.run_graph()

    def schedule_autorun(self) -> None:
        """Run a moment after the last edit (edits in a burst run once)."""
        self._autorun_timer.start()

    def run_graph(self) -> None:
        """Run the session's graph on the worker thread (see :mod:`app.runner`)."""
        self._autorun_timer.stop()
        if len(self.model) == 0:
            self.statusBar().showMessage("Nothing to run: the graph is empty", 3000)
            return
        path = self.session.path  # a stranger's graph says which outside files it reads
        if path is not None and not confirm_outside_files(self, self.model, path, self.settings):
            self.statusBar().showMessage("Not run: it reads files outside its folder", 5000)
            return
        self.runner.start()

    def stop_run(self) -> None:
        """Cancel the run in progress."""
        self.runner.stop()
        self.statusBar().showMessage("Stopping…", 2000)

    def clear_cache(self) -> None:
        """Forget cached node outputs (the next run computes everything)."""
        self.runner.engine.clear_cache()
        self.statusBar().showMessage("Cached results cleared", 3000)

    # ------------------------------------------------------------------ messages and errors

    def log_message(self, message: str, *, node: str | None = None, level: str = "info") -> None:
        """Add a line to the log panel."""
        self.log.message(message, node=node, level=level)

    def report_exception(
        self, kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        """Log an exception that escaped a handler (installed as ``sys.excepthook``)."""
        self.log.report_exception(kind, value, tb)

    def guarded(self, slot: Callable[[], Any]) -> None:
        """Call ``slot``; an exception it raises is logged, never a crash."""
        try:
            slot()
        except Exception as error:
            self.report_exception(type(error), error, error.__traceback__)

    def show_shortcuts(self) -> None:
        """The shortcuts sheet: every action's keys and the canvas gestures."""
        from app.shortcuts import show_shortcuts_sheet

        show_shortcuts_sheet(self, self.actions_by_name.values())

    def show_about(self) -> None:
        """The about box."""
        from blocks import __version__

        QMessageBox.about(
            self, "About TensorBlocks",
            f"<b>TensorBlocks {__version__}</b><br>A visual dataflow block editor for image "
            "tensors, with TensorFlow-exact ExtractGlimpse and ExtractImagePatches.",
        )

    # ------------------------------------------------------------------ closing

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.maybe_save():
            event.ignore()
            return
        self.runner.shutdown()
        self.save_layout()
        self.document.discard_autosave()
        self.inspector.close_model()
        event.accept()
