"""The main window's actions, declared in one table: name, text, slot, shortcuts, icon, tip.

Contract: :func:`create_actions(window) <create_actions>` makes one ``QAction`` per row of
:data:`ACTIONS` plus the undo stack's Undo and Redo, and returns them by name. A slot is a
dotted path from the window (``"scene.paste"``) looked up when the action fires; an
exception it raises is logged by ``window.guarded``, never a crash. A "checkable" action
calls its slot with its new state; a "canvas" action's shortcut works only while the canvas
has the focus (plain keys such as F and Delete must not fire while typing in a panel).
Tool tips show the shortcut; icons are set by the window's theme (``window.icons``).
:func:`create_toolbar` lays out the tool bar from groups of action names (``seed``: the
run seed controls, :class:`app.run_controls.SeedControls`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QToolBar, QToolButton

from app.run_controls import SeedControls

if TYPE_CHECKING:
    from app.main_window import MainWindow

# name, text, slot (a method name), shortcuts, icon, tip; flags: "checkable", "canvas" (the
# shortcut works only while the canvas has the focus: plain keys must not fire in a field).
ACTIONS: list[tuple[str, str, str, Any, str | None, str | None, str]] = [
    ("new", "&New", "files.new_graph", QKeySequence.StandardKey.New, "new", "New graph", ""),
    ("open", "&Open…", "files.open_dialog", QKeySequence.StandardKey.Open, "open",
     "Open a graph file", ""),
    ("save", "&Save", "files.save", QKeySequence.StandardKey.Save, "save", "Save the graph", ""),
    ("save_as", "Save &As…", "files.save_as_dialog", QKeySequence.StandardKey.SaveAs, None,
     None, ""),
    ("run_dataset", "Run over &Dataset…", "files.run_over_dataset", "Ctrl+Shift+B", None,
     "Run the graph over a dataset (files, .npy, .npz, zarr) into a zarr store", ""),
    ("quit", "&Quit", "close", QKeySequence.StandardKey.Quit, None, None, ""),
    ("cut", "Cu&t", "scene.cut_selection", QKeySequence.StandardKey.Cut, None, None, ""),
    ("copy", "&Copy", "scene.copy_selection", QKeySequence.StandardKey.Copy, None, None, ""),
    ("paste", "&Paste", "view.paste_at_pointer", QKeySequence.StandardKey.Paste, None, None,
     ""),
    ("duplicate", "D&uplicate", "scene.duplicate_selection", "Ctrl+D", None, None, ""),
    ("delete", "&Delete", "scene.delete_selection", ["Del", "Backspace"], None, None, "canvas"),
    ("select_all", "Select &All", "scene.select_all", QKeySequence.StandardKey.SelectAll, None,
     None, ""),
    ("find_block", "&Find Block…", "focus_palette_search", "Ctrl+F", None,
     "Search the block palette", ""),
    ("quick_add", "&Quick Add…", "view.show_quick_add", "Ctrl+K", None,
     "Add a block by name at the cursor", ""),
    ("fit", "&Fit All", "fit_all", ["F", "Home"], "fit", "Fit the whole graph", "canvas"),
    ("fit_selection", "Fit &Selection", "view.fit_selection", ["Shift+F", "."], None, None,
     "canvas"),
    ("zoom_in", "Zoom &In", "zoom_in", ["Ctrl++", "Ctrl+="], None, None, ""),
    ("zoom_out", "Zoom &Out", "zoom_out", "Ctrl+-", None, None, ""),
    ("zoom_reset", "&Actual Size", "zoom_reset", "Ctrl+0", None, None, ""),
    ("layout", "Auto &Layout", "scene.auto_layout", "Ctrl+L", "layout",
     "Arrange the blocks left to right", ""),
    ("dark_theme", "&Dark Theme", "_on_theme_toggled", "Ctrl+Shift+T", "theme",
     "Switch between the light and dark themes", "checkable"),
    ("run", "&Run", "run_graph", ["F5", "Ctrl+Return"], "run", "Run the graph", ""),
    ("stop", "S&top", "stop_run", "Shift+F5", "stop", "Stop the run", ""),
    ("autorun", "&Auto-run", "_on_autorun_toggled", "Ctrl+Shift+R", "autorun",
     "Run again after every edit (only what changed runs)", "checkable"),
    ("clear_cache", "&Clear Cached Results", "clear_cache", None, None, None, ""),
    ("memory_limit", "&Memory Limit…", "memory.ask", None, None,
     "The most memory one run may use (tensors and working memory)", ""),
    ("shortcuts", "&Keyboard Shortcuts", "show_shortcuts", "F1", None, None, ""),
    ("about", "&About TensorBlocks", "show_about", None, None, None, ""),
]


def _slot(window: MainWindow, path: str) -> Callable[..., Any]:
    """``"scene.paste"`` -> a function calling ``window.scene.paste`` at call time."""

    def call(*args: Any) -> Any:
        target: Any = window
        for part in path.split("."):
            target = getattr(target, part)
        return target(*args)

    return call


def create_actions(window: MainWindow, *, checked: dict[str, bool]) -> dict[str, QAction]:
    """The window's actions by name (see the module docstring); ``checked``: the initial
    states of checkable actions, set without calling their slots (restoring a setting is
    not a user's toggle: it must neither write the setting back nor start a run)."""
    actions: dict[str, QAction] = {}
    for name, text, slot, keys, icon, tip, flags in ACTIONS:
        action = QAction(text, window)
        action.setObjectName(name)
        if isinstance(keys, list):
            action.setShortcuts([QKeySequence(k) for k in keys])
        elif keys is not None:
            action.setShortcut(QKeySequence(keys))
        if icon:
            window.icons[action] = icon
        shown = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        label = tip or text.replace("&", "").rstrip("…")
        action.setToolTip(label + (f"  ({shown})" if shown else ""))
        action.setStatusTip(tip or text.replace("&", ""))
        call = _slot(window, slot)
        if flags == "checkable":
            action.setCheckable(True)
            action.toggled.connect(call)
        else:
            action.triggered.connect(lambda _checked=False, c=call: window.guarded(c))
        if flags == "canvas":
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            window.view.addAction(action)
        else:
            window.addAction(action)
        actions[name] = action
    undo = window.undo_stack.createUndoAction(window, "&Undo")
    undo.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
    redo = window.undo_stack.createRedoAction(window, "&Redo")
    redo.setShortcuts([QKeySequence(QKeySequence.StandardKey.Redo), QKeySequence("Ctrl+Y")])
    for action, name in ((undo, "undo"), (redo, "redo")):
        action.setObjectName(name)
        window.icons[action] = name
        window.addAction(action)
        actions[name] = action
    actions["stop"].setEnabled(False)  # until a run starts
    for name, state in checked.items():
        actions[name].blockSignals(True)
        actions[name].setChecked(state)
        actions[name].blockSignals(False)
    return actions


#: Tool bar buttons that show their text beside the icon (the rest show the icon only).
TOOLBAR_TEXT = {"run", "stop", "autorun"}


def create_toolbar(window: MainWindow, groups: list[str]) -> QToolBar:
    """The tool bar: ``groups`` of action names, separated."""
    bar = QToolBar("Main", window)
    bar.setObjectName("mainToolbar")
    bar.setMovable(False)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    for index, group in enumerate(groups):
        if index:
            bar.addSeparator()
        for name in group.split():
            if name == "seed":
                window.seed_controls = SeedControls(
                    bar, window.settings, lambda seed: setattr(window.runner, "seed", seed))
                continue
            bar.addAction(window.actions_by_name[name])
            button = bar.widgetForAction(window.actions_by_name[name])
            if isinstance(button, QToolButton):
                button.setObjectName(f"{name}Button")
                if name not in TOOLBAR_TEXT:
                    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    return bar
