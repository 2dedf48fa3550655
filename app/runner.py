"""Running a graph off the GUI thread: a worker on a QThread, progress and cancel.

Contract:

* :class:`Runner` owns one :class:`~graph.engine.Engine` for the editor's lifetime, so its
  cache carries over between runs (after an edit only what changed runs again).
* ``start(model, base_dir=...)`` runs ``model.copy()`` — edits made during a run cannot
  race with it — on a fresh ``QThread`` through a :class:`RunWorker`, and returns at once.
  ``runStarted`` fires, then ``progress(fraction, text)`` for each node, then
  ``runFinished(report)`` (a :class:`~graph.engine.RunReport`) in the GUI thread. Any
  exception escaping the engine becomes ``runFailed(message)``; nothing reaches the user
  as a crash.
* ``start`` while a run is in progress cancels that run and queues the new one, which
  starts when the old one has finished (so auto-run always ends on the latest graph).
* ``stop()`` sets the run's cancel ``threading.Event``; the engine checks it before each
  node, and the report comes back with ``cancelled`` set.
* ``seed`` is the run seed (default 0): noisy blocks give the same noise on every run, so
  their outputs are cached like any other.
* With a :class:`~graph.session.Session` (``Runner(session=...)``, the editor's way), the
  runner uses the session's engine and ``start()`` runs the session's graph in its folder:
  the session hears ``begin_run`` when the copy is taken and ``finish_run(report)`` when the
  report arrives, so every widget subscribed to the session sees the new results (and which
  are stale) at once.
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QCoreApplication,
    QDeadlineTimer,
    QElapsedTimer,
    QObject,
    QThread,
    Signal,
    Slot,
)

from graph.engine import Engine, NodeFinished, NodeStarted, RunReport
from graph.model import GraphModel
from graph.session import Session


def run_headline(report: RunReport) -> str:
    """One line about a finished run: how it ended and how many nodes ran, were cached..."""
    counts: dict[str, int] = {}
    for status in report.statuses().values():
        counts[status] = counts.get(status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "nothing to run"
    if report.cancelled:
        return f"Run cancelled ({summary})"
    if report.problems:
        count = len(report.problems)
        return f"Run finished with {count} problem{'s' * (count != 1)} ({summary})"
    return f"Run finished in {report.seconds * 1000.0:.0f} ms ({summary})"


class RunWorker(QObject):
    """Runs one graph copy once in its thread and reports through signals."""

    progress = Signal(object)  # NodeStarted | NodeFinished
    finished = Signal(object)  # RunReport
    failed = Signal(str)

    def __init__(
        self,
        engine: Engine,
        model: GraphModel,
        *,
        base_dir: Path | None,
        seed: int | None,
        cancel: threading.Event,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.model = model
        self.base_dir = base_dir
        self.seed = seed
        self.cancel = cancel

    @Slot()
    def run(self) -> None:
        """Execute; always ends with exactly one ``finished`` or ``failed``."""
        try:
            report = self.engine.run(
                self.model,
                base_dir=self.base_dir,
                seed=self.seed,
                progress=self.progress.emit,
                cancel=self.cancel,
            )
        except Exception as error:  # the engine should not raise; if it does, say so
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            self.failed.emit(f"run failed: {detail}")
            return
        self.finished.emit(report)


class Runner(QObject):
    """Starts runs on worker threads; see the module docstring."""

    runStarted = Signal()
    progress = Signal(float, str)
    runFinished = Signal(object)  # RunReport
    runFailed = Signal(str)
    runningChanged = Signal(bool)

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        session: Session | None = None,
        seed: int | None = 0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.engine = engine or (session.engine if session is not None else Engine())
        self.seed = seed
        self.last_report: RunReport | None = None
        self._thread: QThread | None = None
        self._worker: RunWorker | None = None
        self._cancel: threading.Event | None = None
        # (model copy, base dir, the session's number of the run, if it is the session's)
        self._queued: tuple[GraphModel, Path | None, int | None] | None = None
        self._session_run: int | None = None

    @property
    def running(self) -> bool:
        """Whether a run is in progress."""
        return self._thread is not None

    def start(self, model: GraphModel | None = None, *, base_dir: Path | None = None) -> None:
        """Run a copy of ``model`` — by default the session's graph, in the session's folder —
        queued behind a cancelled run if one is in progress."""
        session = self.session
        if model is None:
            if session is None:
                raise ValueError("Runner.start() needs a model when it has no session")
            model, base_dir = session.model, session.base_dir
        snapshot = model.copy()
        run = None
        if session is not None and model is session.model:
            run = session.begin_run(self.seed)  # edits from now on stay stale after this run
        if self.running:
            self._queued = (snapshot, base_dir, run)
            self.stop()
            return
        self._launch(snapshot, base_dir, run)

    def stop(self) -> None:
        """Ask the current run to stop before its next node."""
        if self._cancel is not None:
            self._cancel.set()

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block (processing events) until no run is in progress; False on timeout."""
        clock = QElapsedTimer()
        clock.start()
        while self.running or self._queued is not None:
            if clock.elapsed() > timeout_ms:
                return False
            thread = self._thread
            if thread is not None:
                thread.wait(QDeadlineTimer(20))
            QCoreApplication.processEvents()
        return True

    def shutdown(self, timeout_ms: int = 5_000) -> None:
        """Cancel and wait for the current run (before the application quits)."""
        self._queued = None
        self.stop()
        thread = self._thread
        if thread is not None:
            thread.quit()
            thread.wait(QDeadlineTimer(timeout_ms))

    # ------------------------------------------------------------------ internals

    def _launch(self, model: GraphModel, base_dir: Path | None, run: int | None) -> None:
        self._session_run = run
        cancel = threading.Event()
        thread = QThread()
        thread.setObjectName("tensorblocks-run")
        worker = RunWorker(self.engine, model, base_dir=base_dir, seed=self.seed, cancel=cancel)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        self._thread, self._worker, self._cancel = thread, worker, cancel
        self.runStarted.emit()
        self.runningChanged.emit(True)
        thread.start()

    def _on_progress(self, event: Any) -> None:
        if isinstance(event, NodeStarted):
            self.progress.emit(
                event.fraction, f"running {event.node} ({event.index + 1}/{event.total})"
            )
        elif isinstance(event, NodeFinished):
            self.progress.emit(event.fraction, f"{event.node}: {event.status}")

    def _end_thread(self) -> None:
        thread, worker = self._thread, self._worker
        self._thread = self._worker = self._cancel = None
        if thread is not None:
            thread.quit()
            thread.wait()
            thread.deleteLater()
        if worker is not None:
            worker.deleteLater()

    def _on_finished(self, report: RunReport) -> None:
        self._end_thread()
        self.last_report = report
        if self.session is not None and self._session_run is not None:
            # The session ignores a run superseded by a queued one: the last report counts.
            self.session.finish_run(report, self._session_run)
        self.runFinished.emit(report)
        self._next()

    def _on_failed(self, message: str) -> None:
        self._end_thread()
        self.runFailed.emit(message)
        self._next()

    def _next(self) -> None:
        queued, self._queued = self._queued, None
        if queued is not None:
            self._launch(*queued)
        else:
            self.runningChanged.emit(False)
