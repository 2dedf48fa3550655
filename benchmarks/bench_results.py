"""Benchmark of the results panel: showing a large patches tensor, scrolling its table.

Prints, for a ``[1,512,512,75]`` float32 ExtractImagePatches result (20M elements):

* show: from ``ResultsPanel.show_node`` to the first paint of the panel's image views
  (the goal is < 0.3 s offscreen); statistics follow after that paint and are timed apart;
* open Image / open Table: first opening of those pages (built lazily), to their paint;
* scroll: ``scrollTo`` alternately to the bottom-right and top-left cell, and to random
  cells, each followed by ``processEvents`` (so the visible cells are formatted).

Each figure is also printed as a ratio to one ``np.copyto`` of the tensor (a single memory pass over
the tensor) timed in the same process, so runs on different machines compare.

Run: ``QT_QPA_PLATFORM=offscreen python3 benchmarks/bench_results.py``
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QAbstractScrollArea, QApplication

from app.results.data import NodeResult
from app.results.image import PixelView
from app.results.panel import ResultsPanel


class PaintWatch(QObject):
    """Notes when any viewport of the given kind gets painted."""

    def __init__(self) -> None:
        super().__init__()
        self.painted: set[str] = set()
        #: Evaluated at the first image paint (did the statistics come before it?).
        self.probe: Any = None
        self.probed: list[bool] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint:
            parent = watched.parent()
            if isinstance(parent, PixelView):
                if "image" not in self.painted and self.probe is not None:
                    self.probed.append(bool(self.probe()))
                    self.probe = None
                self.painted.add("image")
            elif isinstance(parent, QAbstractScrollArea):
                self.painted.add("table")
        return False


def wait_for(app: QApplication, watch: PaintWatch, what: str, limit: float = 10.0) -> None:
    deadline = time.perf_counter() + limit
    while what not in watch.painted and time.perf_counter() < deadline:
        app.processEvents()


def best(times: list[float]) -> float:
    return min(times)


def make_result() -> NodeResult:
    rng = np.random.default_rng(0)
    images = rng.random((1, 512, 512, 3), dtype=np.float32)
    patches = rng.random((1, 512, 512, 75), dtype=np.float32)
    return NodeResult(
        "patches", "ExtractImagePatches",
        {"images": images, "ksizes": (1, 5, 5, 1), "strides": (1, 1, 1, 1),
         "rates": (1, 1, 1, 1), "padding": "SAME"},
        {}, {"patches": patches},
    )


def main() -> None:
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    watch = PaintWatch()
    app.installEventFilter(watch)
    result = make_result()
    tensor = result.outputs["patches"]
    target = np.empty_like(tensor)
    copies = []
    for _ in range(5):
        t0 = time.perf_counter()
        np.copyto(target, tensor)
        copies.append(time.perf_counter() - t0)
    reference = best(copies)

    shows, stats_times, image_times, table_times = [], [], [], []
    scroll_corner, scroll_random = [], []

    for _ in range(3):
        panel = ResultsPanel()
        panel.resize(1200, 800)
        panel.show()
        panel.set_results({"patches": result})
        app.processEvents()
        watch.painted.clear()
        watch.probe = lambda panel=panel: panel.stats.peek(tensor) is not None
        t0 = time.perf_counter()
        panel.show_node("patches")
        wait_for(app, watch, "image")
        shows.append(time.perf_counter() - t0)

        view = panel.tensor_view("patches.patches")
        assert view is not None
        panel.stats.clear()
        t0 = time.perf_counter()
        view.compute_stats()  # what the worker thread does, here on the GUI thread
        stats_times.append(time.perf_counter() - t0)

        watch.painted.clear()
        t0 = time.perf_counter()
        view.tabs.setCurrentIndex(view.tabs.indexOf(view._placeholder("Image")))
        wait_for(app, watch, "image")
        image_times.append(time.perf_counter() - t0)

        watch.painted.clear()
        t0 = time.perf_counter()
        view.tabs.setCurrentIndex(view.tabs.indexOf(view._placeholder("Table")))
        wait_for(app, watch, "table")
        table_times.append(time.perf_counter() - t0)

        table = view.table()
        model = table.model
        corners = [model.index(model.rowCount() - 1, model.columnCount() - 1), model.index(0, 0)]
        for step in range(20):
            t0 = time.perf_counter()
            table.view.scrollTo(corners[step % 2])
            app.processEvents()
            scroll_corner.append(time.perf_counter() - t0)
        rng = np.random.default_rng(1)
        for _ in range(20):
            index = model.index(int(rng.integers(model.rowCount())),
                                int(rng.integers(model.columnCount())))
            t0 = time.perf_counter()
            table.view.scrollTo(index)
            app.processEvents()
            scroll_random.append(time.perf_counter() - t0)
        panel.close()
        panel.deleteLater()
        app.processEvents()

    print(f"tensor [1,512,512,75] float32 ({tensor.size:,} elements); "
          f"reference copy: {reference * 1000:.1f} ms")
    print(f"statistics were ready before the first paint in {sum(watch.probed)} of "
          f"{len(watch.probed)} runs (they come from a worker thread)")
    rows = [
        ("show_node -> painted (Patches page)", best(shows), 0.3),
        ("statistics (worker thread, once per tensor)", best(stats_times), None),
        ("open Image page -> painted", best(image_times), None),
        ("open Table page -> painted", best(table_times), None),
        ("scroll to a corner + processEvents", float(np.median(scroll_corner)), None),
        ("scroll to a random cell + processEvents", float(np.median(scroll_random)), None),
    ]
    for name, seconds, goal in rows:
        verdict = ""
        if goal is not None:
            verdict = f"  (goal < {goal:.1f} s: {'met' if seconds < goal else 'MISSED'})"
        print(f"{name:42s} {seconds * 1000:8.1f} ms  = {seconds / reference:6.2f} x copy{verdict}")


if __name__ == "__main__":
    main()
