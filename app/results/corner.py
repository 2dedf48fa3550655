"""A tab widget's corner widget that never hangs over the tabs.

QTabWidget gives its corner widget its full ``sizeHint`` width, placed from the right edge:
in a narrow view (a half of Compare) a long statistics line then starts under the tabs and
is cut on the left ("ean 137.361"). :class:`FittingCorner` asks only for the room the tab
bar leaves (never less than its minimum), so its contents shrink from the right instead —
the label's start (name, shape, min) stays readable.
"""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QTabWidget, QWidget


class FittingCorner(QWidget):
    """A corner widget for ``tabs`` sized to the room beside its tab bar."""

    def __init__(self, tabs: QTabWidget) -> None:
        super().__init__(tabs)
        self.tabs = tabs

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        room = self.tabs.width() - self.tabs.tabBar().sizeHint().width() - 4
        width = max(self.minimumSizeHint().width(), min(hint.width(), room))
        return QSize(width, hint.height())
