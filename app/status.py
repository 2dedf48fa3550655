"""The window's status bar: run progress and outcome, cursor position, zoom.

Contract: :class:`EditorStatus` fills the window's status bar with the run label and a
progress bar (driven by the :class:`~app.runner.Runner`'s signals; a finished run's
headline, from :func:`app.runner.run_headline`, also goes to the log with one line per
problem, and the log is raised when a run without Auto-run had problems or a run failed),
the cursor's scene position and the canvas zoom (watched on the canvas viewport).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QLabel, QProgressBar

from app.runner import run_headline
from graph.engine import RunReport

if TYPE_CHECKING:
    from app.main_window import MainWindow

#: Events of the canvas viewport after which the zoom may have changed.
_VIEW_EVENTS = (QEvent.Type.MouseMove, QEvent.Type.Wheel, QEvent.Type.Resize, QEvent.Type.Paint)


class EditorStatus(QObject):
    """The status bar's permanent widgets; see the module docstring."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        bar = window.statusBar()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(160)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.run_label, self.cursor_label, self.zoom_label = QLabel(""), QLabel(""), QLabel("100%")
        self.zoom_label.setMinimumWidth(48)
        for label in (self.run_label, self.cursor_label, self.zoom_label):
            label.setTextFormat(Qt.TextFormat.PlainText)  # run messages quote node ids
        for widget in (self.run_label, self.progress, self.cursor_label, self.zoom_label):
            bar.addPermanentWidget(widget)
        bar.showMessage("Ready", 3000)
        runner = window.runner
        runner.runStarted.connect(lambda: self.run_label.setText("running…"))
        runner.progress.connect(self._on_progress)
        runner.runFinished.connect(self._on_finished)
        runner.runFailed.connect(self._on_failed)
        runner.runningChanged.connect(self._on_running)
        window.view.viewport().installEventFilter(self)

    def update_zoom(self) -> None:
        """Show the canvas's current zoom."""
        text = f"{self.window.view.zoom() * 100:.0f}%"
        if self.zoom_label.text() != text:
            self.zoom_label.setText(text)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _VIEW_EVENTS:
            QTimer.singleShot(0, self.update_zoom)
            if isinstance(event, QMouseEvent):
                point = event.position().toPoint()
                pos = self.window.view.mapToScene(point.x(), point.y())
                self.cursor_label.setText(f"{pos.x():.0f}, {pos.y():.0f}")
        return False

    def _on_running(self, running: bool) -> None:
        self.window.actions_by_name["stop"].setEnabled(running)
        self.progress.setValue(0)
        self.progress.setVisible(running)

    def _on_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.run_label.setText(text)

    def _on_finished(self, report: RunReport) -> None:
        window = self.window
        headline = run_headline(report)
        self.run_label.setText(headline)
        window.statusBar().clearMessage()
        window.log_message(headline, level="error" if report.problems else "info")
        for problem in report.problems:
            window.log_message(problem.reason, node=problem.node, level="error")
        if report.problems and not window.autorun:
            window.log_dock.raise_()

    def _on_failed(self, message: str) -> None:
        self.run_label.setText("run failed")
        self.window.log_message(message, level="error")
        self.window.log_dock.raise_()
