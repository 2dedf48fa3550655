"""One tensor, one node, and a comparison of two tensors, as widgets.

Contract:

* :class:`TensorView` shows one product tensor: a header with shape, dtype and statistics
  (computed once per tensor through a shared :class:`StatsCache`; for a large tensor in a
  worker thread, so showing it never waits for them), then tabs built only when first opened:
  first the views its block declares for that output (:class:`blocks.spec.ResultView`:
  windows over the source image, patch mosaics with receptive fields — drawn by
  :mod:`app.results.overlays`), then Image (4-D) and Table (any rank). ``export_npy`` /
  ``export_csv`` / ``export_png`` take a path; the buttons ask with a QFileDialog.
* :class:`NodeView` shows a node's status, inputs and attrs, and a TensorView per output.
* :class:`CompareView` puts two tensors (any ``node.port``) side by side, or shows their
  difference ``a - b`` (same shape) with the largest absolute difference.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.results.corner import FittingCorner
from app.results.data import (
    NodeResult,
    TensorStats,
    format_number,
    port_value_text,
    tensor_entries,
    tensor_stats,
)
from app.results.export import save_npy
from app.results.image import ImagePanel
from app.results.overlays import GlimpseView, PatchesView
from app.results.table import TensorTable
from blocks.library import REGISTRY
from blocks.spec import ResultViewKind
from graph.text import html_text

#: The widget that draws each kind of declared result view.
OVERLAY_VIEWS: dict[ResultViewKind, type[GlimpseView] | type[PatchesView]] = {
    ResultViewKind.WINDOWS: GlimpseView,
    ResultViewKind.PATCHES: PatchesView,
}


#: Tensors up to this many elements get their statistics at once; larger ones in a thread.
SYNC_STATS_LIMIT = 1 << 20


class StatsCache(QObject):
    """Statistics computed once per tensor object, shared by every view of it.

    ``request(array, callback)`` calls ``callback(stats)`` now for a small or already known
    tensor; for a large one it computes in a worker thread (numpy releases the GIL in its
    reductions, so the interface keeps painting and scrolling) and calls back on the GUI
    thread. Arrays are kept alive while cached; ``clear()`` forgets them.
    """

    _done = Signal(object, object)  # (array, stats), delivered on the GUI thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stats: dict[int, tuple[np.ndarray, TensorStats]] = {}
        self._waiting: dict[int, tuple[np.ndarray, list[Callable[[TensorStats], None]]]] = {}
        self._done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)

    def get(self, array: np.ndarray) -> TensorStats:
        """The statistics, computed now if not known."""
        known = self.peek(array)
        if known is not None:
            return known
        stats = tensor_stats(array)
        self._stats[id(array)] = (array, stats)
        return stats

    def peek(self, array: np.ndarray) -> TensorStats | None:
        hit = self._stats.get(id(array))
        return hit[1] if hit is not None and hit[0] is array else None

    def request(self, array: np.ndarray, callback: Callable[[TensorStats], None]) -> None:
        known = self.peek(array)
        if known is not None or array.size <= SYNC_STATS_LIMIT:
            callback(known if known is not None else self.get(array))
            return
        waiting = self._waiting.get(id(array))
        if waiting is not None and waiting[0] is array:
            waiting[1].append(callback)
            return
        self._waiting[id(array)] = (array, [callback])
        worker = threading.Thread(target=self._work, args=(array,), daemon=True,
                                  name="tensorblocks-stats")
        # Started from the event loop, so the first paint does not share the CPU with it.
        QTimer.singleShot(0, worker.start)

    def _work(self, array: np.ndarray) -> None:
        stats = tensor_stats(array)
        with contextlib.suppress(RuntimeError):  # the panel was deleted meanwhile
            self._done.emit(array, stats)

    def _on_done(self, array: np.ndarray, stats: TensorStats) -> None:
        self._stats[id(array)] = (array, stats)
        waiting = self._waiting.pop(id(array), None)
        for callback in [] if waiting is None else waiting[1]:
            with contextlib.suppress(RuntimeError):  # the view was deleted meanwhile
                callback(stats)

    def clear(self) -> None:
        self._stats.clear()

    def keep_only(self, arrays: Iterable[np.ndarray]) -> None:
        """Forget the statistics of every tensor not in ``arrays``."""
        alive = {id(array) for array in arrays}
        self._stats = {key: hit for key, hit in self._stats.items() if key in alive}


def difference(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """``a - b`` (integers in int64, floats in float64, complex in complex128) and max |a-b|.

    NaN differences are left out of the maximum (NaN when every difference is NaN).
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {list(a.shape)} vs {list(b.shape)}")
    kinds = {a.dtype.kind, b.dtype.kind}
    if "c" in kinds:
        wide: Any = np.complex128
    elif kinds <= {"i", "u", "b"}:
        wide = np.int64
    else:
        wide = np.float64
    diff = np.subtract(a.astype(wide), b.astype(wide))
    if diff.size == 0:
        return diff, 0.0
    magnitude = np.abs(diff)
    with np.errstate(invalid="ignore"):
        largest = float(np.nanmax(magnitude)) if not np.all(np.isnan(magnitude)) else float("nan")
    return diff, largest


class TensorView(QWidget):
    """A product tensor: statistics, then Image / Table / Glimpses / Patches tabs."""

    def __init__(self, address: str, tensor: np.ndarray, *, result: NodeResult | None = None,
                 stats: StatsCache | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.address = address
        self.tensor = tensor
        self.result = result
        self.stats_cache = stats or StatsCache()
        self.header = QLabel(self)
        self.header.setTextFormat(Qt.TextFormat.RichText)  # values escaped (html_text)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self._builders: dict[int, Callable[[], QWidget]] = {}
        self.pages: dict[str, QWidget] = {}

        # Statistics and export buttons share the row of the page tabs, so the image
        # below gets that row's height.
        corner = FittingCorner(self.tabs)  # never hangs over the tabs (cut on the left)
        buttons = QHBoxLayout(corner)
        buttons.setContentsMargins(8, 0, 2, 0)
        buttons.setSpacing(2)
        # Shrinks (clipped) when the panel is narrow rather than squeezing the tabs out.
        self.header.setMinimumWidth(1)
        buttons.addWidget(self.header, 1)
        for text, tip, slot in (
            ("Save .npy…", "Save the whole tensor as .npy", self._ask_npy),
            ("Slice to .csv…", "Save the table's 2-D slice as .csv", self._ask_csv),
            ("Image to .png…", "Save the image view as .png", self._ask_png),
        ):
            button = QToolButton(corner)
            button.setText(text)
            button.setToolTip(tip)
            button.setAutoRaise(True)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        self.png_button = button  # the last one
        self.tabs.setCornerWidget(corner, Qt.Corner.TopRightCorner)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs, 1)

        is_image = tensor.ndim == 4 and tensor.size > 0
        # The block's own views (declared on its BlockSpec) open first: they explain the
        # result best and are cheap (one image channel and one tile); the other pages are
        # built when first opened.
        spec = REGISTRY.get(result.block) if result is not None else None
        port = address.rpartition(".")[2]
        for declared in spec.result_views_of(port) if spec is not None and is_image else ():
            view_class = OVERLAY_VIEWS[declared.kind]
            self._add_page(declared.title, functools.partial(
                view_class, self._result(), self.tensor, declaration=declared))
        if is_image:
            self._add_page("Image", lambda: ImagePanel(self.tensor, title=self.address))
        self._add_page("Table", lambda: TensorTable(self.tensor))
        self.tabs.setCurrentIndex(0)
        self.tabs.currentChanged.connect(self._build_current)
        self._build_current()
        self.png_button.setEnabled(is_image)

        known = self.stats_cache.peek(tensor)
        if known is not None:
            self._show_stats(known)
        else:
            shape = "[" + ",".join(str(d) for d in tensor.shape) + "]"
            self.header.setText(f"<b>{address}</b>  {shape} {tensor.dtype.name}  "
                                f"{'empty' if tensor.size == 0 else 'statistics…'}")
            # A large tensor shows at once; its numbers follow from a worker thread.
            self.stats_cache.request(tensor, self._show_stats)

    # ------------------------------------------------------------------ public

    def compute_stats(self) -> TensorStats:
        stats = self.stats_cache.get(self.tensor)
        self._show_stats(stats)
        return stats

    def page(self, name: str) -> QWidget:
        """The page ``name`` (Image, Table, Glimpses, Patches), built now if it was not yet."""
        widget = self.pages.get(name)
        if widget is None:
            index = self.tabs.indexOf(self._placeholder(name))
            widget = self._build(index)
        return widget

    def table(self) -> TensorTable:
        page = self.page("Table")
        assert isinstance(page, TensorTable)
        return page

    def image(self) -> ImagePanel:
        page = self.page("Image")
        assert isinstance(page, ImagePanel)
        return page

    def export_npy(self, path: str) -> None:
        """The whole tensor, exactly, as .npy."""
        save_npy(path, self.tensor)

    def export_csv(self, path: str) -> None:
        """The table's current 2-D slice as CSV (full precision)."""
        self.table().export_csv(path)

    def export_png(self, path: str) -> None:
        """The image view as PNG."""
        self.image().export_png(path)

    # ------------------------------------------------------------------ internals

    def _result(self) -> NodeResult:
        assert self.result is not None
        return self.result

    def _show_stats(self, stats: TensorStats) -> None:
        self.header.setText(f"<b>{self.address}</b>  {stats.summary()}")

    def _add_page(self, name: str, builder: Callable[[], QWidget]) -> None:
        placeholder = QWidget()
        placeholder.setObjectName(f"placeholder:{name}")
        index = self.tabs.addTab(placeholder, name)
        self._builders[index] = builder

    def _placeholder(self, name: str) -> QWidget:
        for index in range(self.tabs.count()):
            widget = self.tabs.widget(index)
            if self.tabs.tabText(index) == name and widget is not None:
                return widget
        raise KeyError(name)

    def _build_current(self, *_: Any) -> None:
        self._build(self.tabs.currentIndex())

    def _build(self, index: int) -> QWidget:
        name = self.tabs.tabText(index)
        if name in self.pages:
            return self.pages[name]
        builder = self._builders[index]
        widget = builder()
        placeholder = self.tabs.widget(index)
        assert placeholder is not None
        layout = QVBoxLayout(placeholder)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(widget)
        self.pages[name] = widget
        return widget

    def _ask(self, caption: str, filters: str, suffix: str) -> str | None:
        default = self.address.replace(".", "_") + suffix
        path, _ = QFileDialog.getSaveFileName(self, caption, default, filters)
        return path or None

    def _ask_npy(self) -> None:
        path = self._ask("Save tensor", "NumPy array (*.npy)", ".npy")
        if path:
            self.export_npy(path)

    def _ask_csv(self) -> None:
        path = self._ask("Save table slice", "CSV (*.csv)", ".csv")
        if path:
            self.export_csv(path)

    def _ask_png(self) -> None:
        path = self._ask("Save image", "PNG image (*.png)", ".png")
        if path:
            self.export_png(path)


class NodeView(QWidget):
    """A node's status, inputs and attrs, and a TensorView per output."""

    def __init__(self, result: NodeResult, stats: StatsCache,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = result
        self.info = QLabel(self)
        self.info.setTextFormat(Qt.TextFormat.RichText)  # values escaped (html_text)
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.setText(self._describe(result))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 0)
        layout.setSpacing(2)
        #: The info line; the panel adds its Pin button here.
        self.header_layout = QHBoxLayout()
        self.header_layout.setContentsMargins(0, 0, 0, 0)
        self.header_layout.addWidget(self.info, 1)
        layout.addLayout(self.header_layout)
        self.tensors: dict[str, TensorView] = {}
        outputs = list(result.outputs.items())
        if len(outputs) == 1:
            port, array = outputs[0]
            view = TensorView(f"{result.node}.{port}", array, result=result, stats=stats,
                              parent=self)
            self.tensors[port] = view
            layout.addWidget(view, 1)
        elif outputs:
            ports = QTabWidget(self)
            for port, array in outputs:
                view = TensorView(f"{result.node}.{port}", array, result=result, stats=stats)
                self.tensors[port] = view
                ports.addTab(view, port)
            layout.addWidget(ports, 1)
        else:
            layout.addStretch(1)

    @staticmethod
    def _describe(result: NodeResult) -> str:
        parts = [f"<b>{result.node}</b> ({result.block}) — {result.status}"]
        if result.seconds:
            parts[0] += f" in {result.seconds * 1000:.1f} ms"
        if result.attrs:  # on the first line: it is short
            parts[0] += " · " + html_text(", ".join(
                f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}"
                for k, v in result.attrs.items()))
        if result.error:
            parts.append(f"<span style='color:#d32f2f'>{html_text(result.error)}</span>")
        if result.inputs:
            parts.append("inputs: " + html_text(", ".join(
                f"{k} = {port_value_text(v)}" for k, v in result.inputs.items())))
        if not result.outputs and not result.error:
            parts.append("no product tensors")
        return "<br>".join(parts)


class CompareView(QWidget):
    """Two tensors side by side, or their difference."""

    def __init__(self, stats: StatsCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stats_cache = stats
        self.entries: dict[str, np.ndarray] = {}
        self.first = QComboBox(self)
        self.second = QComboBox(self)
        self.mode = QComboBox(self)
        self.mode.addItem("side by side", "side")
        self.mode.addItem("difference a − b", "difference")
        self.summary = QLabel(self)
        self.summary.setTextFormat(Qt.TextFormat.RichText)  # values escaped (html_text)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(QLabel("a", self))
        controls.addWidget(self.first, 1)
        controls.addWidget(QLabel("b", self))
        controls.addWidget(self.second, 1)
        controls.addWidget(self.mode)
        self.body = QWidget(self)
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.summary)
        layout.addWidget(self.body, 1)
        self.views: list[TensorView] = []
        self.diff: np.ndarray | None = None
        self.max_abs_difference: float | None = None
        for combo in (self.first, self.second, self.mode):
            combo.currentIndexChanged.connect(self._update)

    def set_results(self, results: Mapping[str, NodeResult]) -> None:
        self.entries = dict(tensor_entries(results))
        keep = (self.first.currentText(), self.second.currentText())
        for combo, old in zip((self.first, self.second), keep, strict=True):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(list(self.entries))
            if old in self.entries:
                combo.setCurrentText(old)
            combo.blockSignals(False)
        if len(self.entries) > 1 and self.second.currentIndex() == self.first.currentIndex():
            self.second.blockSignals(True)
            self.second.setCurrentIndex(1)
            self.second.blockSignals(False)
        self._update()

    def compare(self, a: str, b: str, mode: str = "side") -> None:
        """Choose the two ``node.port`` addresses and ``"side"`` or ``"difference"``."""
        for combo, value in ((self.first, a), (self.second, b)):
            combo.blockSignals(True)
            combo.setCurrentText(value)
            combo.blockSignals(False)
        self.mode.blockSignals(True)
        self.mode.setCurrentIndex(self.mode.findData(mode))
        self.mode.blockSignals(False)
        self._update()

    def _update(self, *_: Any) -> None:
        for view in self.views:
            view.setParent(None)
            view.deleteLater()
        while self.body_layout.count():
            item = self.body_layout.takeAt(0)
            widget = None if item is None else item.widget()
            if widget is not None:
                widget.setParent(None)
                widget.deleteLater()
        self.views, self.diff, self.max_abs_difference = [], None, None
        a_name, b_name = self.first.currentText(), self.second.currentText()
        a, b = self.entries.get(a_name), self.entries.get(b_name)
        if a is None or b is None:
            self.summary.setText("Choose two tensors (node.port) to compare.")
            return
        if self.mode.currentData() == "side":
            splitter = QSplitter(Qt.Orientation.Horizontal, self.body)
            for name, array in ((a_name, a), (b_name, b)):
                view = TensorView(name, array, stats=self.stats_cache)
                splitter.addWidget(view)
                self.views.append(view)
            self.body_layout.addWidget(splitter)
            same = a.shape == b.shape
            self.summary.setText("same shape" if same else
                                 f"shapes differ: {list(a.shape)} vs {list(b.shape)}")
            return
        try:
            diff, largest = difference(a, b)
        except ValueError as error:
            self.summary.setText(f"Cannot subtract: {error}; a − b needs equal shapes "
                                 "(side by side shows both).")
            return
        self.diff, self.max_abs_difference = diff, largest
        self.summary.setText(f"<b>max |a − b| = {format_number(largest)}</b>  "
                             f"({a_name} − {b_name}, {diff.dtype.name})")
        view = TensorView(f"{a_name} − {b_name}", diff, stats=self.stats_cache)
        self.views.append(view)
        self.body_layout.addWidget(view)
        if "Image" in [view.tabs.tabText(i) for i in range(view.tabs.count())]:
            # Differences read best around 0: one channel, blue-white-red, symmetric range.
            image = view.image()
            image.set_channel(0)
            image.set_colour_map("diverging")
            bound = largest if np.isfinite(largest) and largest > 0 else 1.0
            image.set_fixed_range(-bound, bound)
