"""The message lists under the canvas: the live problems and the log.

Contract:

* :class:`MessageList` is a list of messages (columns given, the last is the text); rows
  carry a node (clicking one emits ``nodeClicked(node)``) and a level (``error``,
  ``warning``, ``info``) shown as a tinted icon; a context menu copies a message or clears
  the list.
* :class:`LogList` is the log: ``message(text, node=..., level=...)`` appends a timed row;
  ``report_exception`` (the window installs it as ``sys.excepthook``) logs an exception that
  escaped a handler, from any thread, with the traceback in the row's tooltip, and emits
  ``statusMessage``.
* :class:`ProblemsList` takes a :class:`~graph.session.Session` and shows the problems of
  its latest inference (node, where — block, port, attr — and the reason), refilled on each
  inference event; ``countChanged(n)`` says how many there are.
"""

from __future__ import annotations

import sys
import time
import traceback
from types import TracebackType

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QApplication,
    QHeaderView,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from app import style
from app.style import Theme
from app.subscriptions import Subscriptions
from blocks.errors import TensorBlocksError
from graph.infer import Inference
from graph.session import Session
from graph.text import as_plain_html


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
        item.setToolTip(len(values) - 1, as_plain_html(values[-1]))
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


class LogList(MessageList):
    """The log; see the module docstring."""

    statusMessage = Signal(str)
    _exceptionReported = Signal(str, str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(["time", "node", "message"], parent)
        self._exceptionReported.connect(self._show_exception)

    def message(self, text: str, *, node: str | None = None, level: str = "info") -> None:
        """Append ``text`` with the time."""
        self.add([time.strftime("%H:%M:%S"), node or "", text], node=node, level=level)
        self.scrollToBottom()

    def report_exception(
        self, kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        """Log an exception that escaped a handler."""
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        node = getattr(value, "node", None)
        text = str(value) if isinstance(value, TensorBlocksError) else f"{kind.__name__}: {value}"
        detail = "".join(traceback.format_exception(kind, value, tb))
        # Widgets belong to the GUI thread: from any other thread, the signal queues it.
        self._exceptionReported.emit(text, node if isinstance(node, str) else "", detail)

    def _show_exception(self, text: str, node: str, detail: str) -> None:
        self.message(f"internal error: {text}", node=node or None, level="error")
        rows = self.items()
        if rows:
            rows[-1].setToolTip(2, as_plain_html(detail[-4000:]))
        self.statusMessage.emit(f"Internal error: {text} (see the log)")


class ProblemsList(MessageList):
    """The problems of the session's latest inference; see the module docstring."""

    countChanged = Signal(int)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(["node", "where", "problem"], parent)
        self.subscriptions = Subscriptions(self)
        self.subscriptions.connect(session.events.inference,
                                   lambda event: self.show_problems(event.inference))

    def show_problems(self, inference: Inference) -> None:
        """List ``inference``'s problems (replacing the previous ones)."""
        self.clear()
        for problem in inference.problems:
            parts = (problem.block or "", f"port {problem.port}" if problem.port else "",
                     f"attr {problem.attr}" if problem.attr else "")
            self.add([problem.node or "", ", ".join(part for part in parts if part),
                      problem.reason], node=problem.node, level="warning")
        self.countChanged.emit(len(inference.problems))
