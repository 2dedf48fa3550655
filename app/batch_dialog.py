"""File > Run over dataset…: the editor's face of :mod:`graph.batch`.

Contract:

* :class:`BatchDialog` lists what a dataset can be mapped onto
  (:func:`graph.batch.mappable_targets`: Input nodes first, then unwired inputs that
  take a value per item),
  each with a source field (a ``.npy``, ``name.npz:key``, ``data.zarr[:path]`` or a glob
  such as ``photos/*.png``; empty = not mapped) and buttons to pick a file or a folder of
  images; the output store, the chunk size (0 = chosen from the memory budget) and the
  seed. **Check** plans the run (:func:`graph.batch.plan_batch`) and shows the items,
  chunks and per-item shapes, or the one-line problem. **Run** plans and runs through
  :func:`graph.batch.run_batch` — the same code as ``tensorblocks run --map`` — on a
  worker ``QThread``, with a progress bar (items, items/s, time left) and **Cancel**
  (chunks already written stay; running again offers to resume).
* It takes the editor's :class:`~graph.session.Session`: the worker plans on a copy of the
  model (edits made meanwhile cannot race with it) and its events come back to the GUI
  thread, where they are announced on the session's batch events
  (:meth:`~graph.session.Session.batch_event`) for any widget that follows them.
* Before the run starts, item 0 is run alone and the session gets its report as the
  latest run (``begin_run``/``finish_run``), so the canvas and the results panel preview
  item 0 of the batch (equal to the batch's item 0, noise included).
* Text from files and errors is shown as plain text. The dialog never names a block.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from blocks.errors import TensorBlocksError
from graph.batch import (
    BatchEvent,
    BatchFinished,
    BatchPlan,
    BatchProgress,
    BatchSummary,
    mappable_targets,
    plan_batch,
    preview_report,
    run_batch,
)
from graph.engine import RunReport
from graph.session import Session


class BatchWorker(QObject):
    """Plans, previews item 0 and runs one batch in its thread; reports through signals."""

    planned = Signal(object)  # BatchPlan
    preview = Signal(object)  # RunReport of item 0
    progress = Signal(object)  # BatchEvent
    finished = Signal(object)  # BatchSummary
    failed = Signal(str)

    def __init__(self, make_plan: Callable[[], BatchPlan], out: str, *, resume: bool,
                 overwrite: bool, run: bool, cancel: threading.Event) -> None:
        super().__init__()
        self.make_plan, self.out = make_plan, out
        self.resume, self.overwrite, self.run_it, self.cancel = resume, overwrite, run, cancel

    @Slot()
    def work(self) -> None:
        """Plan (and run); always ends with ``finished``, ``failed`` or only ``planned``."""
        try:
            plan = self.make_plan()
            self.planned.emit(plan)
            if not self.run_it:
                return
            self.preview.emit(preview_report(plan))
            summary = run_batch(plan, self.out, resume=self.resume, overwrite=self.overwrite,
                                progress=self.progress.emit, cancel=self.cancel)
        except TensorBlocksError as error:
            self.failed.emit(" ".join(str(error).split()))
            return
        except Exception as error:  # a bug must not take the editor down
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            self.failed.emit(f"internal error: {detail}")
            return
        self.finished.emit(summary)


class BatchDialog(QDialog):
    """See the module docstring."""

    def __init__(self, session: Session, *, seed: int | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Run over dataset")
        self.setMinimumWidth(640)
        self.session = session
        self.model = session.model.copy()
        self.base_dir = session.resolve_dir
        self.memory_limit = session.engine.memory_limit
        self._thread: QThread | None = None
        self._worker: BatchWorker | None = None
        self._cancel = threading.Event()
        self._is_run = False
        self._started = 0.0

        layout = QVBoxLayout(self)
        maps = QGroupBox("Map a dataset onto")
        form = QFormLayout(maps)
        self.sources: dict[str, QLineEdit] = {}
        for target in mappable_targets(self.model):
            field = QLineEdit()
            field.setPlaceholderText("not mapped: a .npy, name.npz:key, data.zarr or photos/*.png")
            self.sources[target.address] = field
            row = QHBoxLayout()
            row.addWidget(field, 1)
            pick = QPushButton("File…")
            pick.clicked.connect(lambda _=False, f=field: self._pick_file(f))
            folder = QPushButton("Folder…")
            folder.setToolTip("every image in a folder, as a glob")
            folder.clicked.connect(lambda _=False, f=field: self._pick_folder(f))
            row.addWidget(pick)
            row.addWidget(folder)
            block = self.model.node(target.node).block
            label = f"{target.node} ({block})" if target.address == target.node else target.address
            form.addRow(label, _wrap(row))
        layout.addWidget(maps)

        options = QGroupBox("Output")
        options_form = QFormLayout(options)
        self.store = QLineEdit()
        self.store.setPlaceholderText("results.zarr")
        store_row = QHBoxLayout()
        store_row.addWidget(self.store, 1)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._pick_store)
        store_row.addWidget(browse)
        options_form.addRow("Store", _wrap(store_row))
        self.chunk = QSpinBox()
        self.chunk.setRange(0, 1_000_000)
        self.chunk.setSpecialValueText("auto (from the memory budget)")
        self.chunk.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        options_form.addRow("Items per chunk", self.chunk)
        self.seed = QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setSpecialValueText("fresh noise")
        self.seed.setValue(-1 if seed is None else int(seed))
        self.seed.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        options_form.addRow("Seed", self.seed)
        layout.addWidget(options)

        self.status = QLabel("Map at least one source, then Check or Run.")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.bar = QProgressBar()
        self.bar.setVisible(False)
        layout.addWidget(self.bar)

        buttons = QDialogButtonBox()
        self.check_button = buttons.addButton("Check", QDialogButtonBox.ButtonRole.ActionRole)
        self.run_button = buttons.addButton("Run", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = buttons.addButton("Cancel run",
                                               QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.cancel_button.setEnabled(False)
        self.check_button.clicked.connect(lambda: self.start(run=False))
        self.run_button.clicked.connect(lambda: self.start(run=True))
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)
        layout.addWidget(buttons)
        self.summary: BatchSummary | None = None
        self.plan: BatchPlan | None = None

    # ------------------------------------------------------------------ choosing

    def _pick_file(self, field: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a dataset", str(self.base_dir or Path.cwd()),
            "Datasets (*.npy *.npz);;All files (*)",
        )
        if path:
            field.setText(path)

    def _pick_folder(self, field: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of images",
                                                  str(self.base_dir or Path.cwd()))
        if folder:
            field.setText(str(Path(folder) / "*.png"))

    def _pick_store(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Output store",
                                              str(self.base_dir or Path.cwd()),
                                              "zarr stores (*.zarr)")
        if path:
            self.store.setText(path if path.endswith(".zarr") else path + ".zarr")

    def mapping(self) -> dict[str, str]:
        """The mapped targets and their source texts."""
        return {address: field.text().strip() for address, field in self.sources.items()
                if field.text().strip()}

    def _make_plan(self) -> BatchPlan:
        path = self.session.path
        return plan_batch(
            self.model, self.mapping(), base_dir=self.base_dir,
            chunk=self.chunk.value() or None, memory_limit=self.memory_limit,
            seed=None if self.seed.value() < 0 else self.seed.value(),
            file=None if path is None else str(path),
        )

    # ------------------------------------------------------------------ running

    def start(self, *, run: bool) -> bool:
        """Check (``run=False``) or run the mapping on a worker thread; False if refused."""
        if self._thread is not None:
            return False
        if not self.mapping():
            self.status.setText("Map at least one source first.")
            return False
        out = self.store.text().strip()
        resume = overwrite = False
        if run:
            if not out:
                self.status.setText("Choose the output store (a name ending in .zarr).")
                return False
            if not out.endswith(".zarr"):
                out += ".zarr"
                self.store.setText(out)
            if Path(out).exists():
                answer = self._ask_existing(out)
                if answer is None:
                    return False
                resume, overwrite = answer == "resume", answer == "overwrite"
        self._cancel = threading.Event()
        self._is_run = run
        worker = BatchWorker(self._make_plan, out, resume=resume, overwrite=overwrite,
                             run=run, cancel=self._cancel)
        thread = QThread(self)
        worker.moveToThread(thread)
        thread.started.connect(worker.work)
        worker.planned.connect(self._on_planned)
        worker.preview.connect(self._on_preview)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        for signal in (worker.finished, worker.failed):
            signal.connect(thread.quit)
        if not run:
            worker.planned.connect(thread.quit)
        # Cleaned up on the GUI thread once the thread has ended (_on_thread_done): a
        # worker.deleteLater on thread.finished would race with Python dropping its last
        # reference to the worker (a double delete, seen as a crash in the test suite).
        thread.finished.connect(self._on_thread_done)
        self._thread, self._worker = thread, worker
        self._set_running(True, run)
        self.status.setText("Checking…" if not run else "Planning…")
        self._started = time.perf_counter()
        thread.start()
        return True

    def _ask_existing(self, out: str) -> str | None:
        box = QMessageBox(self)
        box.setWindowTitle("The store exists")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(f"{out} exists. Resume the run that made it (skipping finished chunks), "
                    "or replace it?")
        resume = box.addButton("Resume", QMessageBox.ButtonRole.AcceptRole)
        replace = box.addButton("Replace", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "resume" if clicked is resume else "overwrite" if clicked is replace else None

    def cancel(self) -> None:
        """Stop after the chunks that are running; finished ones stay in the store."""
        self._cancel.set()
        self.status.setText("Cancelling: the chunks that are running finish first…")

    def _set_running(self, running: bool, run: bool = True) -> None:
        self.check_button.setEnabled(not running)
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running and run)
        self.bar.setVisible((running and run) or self.bar.isVisible())

    @Slot(object)
    def _on_planned(self, plan: BatchPlan) -> None:
        self.plan = plan
        shapes = "; ".join(
            f"{name} [{','.join(map(str, shape))}]"
            for name, shape in (plan.item_shapes[0][2].items() if plan.item_shapes else [])
            if name in plan.keep
        )
        self.status.setText(f"{plan.n_items} items in {len(plan.chunks)} chunks of up to "
                            f"{plan.chunk}; keeps {shapes or ', '.join(plan.keep)}")
        self.bar.setRange(0, plan.n_items)
        self.bar.setValue(0)

    @Slot(object)
    def _on_preview(self, report: RunReport) -> None:
        self.session.begin_run(self.plan.seed if self.plan is not None else None)
        self.session.finish_run(report)

    @Slot(object)
    def _on_progress(self, event: BatchEvent) -> None:
        self.session.batch_event(event)
        if not isinstance(event, BatchProgress):
            return
        self.bar.setRange(0, max(event.items, 1))
        self.bar.setValue(event.items_done)
        rate = event.items_per_second
        left = (event.items - event.items_done) / rate if rate > 0 else 0.0
        self.bar.setFormat(f"%v / %m items — {rate:,.0f} items/s — {left:.0f} s left")

    @Slot(object)
    def _on_finished(self, summary: BatchSummary) -> None:
        self.summary = summary
        self.status.setText(summary.line())
        self.session.batch_event(BatchFinished(summary))

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.status.setText(message)
        if self._is_run:  # a run that stopped, not a Check that found a problem
            cancelled = self._cancel.is_set()
            self.session.batch_event(BatchFinished(None, None if cancelled else message,
                                                   cancelled=cancelled))

    @Slot()
    def _on_thread_done(self) -> None:
        thread, worker = self._thread, self._worker
        self._thread, self._worker = None, None
        if thread is not None:
            thread.wait()  # finished is emitted just before the thread really ends
            thread.deleteLater()
        if worker is not None:
            worker.deleteLater()
        self._set_running(False)

    def is_running(self) -> bool:
        """Whether a check or run is under way."""
        return self._thread is not None

    def wait(self, milliseconds: int = 60_000) -> bool:
        """Wait for the worker thread (tests); True when it has finished."""
        thread = self._thread
        return True if thread is None else thread.wait(milliseconds)

    def reject(self) -> None:
        """Closing cancels a run that is under way (finished chunks stay)."""
        if self._thread is not None:
            self._cancel.set()
            self._thread.wait(30_000)
        super().reject()


def _wrap(row: QHBoxLayout) -> QWidget:
    widget = QWidget()
    row.setContentsMargins(0, 0, 0, 0)
    widget.setLayout(row)
    return widget
