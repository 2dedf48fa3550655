"""The editor's main window: canvas, palette, inspector, results, log, runs, files, themes.

Contract (:class:`MainWindow`):

* One :class:`~graph.model.GraphModel` and one ``QUndoStack`` for the window's lifetime,
  wrapped by a :class:`~app.document.Document` (path, dirty mark, autosave). Every edit
  goes through the undo commands of :mod:`app.commands`.
* Layout: the canvas (:class:`~app.canvas.view.GraphView` on a
  :class:`~app.canvas.scene.GraphScene`) in the centre; docks: the palette (left), the
  inspector (right), and, tabbed along the bottom, the results panel, the live problems and
  the log. Geometry and dock state are saved in :func:`app.document.app_settings`.
* Inference (:func:`graph.infer.infer`) is recomputed 100 ms after the last change and
  pushed to the canvas, the inspector and the problems list. Runs go through a
  :class:`~app.runner.Runner` (one Engine, so the cache carries over); with Auto-run on, a
  run starts 300 ms after the last change that affects results.
* Files: New/Open/Save/Save As (``.tbg.json``), a prompt (Save / Discard / Cancel) before
  unsaved changes are lost, recent files, drops: a graph file dropped on the window opens
  it; a block dragged from the palette, or a data file (``.npy``, ``.npz``, an image)
  dropped on the canvas, adds a block there (a data file becomes an Input whose ``file``
  is relative to the graph's folder when the graph is saved, else absolute).
* Title ``name.tbg.json[*] — TensorBlocks`` with ``setWindowModified`` as the mark.
* Nothing raised by a handler reaches the user as a crash: :meth:`report_exception`
  logs it (``app.editor`` installs it as ``sys.excepthook``).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QShowEvent,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDockWidget,
    QFileDialog,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSpinBox,
    QTabWidget,
    QToolBar,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from app import style
from app.canvas.scene import GRID, GraphScene
from app.canvas.view import GraphView
from app.commands import AddNode, SetLiteral, push_macro
from app.document import (
    GRAPH_SUFFIX,
    Document,
    add_recent_file,
    app_settings,
    data_dir,
    recent_files,
)
from app.inspector import Inspector
from app.palette import BLOCK_MIME, Palette
from app.results.panel import ResultsPanel
from app.runner import Runner
from app.style import Theme
from blocks.attrs import format_attrs
from blocks.errors import TensorBlocksError
from blocks.input_files import ARRAY_SUFFIXES, IMAGE_SUFFIXES, peek_tensor_file
from blocks.literals import dtype_name, format_literal
from blocks.spec import PortKind
from graph.engine import Engine, RunReport
from graph.infer import Inference, infer
from graph.model import GraphEvent, GraphModel, GraphReset, NodeMoved

INFER_DELAY_MS = 100
AUTORUN_DELAY_MS = 300
SCREENSHOT_SIZE = (1500, 950)
DATA_SUFFIXES = ARRAY_SUFFIXES + IMAGE_SUFFIXES
#: The block a dropped data file becomes and the ports it sets (read from the declaration).
INPUT_BLOCK = "Input"


def _is_graph_file(path: Path) -> bool:
    return path.name.lower().endswith(".json")


def _is_data_file(path: Path) -> bool:
    return path.suffix.lower() in DATA_SUFFIXES


class MessageList(QTreeWidget):
    """A list of messages (time, node, text); clicking one with a node emits ``nodeClicked``."""

    nodeClicked = Signal(str)

    def __init__(self, columns: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(len(columns))
        self.setHeaderLabels(columns)
        self.setRootIsDecorated(False)
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(True)
        self.setWordWrap(False)
        header = self.header()
        header.setStretchLastSection(True)
        for column in range(len(columns) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.itemClicked.connect(self._on_clicked)
        self.itemActivated.connect(self._on_clicked)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        copy = QAction("Copy Message", self)
        copy.triggered.connect(self._copy_current)
        clear = QAction("Clear", self)
        clear.triggered.connect(self.clear)
        self.addActions([copy, clear])
        self._theme: Theme = style.LIGHT

    def add(self, values: list[str], *, node: str | None, level: str = "error") -> QTreeWidgetItem:
        """Append a row; ``level`` is ``error``, ``warning`` or ``info``."""
        item = QTreeWidgetItem(values)
        item.setData(0, Qt.ItemDataRole.UserRole, node or "")
        item.setData(0, Qt.ItemDataRole.UserRole + 1, level)
        item.setToolTip(len(values) - 1, values[-1])
        self._paint(item)
        self.addTopLevelItem(item)
        return item

    def _paint(self, item: QTreeWidgetItem) -> None:
        level = item.data(0, Qt.ItemDataRole.UserRole + 1)
        colour = {"error": self._theme.error, "warning": self._theme.warning}.get(
            str(level), self._theme.muted
        )
        item.setIcon(
            0, style.icon("error" if level in ("error", "warning") else "info", self._theme, colour)
        )

    def set_theme(self, theme: Theme) -> None:
        """Re-tint the row icons."""
        self._theme = theme
        for item in self.items():
            self._paint(item)

    def items(self) -> list[QTreeWidgetItem]:
        """The rows, in order."""
        rows = (self.topLevelItem(i) for i in range(self.topLevelItemCount()))
        return [row for row in rows if row is not None]

    def nodes(self) -> list[str]:
        """The node of each row ("" for none), in order."""
        return [str(item.data(0, Qt.ItemDataRole.UserRole)) for item in self.items()]

    def texts(self) -> list[str]:
        """The message of each row, in order."""
        return [item.text(self.columnCount() - 1) for item in self.items()]

    def _copy_current(self) -> None:
        item = self.currentItem()
        if item is not None:
            texts = [item.text(column) for column in range(self.columnCount())]
            QApplication.clipboard().setText("  ".join(text for text in texts if text))

    def _on_clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        node = item.data(0, Qt.ItemDataRole.UserRole)
        if node:
            self.nodeClicked.emit(str(node))


class MainWindow(QMainWindow):
    """The TensorBlocks editor window; see the module docstring."""

    #: Emitted after every inference (tests wait on it).
    inferenceUpdated = Signal(object)
    _exceptionReported = Signal(str, str, str)

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
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)

        self.model = GraphModel()
        self.undo_stack = QUndoStack(self)
        self.document = Document(
            self.model, self.undo_stack, autosave_dir=autosave_dir or data_dir(), parent=self
        )
        self.inference: Inference | None = None
        self.report: RunReport | None = None
        self._theme: Theme = style.theme_named(theme or str(self.settings.value("theme", "light")))

        # Canvas.
        self.scene = GraphScene(self.model, self.undo_stack)
        self.view = GraphView(self.scene)
        self.view.setAcceptDrops(True)
        self.view.viewport().setAcceptDrops(True)
        self.view.viewport().installEventFilter(self)
        self.view.viewport().setMouseTracking(True)
        self.setCentralWidget(self.view)

        # Docks.
        self.block_palette = Palette(self.model.registry)
        self.inspector = Inspector(self.model, self.undo_stack)
        self.results = ResultsPanel(self)
        self.problems = MessageList(["node", "where", "problem"])
        self.log = MessageList(["time", "node", "message"])
        self.palette_dock = self._dock(
            "Blocks", "paletteDock", self.block_palette, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.inspector_dock = self._dock(
            "Inspector", "inspectorDock", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.results_dock = self._dock(
            "Results", "resultsDock", self.results, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.problems_dock = self._dock(
            "Problems", "problemsDock", self.problems, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.log_dock = self._dock(
            "Log", "logDock", self.log, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.tabifyDockWidget(self.results_dock, self.problems_dock)
        self.tabifyDockWidget(self.problems_dock, self.log_dock)
        self.results_dock.raise_()
        self.setTabPosition(Qt.DockWidgetArea.BottomDockWidgetArea, QTabWidget.TabPosition.North)
        for dock in (self.results_dock, self.problems_dock, self.log_dock):
            # The tabs name these docks already; a title bar above them would say it twice.
            dock.setTitleBarWidget(QWidget(dock))
        self._layout_restored = False

        # Runs and timers.
        self.runner = Runner(engine, parent=self)
        self._infer_timer = QTimer(self, singleShot=True, interval=INFER_DELAY_MS)
        self._infer_timer.timeout.connect(self.update_inference)
        self._autorun_timer = QTimer(self, singleShot=True, interval=AUTORUN_DELAY_MS)
        self._autorun_timer.timeout.connect(self.run_graph)

        self._icons: dict[QAction, str] = {}
        self.actions_by_name: dict[str, QAction] = {}
        self._create_actions()
        self._create_menus()
        self._create_toolbar()
        self._create_status_bar()
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
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    def _action(
        self,
        name: str,
        text: str,
        slot: Callable[..., Any] | None = None,
        shortcut: QKeySequence.StandardKey | str | list[str] | None = None,
        *,
        icon: str | None = None,
        tip: str | None = None,
        checkable: bool = False,
        canvas_only: bool = False,
    ) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut is not None:
            if isinstance(shortcut, list):
                action.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                action.setShortcut(QKeySequence(shortcut))
        if icon:
            self._icons[action] = icon
        action.setCheckable(checkable)
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(
            (tip or text.replace("&", "").rstrip("…")) + (f"  ({keys})" if keys else "")
        )
        action.setStatusTip(tip or text.replace("&", ""))
        if slot is not None:
            if checkable:
                action.toggled.connect(slot)
            else:
                action.triggered.connect(lambda _checked=False, s=slot: self._guarded(s))
        if canvas_only:
            # Plain keys (F, Delete) must not fire while typing in a panel: they belong to
            # the canvas, so their shortcut only works when the canvas has the focus.
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.view.addAction(action)
        else:
            self.addAction(action)
        self.actions_by_name[name] = action
        return action

    def _create_actions(self) -> None:
        key = QKeySequence.StandardKey
        a = self._action
        a("new", "&New", self.new_graph, key.New, icon="new", tip="New graph")
        a("open", "&Open…", self.open_dialog, key.Open, icon="open", tip="Open a graph file")
        a("save", "&Save", self.save, key.Save, icon="save", tip="Save the graph")
        a("save_as", "Save &As…", self.save_as_dialog, key.SaveAs)
        a("quit", "&Quit", self.close, key.Quit)

        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setObjectName("undo")
        undo.setShortcut(QKeySequence(key.Undo))
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setObjectName("redo")
        redo.setShortcuts([QKeySequence(key.Redo), QKeySequence("Ctrl+Y")])
        for action, icon_name in ((undo, "undo"), (redo, "redo")):
            self._icons[action] = icon_name
            self.addAction(action)
            self.actions_by_name[action.objectName()] = action
        a("cut", "Cu&t", lambda: self.scene.cut_selection(), key.Cut)
        a("copy", "&Copy", lambda: self.scene.copy_selection(), key.Copy)
        a("paste", "&Paste", lambda: self.scene.paste(self.view.pointer_scene_pos()), key.Paste)
        a("duplicate", "D&uplicate", lambda: self.scene.duplicate_selection(), "Ctrl+D")
        a(
            "delete",
            "&Delete",
            lambda: self.scene.delete_selection(),
            ["Del", "Backspace"],
            canvas_only=True,
        )
        a("select_all", "Select &All", self.select_all, key.SelectAll)
        a(
            "find_block",
            "&Find Block…",
            self.focus_palette_search,
            "Ctrl+F",
            tip="Search the block palette",
        )
        a(
            "quick_add",
            "&Quick Add…",
            self.quick_add,
            "Ctrl+K",
            tip="Add a block by name at the cursor",
        )

        a(
            "fit",
            "&Fit All",
            self.fit_all,
            ["F", "Home"],
            icon="fit",
            tip="Fit the whole graph",
            canvas_only=True,
        )
        a(
            "fit_selection",
            "Fit &Selection",
            self.fit_selection,
            ["Shift+F", "."],
            canvas_only=True,
        )
        a("zoom_in", "Zoom &In", lambda: self._zoom(1.2), ["Ctrl++", "Ctrl+="])
        a("zoom_out", "Zoom &Out", lambda: self._zoom(1 / 1.2), "Ctrl+-")
        a("zoom_reset", "&Actual Size", self._zoom_reset, "Ctrl+0")
        a(
            "layout",
            "Auto &Layout",
            lambda: self.scene.auto_layout(),
            "Ctrl+L",
            icon="layout",
            tip="Arrange the blocks left to right",
        )
        a(
            "dark_theme",
            "&Dark Theme",
            self._on_theme_toggled,
            "Ctrl+Shift+T",
            icon="theme",
            checkable=True,
            tip="Switch between the light and dark themes",
        )

        a("run", "&Run", self.run_graph, ["F5", "Ctrl+Return"], icon="run", tip="Run the graph")
        a("stop", "S&top", self.stop_run, "Shift+F5", icon="stop", tip="Stop the run")
        a(
            "autorun",
            "&Auto-run",
            self._on_autorun_toggled,
            "Ctrl+Shift+R",
            icon="autorun",
            checkable=True,
            tip="Run again after every edit (only what changed runs)",
        )
        a("clear_cache", "&Clear Cached Results", self.clear_cache)
        a("shortcuts", "&Keyboard Shortcuts", self.show_shortcuts, "F1")
        a("about", "&About TensorBlocks", self.show_about)
        self.actions_by_name["stop"].setEnabled(False)
        # The initial states come from the settings: setting them is not a user's toggle,
        # so it must neither write the settings back nor start a run.
        initial = {
            "dark_theme": self._theme.dark,
            "autorun": _as_bool(self.settings.value("autorun", False)),
        }
        for name, checked in initial.items():
            action = self.actions_by_name[name]
            action.blockSignals(True)
            action.setChecked(checked)
            action.blockSignals(False)

    def _create_menus(self) -> None:
        acts = self.actions_by_name
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for name in ("new", "open"):
            file_menu.addAction(acts[name])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        file_menu.addAction(acts["save"])
        file_menu.addAction(acts["save_as"])
        file_menu.addSeparator()
        file_menu.addAction(acts["quit"])

        self._fill_menu(
            bar.addMenu("&Edit"),
            "undo redo | cut copy paste duplicate delete | select_all find_block quick_add",
        )
        view = bar.addMenu("&View")
        self._fill_menu(
            view, "fit fit_selection zoom_in zoom_out zoom_reset | layout | dark_theme |"
        )
        panels = view.addMenu("&Panels")
        for dock in self.findChildren(QDockWidget):
            panels.addAction(dock.toggleViewAction())
        self._fill_menu(bar.addMenu("&Run"), "run stop autorun | clear_cache")
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(acts["shortcuts"])
        help_menu.addAction(acts["about"])

    def _fill_menu(self, menu: QMenu, names: str) -> None:
        """Add the named actions to ``menu``; ``|`` is a separator."""
        for name in names.split():
            if name == "|":
                menu.addSeparator()
            else:
                menu.addAction(self.actions_by_name[name])

    def _create_toolbar(self) -> None:
        acts = self.actions_by_name
        bar = QToolBar("Main", self)
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        groups = [
            ["new", "open", "save"],
            ["undo", "redo"],
            ["run", "stop", "autorun"],
            ["fit", "layout"],
            ["dark_theme"],
        ]
        icon_only = {"new", "open", "save", "undo", "redo", "fit", "layout", "dark_theme"}
        for index, group in enumerate(groups):
            if index:
                bar.addSeparator()
            for name in group:
                bar.addAction(acts[name])
                button = bar.widgetForAction(acts[name])
                if isinstance(button, QToolButton):
                    button.setObjectName(f"{name}Button")
                    if name in icon_only:
                        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
            if "run" in group:
                self._add_seed_controls(bar)
        self.toolbar = bar

    def _add_seed_controls(self, bar: QToolBar) -> None:
        """The run seed: a number (same noise on every run) or fresh noise (seed None)."""
        self.seed_spin = QSpinBox(bar)
        self.seed_spin.setObjectName("seedSpin")
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setPrefix("Seed ")
        self.seed_spin.setToolTip("Seed of noisy blocks: the same seed gives the same noise")
        self.seed_spin.setKeyboardTracking(False)
        self.seed_spin.setMaximumWidth(120)
        self.fresh_noise = QCheckBox("Fresh noise", bar)
        self.fresh_noise.setObjectName("freshNoise")
        self.fresh_noise.setToolTip(
            "Draw new noise on every run (noisy blocks are then never cached)"
        )
        try:
            seed = int(str(self.settings.value("run/seed", 0)))
        except ValueError:
            seed = 0
        self.seed_spin.setValue(max(0, seed))
        self.fresh_noise.setChecked(_as_bool(self.settings.value("run/fresh_noise", False)))
        self.seed_spin.setEnabled(not self.fresh_noise.isChecked())
        self.seed_spin.valueChanged.connect(self._on_seed_changed)
        self.fresh_noise.toggled.connect(self._on_seed_changed)
        bar.addWidget(self.seed_spin)
        bar.addWidget(self.fresh_noise)
        self._on_seed_changed(write=False)

    @property
    def seed(self) -> int | None:
        """The run seed: None with Fresh noise on."""
        return None if self.fresh_noise.isChecked() else int(self.seed_spin.value())

    def set_seed(self, seed: int | None) -> None:
        """Set the seed controls (None: fresh noise)."""
        if seed is None:
            self.fresh_noise.setChecked(True)
        else:
            self.fresh_noise.setChecked(False)
            self.seed_spin.setValue(seed)

    def _on_seed_changed(self, *_: Any, write: bool = True) -> None:
        self.seed_spin.setEnabled(not self.fresh_noise.isChecked())
        self.runner.seed = self.seed
        if write:
            self.settings.setValue("run/seed", int(self.seed_spin.value()))
            self.settings.setValue("run/fresh_noise", self.fresh_noise.isChecked())

    def _create_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(160)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.run_label = QLabel("")
        self.cursor_label = QLabel("")
        self.zoom_label = QLabel("100%")
        self.zoom_label.setMinimumWidth(48)
        bar.addPermanentWidget(self.run_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cursor_label)
        bar.addPermanentWidget(self.zoom_label)
        bar.showMessage("Ready", 3000)

    def _connect(self) -> None:
        self._exceptionReported.connect(self._show_exception)
        self.model.subscribe(self._on_model_event)
        self.document.dirtyChanged.connect(lambda _dirty: self._update_title())
        self.document.pathChanged.connect(self._on_path_changed)
        self.scene.selectedNodesChanged.connect(self._on_selection)
        self.scene.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.scene.nodeActivated.connect(self._on_node_activated)
        self.block_palette.blockActivated.connect(self.add_block_at_centre)
        self.inspector.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.inspector.nodeRenamed.connect(lambda node: self.scene.select_nodes([node]))
        self.problems.nodeClicked.connect(self.select_node)
        self.log.nodeClicked.connect(self.select_node)
        self.runner.runStarted.connect(self._on_run_started)
        self.runner.progress.connect(self._on_run_progress)
        self.runner.runFinished.connect(self._on_run_finished)
        self.runner.runFailed.connect(self._on_run_failed)
        self.runner.runningChanged.connect(self._on_running_changed)

    # ------------------------------------------------------------------ settings

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
        self.resizeDocks(
            [self.palette_dock, self.inspector_dock],
            [max(220, width // 7), max(320, width * 9 // 40)],
            Qt.Orientation.Horizontal,
        )
        # The results get 40% of the height (their images fill their views and a
        # batch lays out as a row in a wide panel); the canvas keeps the rest, so fitting
        # the graph does not shrink its text into blobs.
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

    # ------------------------------------------------------------------ theme

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
        for action, name in self._icons.items():
            colour = theme.success if name == "run" else theme.error if name == "stop" else None
            action.setIcon(style.icon(name, theme, colour))
        canvas_theme = style.canvas_theme(theme)
        if canvas_theme is not None:
            self.scene.set_theme(canvas_theme)
        self.block_palette.set_theme(theme)
        self.inspector.set_theme(theme)
        self.problems.set_theme(theme)
        self.log.set_theme(theme)
        toggle = self.actions_by_name["dark_theme"]
        if toggle.isChecked() != theme.dark:
            toggle.blockSignals(True)
            toggle.setChecked(theme.dark)
            toggle.blockSignals(False)

    def _on_theme_toggled(self, dark: bool) -> None:
        self.set_theme(style.DARK if dark else style.LIGHT)
        self.settings.setValue("theme", self._theme.name)

    # ------------------------------------------------------------------ title and state

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.display_name}[*] — TensorBlocks")
        self.setWindowModified(self.document.dirty)

    def _on_path_changed(self, path: Path | None) -> None:
        self.inspector.base_dir = self.document.base_dir
        self._update_title()
        if path is not None and self.remember_files:
            add_recent_file(self.settings, path)
        self._schedule_inference()

    # ------------------------------------------------------------------ model changes

    def _on_model_event(self, event: GraphEvent) -> None:
        self._schedule_inference()
        if isinstance(event, GraphReset):
            self.report = None
            self._push_report(None)
        if self.autorun and not isinstance(event, NodeMoved | GraphReset):
            self._autorun_timer.start()

    def _schedule_inference(self) -> None:
        self._infer_timer.start()

    def update_inference(self) -> Inference | None:
        """Infer shapes now and push them to the canvas, inspector and problems list."""
        self._infer_timer.stop()
        try:
            inference = infer(self.model, base_dir=self.document.base_dir)
        except Exception as error:  # inference should not raise; keep the editor alive if it does
            self.log_message(f"inference failed: {type(error).__name__}: {error}", level="error")
            return None
        self.inference = inference
        self.scene.set_inference(inference)
        self.inspector.set_inference(inference)
        self._fill_problems(inference)
        self.inferenceUpdated.emit(inference)
        return inference

    def _fill_problems(self, inference: Inference) -> None:
        self.problems.clear()
        for problem in inference.problems:
            where = ", ".join(
                part
                for part in (
                    problem.block or "",
                    f"port {problem.port}" if problem.port else "",
                    f"attr {problem.attr}" if problem.attr else "",
                )
                if part
            )
            self.problems.add(
                [problem.node or "", where, problem.reason], node=problem.node, level="warning"
            )
        count = len(inference.problems)
        self.problems_dock.setWindowTitle(f"Problems ({count})" if count else "Problems")

    # ------------------------------------------------------------------ selection

    def _on_selection(self, node_ids: list[str]) -> None:
        node = node_ids[-1] if node_ids else None
        self.inspector.set_node(node)
        self.results.show_node(node)

    def _on_node_activated(self, node_id: str) -> None:
        self.inspector.set_node(node_id)
        self.inspector_dock.show()
        self.inspector_dock.raise_()

    def select_node(self, node_id: str) -> None:
        """Select ``node_id`` on the canvas and show it in the inspector."""
        if node_id not in self.model:
            self.statusBar().showMessage(f"no node '{node_id}' in the graph", 4000)
            return
        self.scene.select_nodes([node_id])
        self.inspector.set_node(node_id)
        self.results.show_node(node_id)
        self.view.centerOn(self.scene.nodes_rect([node_id]).center())

    def select_all(self) -> None:
        """Select every block."""
        self.scene.select_nodes(self.model.node_ids())

    def select_last_block(self) -> str | None:
        """Select the last block in topological order (the screenshot shows its results)."""
        try:
            order = self.model.topological_order()
        except TensorBlocksError:
            order = self.model.node_ids()
        if not order:
            return None
        last = order[-1]
        self.scene.select_nodes([last])
        self.inspector.set_node(last)
        self.results.show_node(last)
        return last

    # ------------------------------------------------------------------ adding blocks

    def _free_position(self, pos: tuple[float, float]) -> tuple[float, float]:
        taken = {node.pos for node in self.model.nodes()}
        x, y = pos
        while (x, y) in taken:
            x, y = x + GRID, y + GRID
        return (x, y)

    def add_block(
        self,
        block: str,
        pos: tuple[float, float],
        *,
        literals: dict[str, str] | None = None,
        node_id: str | None = None,
        select: bool = True,
    ) -> str | None:
        """Add ``block`` at scene position ``pos`` (one undo step); returns its id."""
        if block not in self.model.registry:
            self.statusBar().showMessage(f"unknown block '{block}'", 4000)
            return None
        spec = self.model.registry[block]
        # The full canonical attrs string, so the inspector and the file show every attr.
        attrs = format_attrs(spec.default_attrs(), spec) if spec.attrs else ""
        position = self._free_position(_snapped(pos))
        command = AddNode(self.model, block, node_id, position, attrs=attrs, literals=literals)
        self.undo_stack.push(command)
        if select and command.node_id is not None:
            self.scene.select_nodes([command.node_id])
            self.inspector.set_node(command.node_id)
        return command.node_id

    def view_centre(self) -> tuple[float, float]:
        """The scene position at the centre of the canvas."""
        centre = self.view.mapToScene(self.view.viewport().rect().center())
        return (round(centre.x() - 90.0), round(centre.y() - 40.0))

    def add_block_at_centre(self, block: str) -> str | None:
        """Add ``block`` in the middle of the visible canvas (palette double-click)."""
        node = self.add_block(block, self.view_centre())
        self.view.setFocus()
        return node

    def focus_palette_search(self) -> None:
        """Show the palette and put the cursor in its search field."""
        self.palette_dock.show()
        self.palette_dock.raise_()
        self.block_palette.search.setFocus()
        self.block_palette.search.selectAll()

    def quick_add(self) -> None:
        """Open the canvas's quick-add box (falls back to the palette search)."""
        show = getattr(self.view, "show_quick_add", None)
        if callable(show):
            try:
                show()
                return
            except TypeError:
                pass
        self.focus_palette_search()

    def file_literal(self, path: Path) -> str:
        """The ``file`` literal for ``path``: relative to the graph's folder when saved."""
        path = Path(path).resolve()
        base = self.document.base_dir
        text = path.as_posix()
        if base is not None:
            try:
                text = Path(os.path.relpath(path, base)).as_posix()
            except ValueError:  # another drive: keep it absolute
                text = path.as_posix()
        return format_literal(text, PortKind.PATH)

    def add_data_file(self, path: Path, pos: tuple[float, float]) -> list[str]:
        """Add an Input block reading ``path`` (one per array of an ``.npz``); returns ids."""
        path = Path(path).resolve()
        file_text = self.file_literal(path)
        # (node id stem, file literal, file name to peek at) per block to add.
        sources = [(path.name.split(".")[0], file_text, path.as_posix())]
        if path.suffix.lower() == ".npz":
            try:
                with np.load(path, allow_pickle=False) as archive:
                    keys = list(archive.files)
            except (OSError, ValueError) as error:
                self.log_message(f"cannot read {path.name}: {error}", level="error")
                return []
            if len(keys) > 1:
                sources = [
                    (key, f"{file_text}:{key}", f"{path.as_posix()}:{key}") for key in keys[:8]
                ]
        commands: list[AddNode] = []
        x, y = pos
        for stem, literal, peek_name in sources:
            literals = {"file": literal}
            if path.suffix.lower() in ARRAY_SUFFIXES:
                try:
                    _shape, dtype = peek_tensor_file(peek_name, None)
                    if dtype != np.dtype(np.float32):
                        literals["dtype"] = dtype_name(dtype)
                except TensorBlocksError:
                    pass  # inference shows what is wrong with the file
            node_id = self.model.unique_id(stem or "input")
            position = self._free_position(_snapped((x, y)))
            commands.append(AddNode(self.model, INPUT_BLOCK, node_id, position, literals=literals))
            y += 110.0
        push_macro(self.undo_stack, f"Add {path.name}", commands)
        ids = [command.node_id for command in commands if command.node_id is not None]
        self.scene.select_nodes(ids)
        if ids:
            self.inspector.set_node(ids[-1])
        self.statusBar().showMessage(f"added {', '.join(ids)} reading {path.name}", 5000)
        return ids

    # ------------------------------------------------------------------ drops

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.view.viewport():
            kind = event.type()
            if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and isinstance(
                event, QDragEnterEvent | QDropEvent
            ):
                if self._acceptable_drop(event):
                    event.setDropAction(Qt.DropAction.CopyAction)
                    event.accept()
                    return True
            elif kind == QEvent.Type.Drop and isinstance(event, QDropEvent):
                if self._acceptable_drop(event):
                    point = event.position().toPoint()
                    scene_pos = self.view.mapToScene(point.x(), point.y())
                    self._guarded(lambda: self.handle_drop(event.mimeData(), scene_pos))
                    event.setDropAction(Qt.DropAction.CopyAction)
                    event.accept()
                    return True
            elif kind in (QEvent.Type.MouseMove, QEvent.Type.Wheel, QEvent.Type.Resize):
                QTimer.singleShot(0, self._update_view_labels)
                if kind == QEvent.Type.MouseMove:
                    point = event.position().toPoint()  # type: ignore[attr-defined]
                    pos = self.view.mapToScene(point.x(), point.y())
                    self.cursor_label.setText(f"{pos.x():.0f}, {pos.y():.0f}")
        return super().eventFilter(watched, event)

    def _acceptable_drop(self, event: QDropEvent) -> bool:
        mime = event.mimeData()
        if mime.hasFormat(BLOCK_MIME):
            return True
        return any(
            _is_data_file(Path(url.toLocalFile())) or _is_graph_file(Path(url.toLocalFile()))
            for url in mime.urls()
            if url.isLocalFile()
        )

    def handle_drop(self, mime: Any, scene_pos: QPointF) -> list[str]:
        """Act on dropped data at ``scene_pos``: a palette block, data files or a graph file."""
        pos = (round(scene_pos.x()), round(scene_pos.y()))
        if mime.hasFormat(BLOCK_MIME):
            block = bytes(mime.data(BLOCK_MIME)).decode("utf-8")
            node = self.add_block(block, pos)
            return [node] if node else []
        added: list[str] = []
        for url in mime.urls():
            if not url.isLocalFile():
                continue
            path = Path(url.toLocalFile())
            if _is_graph_file(path):
                self.open_path(path)
                return []
            if _is_data_file(path):
                added += self.add_data_file(path, (pos[0], pos[1] + 110.0 * len(added)))
        return added

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(
            _is_graph_file(Path(u.toLocalFile()))
            for u in event.mimeData().urls()
            if u.isLocalFile()
        ):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile() and _is_graph_file(Path(url.toLocalFile())):
                event.acceptProposedAction()
                self.open_path(Path(url.toLocalFile()))
                return
        event.ignore()

    # ------------------------------------------------------------------ view

    def fit_all(self) -> None:
        """Zoom to show every block."""
        self.view.fit_all()
        self._update_view_labels()

    def fit_selection(self) -> None:
        """Zoom to show the selected blocks."""
        self.view.fit_selection()
        self._update_view_labels()

    def _zoom(self, factor: float) -> None:
        self.view.zoom_by(factor)
        self._update_view_labels()

    def _zoom_reset(self) -> None:
        self.view.zoom_by(1.0 / self.view.zoom())
        self._update_view_labels()

    def _update_view_labels(self) -> None:
        self.zoom_label.setText(f"{self.view.zoom() * 100:.0f}%")

    # ------------------------------------------------------------------ files

    def maybe_save(self) -> bool:
        """Ask before unsaved changes are lost; True when it is fine to go on."""
        if not self.document.dirty:
            return True
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"{self.document.display_name} has unsaved changes. Save them first?",
            buttons.Save | buttons.Discard | buttons.Cancel,
            buttons.Save,
        )
        if answer == buttons.Save:
            return self.save()
        return answer == buttons.Discard

    def new_graph(self) -> bool:
        """Start an empty graph (after the unsaved-changes prompt)."""
        if not self.maybe_save():
            return False
        self.runner.stop()
        self.document.new()
        self.report = None
        self.statusBar().showMessage("New graph", 3000)
        return True

    def open_dialog(self) -> None:
        """Choose a graph file and open it."""
        if not self.maybe_save():
            return
        start = str(self.document.base_dir or self.settings.value("lastDir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open graph",
            start,
            f"TensorBlocks graphs (*{GRAPH_SUFFIX} *.json);;All files (*)",
        )
        if path:
            self.open_path(Path(path), ask=False)

    def open_path(self, path: Path, *, ask: bool = True, interactive: bool = True) -> bool:
        """Open the graph file ``path``; errors go to the log (and a dialog if interactive)."""
        if ask and not self.maybe_save():
            return False
        try:
            self.document.open(Path(path))
        except (TensorBlocksError, OSError) as error:
            message = str(error)
            problems = getattr(error, "problems", None)
            if problems and len(problems) > 1:
                message += "\n" + "\n".join(str(p) for p in problems[1:8])
            self.log_message(f"cannot open {path}: {message}", level="error")
            if interactive:
                QMessageBox.warning(self, "Cannot open graph", message)
            return False
        self.runner.stop()
        if self.remember_files:
            self.settings.setValue("lastDir", str(Path(path).resolve().parent))
        self.update_inference()
        self.report = None
        self._push_report(None)
        self.fit_all()
        self.statusBar().showMessage(f"Opened {self.document.display_name}", 4000)
        self.log_message(f"opened {self.document.path}", level="info")
        if self.autorun:
            self._autorun_timer.start()
        return True

    def save(self) -> bool:
        """Save to the current file (Save As when untitled); True on success."""
        if self.document.path is None:
            return self.save_as_dialog()
        return self.save_to(self.document.path)

    def save_as_dialog(self) -> bool:
        """Choose a file name and save there."""
        start = str(
            self.document.path
            or Path(str(self.settings.value("lastDir", str(Path.home()))))
            / ("untitled" + GRAPH_SUFFIX)
        )
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Save graph as",
            start,
            f"TensorBlocks graphs (*{GRAPH_SUFFIX});;JSON files (*.json)",
        )
        if not path:
            return False
        target = Path(path)
        if not target.name.lower().endswith(".json"):
            target = target.with_name(target.name + GRAPH_SUFFIX)
        return self.save_to(target)

    def save_to(self, path: Path) -> bool:
        """Save to ``path``; relative file names are rewritten when the folder changes."""
        path = Path(path).resolve()
        old_base = self.document.base_dir
        try:
            if old_base is not None and old_base != path.parent:
                self._rebase_paths(old_base, path.parent)
            self.document.save(path)
        except (TensorBlocksError, OSError) as error:
            self.log_message(f"cannot save {path}: {error}", level="error")
            QMessageBox.warning(self, "Cannot save graph", str(error))
            return False
        self.settings.setValue("lastDir", str(path.parent))
        self.statusBar().showMessage(f"Saved {path.name}", 4000)
        return True

    def _rebase_paths(self, old_base: Path, new_base: Path) -> None:
        from graph.fileformat import rebase_paths

        moved = self.model.copy()
        if not rebase_paths(moved, old_base, new_base):
            return
        commands = []
        for node in moved.nodes():
            current = self.model.node(node.id).literals
            for port, text in node.literals.items():
                if current.get(port) != text:
                    commands.append(SetLiteral(self.model, node.id, port, text))
        push_macro(self.undo_stack, "Rewrite file paths for the new folder", commands)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = recent_files(self.settings)
        for path in paths:
            action = self.recent_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
            action.triggered.connect(
                lambda _=False, p=path: self._guarded(lambda: self.open_path(p))
            )
        if not paths:
            empty = self.recent_menu.addAction("No recent files")
            empty.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear Recent Files")
            clear.triggered.connect(lambda: self.settings.setValue("recentFiles", []))

    def offer_recovery(self) -> bool:
        """If an autosave was left by a crash, offer to restore it; True if restored."""
        from app.document import pending_recovery

        recovery = pending_recovery(self.document.autosave_path.parent)
        if recovery is None:
            return False
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(recovery.saved_at))
        name = recovery.original.name if recovery.original else "an untitled graph"
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(
            self,
            "Recover unsaved changes",
            f"TensorBlocks did not close normally. Restore the unsaved changes to {name} "
            f"autosaved at {when}?",
            buttons.Yes | buttons.No,
            buttons.Yes,
        )
        if answer != buttons.Yes:
            recovery.autosave.unlink(missing_ok=True)
            return False
        try:
            self.document.recover(recovery)
        except TensorBlocksError as error:
            self.log_message(f"cannot recover the autosave: {error}", level="error")
            return False
        self.update_inference()
        self.fit_all()
        self.log_message(f"recovered unsaved changes to {name} from {when}", level="info")
        return True

    # ------------------------------------------------------------------ runs

    @property
    def autorun(self) -> bool:
        """Whether edits re-run the graph."""
        return self.actions_by_name["autorun"].isChecked()

    def _on_autorun_toggled(self, on: bool) -> None:
        self.settings.setValue("autorun", on)
        if on:
            self.run_graph()

    def run_graph(self) -> None:
        """Run the graph on the worker thread (a copy of it; see :mod:`app.runner`)."""
        self._autorun_timer.stop()
        if len(self.model) == 0:
            self.statusBar().showMessage("Nothing to run: the graph is empty", 3000)
            return
        self.runner.start(self.model, base_dir=self.document.base_dir)

    def stop_run(self) -> None:
        """Cancel the run in progress."""
        self.runner.stop()
        self.statusBar().showMessage("Stopping…", 2000)

    def clear_cache(self) -> None:
        """Forget cached node outputs (the next run computes everything)."""
        self.runner.engine.clear_cache()
        self.statusBar().showMessage("Cached results cleared", 3000)

    def _on_running_changed(self, running: bool) -> None:
        self.actions_by_name["stop"].setEnabled(running)
        self.progress.setVisible(running)
        if not running:
            self.progress.setValue(0)

    def _on_run_started(self) -> None:
        self.progress.setValue(0)
        self.progress.show()
        self.run_label.setText("running…")

    def _on_run_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.run_label.setText(text)

    def _on_run_finished(self, report: RunReport) -> None:
        self.report = report
        self._push_report(report)
        statuses = report.statuses()
        counts: dict[str, int] = {}
        for status in statuses.values():
            counts[status] = counts.get(status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "nothing to run"
        ms = report.seconds * 1000.0
        if report.cancelled:
            headline = f"Run cancelled ({summary})"
        elif report.problems:
            count = len(report.problems)
            headline = f"Run finished with {count} problem{'s' * (count != 1)} ({summary})"
        else:
            headline = f"Run finished in {ms:.0f} ms ({summary})"
        self.run_label.setText(headline)
        self.statusBar().clearMessage()
        self.log_message(headline, level="error" if report.problems else "info")
        for problem in report.problems:
            self.log_message(problem.reason, node=problem.node, level="error")
        if report.problems and not self.autorun:
            self.log_dock.raise_()

    def _on_run_failed(self, message: str) -> None:
        self.run_label.setText("run failed")
        self.log_message(message, level="error")
        self.log_dock.raise_()

    def _push_report(self, report: RunReport | None) -> None:
        self.scene.set_run_report(report)
        self.inspector.set_run_report(report)
        self.results.set_report(report)

    # ------------------------------------------------------------------ messages and errors

    def log_message(self, message: str, *, node: str | None = None, level: str = "info") -> None:
        """Add a line to the log panel."""
        stamp = time.strftime("%H:%M:%S")
        self.log.add([stamp, node or "", message], node=node, level=level)
        self.log.scrollToBottom()

    def report_exception(
        self, kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        """Log an exception that escaped a handler (installed as ``sys.excepthook``)."""
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        node = getattr(value, "node", None)
        text = str(value) if isinstance(value, TensorBlocksError) else f"{kind.__name__}: {value}"
        detail = "".join(traceback.format_exception(kind, value, tb))
        # Widgets belong to the GUI thread: from any other thread, the signal queues it.
        self._exceptionReported.emit(text, node if isinstance(node, str) else "", detail)

    def _show_exception(self, text: str, node: str, detail: str) -> None:
        self.log_message(f"internal error: {text}", node=node or None, level="error")
        rows = self.log.items()
        if rows:
            rows[-1].setToolTip(2, detail[-4000:])
        self.statusBar().showMessage(f"Internal error: {text} (see the log)", 8000)

    def _guarded(self, slot: Callable[[], Any]) -> None:
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
            self,
            "About TensorBlocks",
            f"<b>TensorBlocks {__version__}</b><br>A visual dataflow block editor for image "
            "tensors, with TensorFlow-exact ExtractGlimpse and ExtractImagePatches.",
        )

    # ------------------------------------------------------------------ closing

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        self.runner.shutdown()
        self.save_layout()
        self.document.discard_autosave()
        self.inspector.close_model()
        event.accept()


def _snapped(pos: tuple[float, float]) -> tuple[float, float]:
    """``pos`` on the canvas grid."""
    return (round(pos[0] / GRID) * GRID, round(pos[1] / GRID) * GRID)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)
