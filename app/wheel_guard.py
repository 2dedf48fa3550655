"""The wheel guard: a value widget changes under the wheel only when it has the focus.

Scrolling a panel would otherwise change whatever combo box, spin box or slider passes
under the pointer (a glimpse's ``noise`` turning from ``uniform`` into ``gaussian``, the
file marked unsaved, Auto-run re-running). One application-wide event filter, installed
once by :func:`install_wheel_guard`, covers every such widget of the application, present
and future:

* a wheel event on a guarded widget (:data:`GUARDED`: QComboBox, QAbstractSpinBox,
  QAbstractSlider, but not scroll bars) without the keyboard focus is ignored, so it
  travels on to the parent — the scroll area scrolls as the user meant;
* guarded widgets are polished to ``Qt.StrongFocus`` where they had ``Qt.WheelFocus``, so
  the wheel does not hand them the focus first (Qt gives focus before filters run). A click
  or Tab focuses them; then the wheel changes them as usual.
"""

from __future__ import annotations

from typing import TypeGuard

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QScrollBar,
    QWidget,
)

GUARDED: tuple[type[QWidget], ...] = (QComboBox, QAbstractSpinBox, QAbstractSlider)


class WheelGuard(QObject):
    """The application event filter described in the module docstring."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Wheel:
            if _guarded(watched) and not watched.hasFocus():
                # Ignored and filtered: Qt offers the event to the parent widget next.
                event.ignore()
                return True
        elif kind == QEvent.Type.Polish and _guarded(watched):
            strong_focus(watched)
        return False


def _guarded(widget: QObject) -> TypeGuard[QWidget]:
    # A scroll area hands its wheel events to its scroll bar (a slider that never has the
    # focus): scroll bars are what the wheel is for.
    return isinstance(widget, GUARDED) and not isinstance(widget, QScrollBar)


def strong_focus(widget: QWidget) -> None:
    """Take ``Qt.WheelFocus`` away from ``widget`` (clicks and Tab still focus it)."""
    if widget.focusPolicy() == Qt.FocusPolicy.WheelFocus:
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


def install_wheel_guard(app: QApplication) -> WheelGuard:
    """Install the guard on ``app`` (once; later calls return the installed one)."""
    existing = app.findChild(WheelGuard)
    if isinstance(existing, WheelGuard):
        return existing
    guard = WheelGuard(app)
    app.installEventFilter(guard)
    for widget in app.allWidgets():  # those polished before the guard came
        if _guarded(widget):
            strong_focus(widget)
    return guard
