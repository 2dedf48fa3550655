"""The shortcuts sheet (Help > Keyboard Shortcuts, F1): every key and mouse gesture.

Contract: :func:`shortcut_rows` lists ``(section, what, keys)`` rows — the window's actions
with their shortcuts as bound (read from the QActions, so the sheet cannot drift from the
bindings) followed by :data:`GESTURES`, the canvas and results gestures that are not
actions (Tab quick-add, wheel zoom, middle-drag pan, ...). :class:`ShortcutsSheet` shows
them as a table in sections; :func:`show_shortcuts_sheet` opens it (non-modal, one at a
time per parent).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

#: Gestures the canvas and the results panel handle themselves: (section, what, keys).
GESTURES: tuple[tuple[str, str, str], ...] = (
    ("Canvas", "Quick-add a block at the pointer", "Tab"),
    ("Canvas", "Zoom around the pointer", "Mouse wheel"),
    ("Canvas", "Pan", "Middle-drag, or Space + drag"),
    ("Canvas", "Select several blocks", "Drag on empty canvas; Shift+click adds one"),
    ("Canvas", "Wire two ports", "Drag from an output to an input"),
    ("Canvas", "Add a block already wired", "Drop a wire on empty canvas"),
    ("Canvas", "Type a literal", "Click its field on the block; Enter commits, Esc cancels"),
    ("Canvas", "Change an attr", "Click it on the block (a check box toggles, a value "
                                 "offers its choices)"),
    ("Canvas", "Show or hide a block's output preview", "Click 'preview' on the block"),
    ("Canvas", "Open a block in the inspector", "Double-click the block"),
    ("Canvas", "Nudge the selection", "Arrow keys"),
    ("Canvas", "Cancel a wire or an edit, clear the selection", "Esc"),
    ("Palette", "Add the first match", "Enter in the search field"),
    ("Palette", "Walk the matches", "Up / Down in the search field"),
    ("Palette", "Add a block", "Double-click it, or drag it onto the canvas"),
    ("Results", "Zoom an image", "Mouse wheel over it"),
    ("Results", "Pan an image", "Drag"),
    ("Results", "Fit the images again", "Double-click"),
    ("Panels", "Scroll without changing values", "Mouse wheel (a combo box or spin box "
                                                 "takes the wheel only once clicked)"),
)


def action_keys(action: QAction) -> str:
    """An action's shortcuts as shown to the user ("Ctrl+S, F5"), "" when it has none."""
    return ", ".join(
        key.toString(QKeySequence.SequenceFormat.NativeText) for key in action.shortcuts()
    )


def shortcut_rows(actions: Iterable[QAction]) -> list[tuple[str, str, str]]:
    """Every shortcut: the actions' (section "Commands"), then :data:`GESTURES`."""
    rows = []
    for action in actions:
        keys = action_keys(action)
        if keys:
            rows.append(("Commands", action.text().replace("&", "").rstrip("…."), keys))
    return rows + list(GESTURES)


def sheet_html(rows: Iterable[tuple[str, str, str]]) -> str:
    """The rows as an HTML table with a heading per section."""
    parts = ["<table cellpadding='4' cellspacing='0' width='100%'>"]
    section = None
    for where, what, keys in rows:
        if where != section:
            section = where
            parts.append(f"<tr><td colspan='2'><br><b>{html.escape(where)}</b></td></tr>")
        parts.append(
            f"<tr><td>{html.escape(what)}</td><td><b>{html.escape(keys)}</b></td></tr>"
        )
    parts.append("</table>")
    return "".join(parts)


class ShortcutsSheet(QDialog):
    """The sheet: a scrollable table of every shortcut, in sections."""

    def __init__(self, rows: list[tuple[str, str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ShortcutsSheet")
        self.setWindowTitle("Keyboard and mouse shortcuts")
        self.rows = rows
        self.text = QTextBrowser(self)
        self.text.setHtml(sheet_html(rows))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(620, 640)


def show_shortcuts_sheet(parent: QWidget, actions: Iterable[QAction]) -> ShortcutsSheet:
    """Open (or raise) the sheet for ``parent``'s ``actions``."""
    existing = parent.findChild(ShortcutsSheet)
    if isinstance(existing, ShortcutsSheet):
        existing.show()
        existing.raise_()
        return existing
    sheet = ShortcutsSheet(shortcut_rows(actions), parent)
    sheet.show()
    return sheet
