"""The results panel: every product tensor of the selected and pinned nodes.

Contract (:class:`ResultsPanel`):

* ``ResultsPanel(session)`` takes a :class:`~graph.session.Session` and connects to its
  events: the report gives the results, the selection the node shown, the stale event which
  shown results no longer match the graph (their tab says "stale" and a banner above the
  tensors says why, until the next run). Without a session (tests, tools) it is fed by hand.
* ``set_results({node id: NodeResult})`` replaces what the panel knows; ``set_report(report)``
  does the same from a ``graph.engine.RunReport`` (``None`` clears); ``set_stale(ids)``
  marks results stale. Statistics are computed once per tensor object and shared by every
  view of it.
* ``show_node(node_id)`` selects the node whose tensors are shown (``None``: none);
  ``pin_node`` / ``unpin_node`` keep other nodes shown beside it, each in its own tab
  (pinned tabs are titled "<id> (pinned)" and have an Unpin button; the selected node
  has a Pin button).
* The last tab compares two tensors (any ``node.port``): side by side or ``a − b``.
* Views are built lazily: a node's tensors when its tab is shown, a tensor's pages when
  opened; showing a node never converts a whole tensor to Python objects.

See :mod:`app.results.image` for why the image view is written on QGraphicsView rather
than taken from pyqtgraph.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.results.data import NodeResult, results_from_report
from app.results.views import CompareView, NodeView, StatsCache, TensorView
from app.subscriptions import Subscriptions
from graph.engine import RunReport
from graph.session import Session

COMPARE_TAB = "Compare"


def _same_content(new: NodeResult | None, old: NodeResult) -> bool:
    """Whether ``new`` shows exactly what ``old`` shows (same tensors and inputs, by identity)."""
    if new is None:
        return False
    if new is old:
        return True
    if (new.block, new.status, new.error, new.attrs) != (old.block, old.status, old.error,
                                                         old.attrs):
        return False
    if new.outputs.keys() != old.outputs.keys() or new.inputs.keys() != old.inputs.keys():
        return False
    if any(new.outputs[k] is not old.outputs[k] for k in new.outputs):
        return False
    for key, value in new.inputs.items():
        other = old.inputs[key]
        same = value is other if isinstance(value, np.ndarray) else _equal(value, other)
        if not same:
            return False
    return True


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


class _NodePage(QWidget):
    """A tab: a NodeView with a Pin/Unpin button."""

    def __init__(self, panel: ResultsPanel, result: NodeResult, pinned: bool) -> None:
        super().__init__()
        self.result = result
        self.pinned = pinned
        self.node_view = NodeView(result, panel.stats, self)
        button = QPushButton("Unpin" if pinned else "Pin", self)
        node_id = result.node
        if pinned:
            button.clicked.connect(lambda: panel.unpin_node(node_id))
        else:
            button.clicked.connect(lambda: panel.pin_node(node_id))
        self.pin_button = button
        self.node_view.header_layout.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
        self.stale_label = QLabel(
            f"Stale: {node_id} or a block upstream of it was edited after this run, so these "
            "results no longer match the graph. Run again (F5) to update them.", self)
        self.stale_label.setTextFormat(Qt.TextFormat.PlainText)  # data, not markup
        self.stale_label.setObjectName("warning")
        self.stale_label.setWordWrap(True)
        self.stale_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stale_label)
        layout.addWidget(self.node_view, 1)


class ResultsPanel(QWidget):
    """Shows the product tensors of the selected node and of pinned nodes."""

    #: Emitted when a node is pinned or unpinned.
    pinsChanged = Signal()

    def __init__(self, session: Session | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._results: dict[str, NodeResult] = {}
        self._stale: frozenset[str] = frozenset()
        self._current: str | None = None
        self._pinned: list[str] = []
        self._pages: dict[tuple[str, bool], _NodePage] = {}
        self.stats = StatsCache()
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.placeholder = QLabel("No results yet: run the graph, then select a node.", self)
        self.placeholder.setTextFormat(Qt.TextFormat.PlainText)  # data, not markup
        self.compare = CompareView(self.stats)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.tabs, 1)
        self.subscriptions = Subscriptions(self)
        if session is not None:
            self.subscriptions.follow(
                session.events,
                report=lambda event: self.set_report(event.report),
                stale=lambda event: self.set_stale(event.nodes),
                selection=lambda event: self.show_node(event.current),
            )
            self._results = results_from_report(session.report)
            self._stale = session.stale
            self._current = session.current_node
        self._refresh()

    # ------------------------------------------------------------------ public API

    def set_results(self, results: Mapping[str, NodeResult]) -> None:
        """Replace the results shown (views of unchanged result objects are kept)."""
        self._results = dict(results)
        self.stats.keep_only(
            array for result in self._results.values() for array in result.outputs.values()
        )
        # A node whose tensors are the very same objects (the engine's cache hands them back
        # after a re-run) keeps its page, and with it zoom, tab and table position.
        self._pages = {key: page for key, page in self._pages.items()
                       if _same_content(self._results.get(key[0]), page.result)}
        self.compare.set_results(self._results)
        self._refresh()

    def set_report(self, report: RunReport | None) -> None:
        """Results from a run report; ``None`` clears."""
        self.set_results(results_from_report(report))

    def set_stale(self, node_ids: frozenset[str] | set[str]) -> None:
        """Mark these nodes' results stale (they no longer match the graph)."""
        stale = frozenset(node_ids)
        if stale != self._stale:
            self._stale = stale
            self._refresh()

    def is_stale(self, node_id: str) -> bool:
        """Whether the panel shows ``node_id``'s results as stale."""
        return node_id in self._stale

    def show_node(self, node_id: str | None) -> None:
        """Show this node's tensors (``None``: only the pinned nodes)."""
        self._current = node_id
        self._refresh()

    def pin_node(self, node_id: str) -> None:
        """Keep this node shown whatever is selected."""
        if node_id not in self._pinned:
            self._pinned.append(node_id)
            self._refresh()
            self.pinsChanged.emit()

    def unpin_node(self, node_id: str) -> None:
        if node_id in self._pinned:
            self._pinned.remove(node_id)
            self._refresh()
            self.pinsChanged.emit()

    # ------------------------------------------------------------------ queries

    def results(self) -> dict[str, NodeResult]:
        return dict(self._results)

    def current_node(self) -> str | None:
        return self._current

    def pinned_nodes(self) -> list[str]:
        return list(self._pinned)

    def node_view(self, node_id: str) -> NodeView | None:
        """The view of a shown node (selected or pinned)."""
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            if isinstance(page, _NodePage) and page.result.node == node_id:
                return page.node_view
        return None

    def tensor_view(self, address: str) -> TensorView | None:
        """The view of ``node.port`` if that node is shown."""
        node_id, _, port = address.rpartition(".")
        view = self.node_view(node_id)
        return None if view is None else view.tensors.get(port)

    # ------------------------------------------------------------------ internals

    def _shown(self) -> list[tuple[str, bool]]:
        shown: list[tuple[str, bool]] = []
        if self._current is not None and self._current not in self._pinned:
            shown.append((self._current, False))
        shown.extend((node_id, True) for node_id in self._pinned)
        return shown

    def _refresh(self) -> None:
        wanted = self._shown()
        current_widget = self.tabs.currentWidget()
        keep_tab = current_widget if (isinstance(current_widget, _NodePage)
                                      and current_widget.pinned) else None
        self.tabs.blockSignals(True)
        while self.tabs.count():
            self.tabs.removeTab(0)
        pages: dict[tuple[str, bool], _NodePage] = {}
        missing: list[str] = []
        for node_id, pinned in wanted:
            result = self._results.get(node_id)
            if result is None:
                missing.append(node_id)
                continue
            page = self._pages.get((node_id, pinned))
            if page is None or not _same_content(result, page.result):
                page = _NodePage(self, result, pinned)
            pages[(node_id, pinned)] = page
            stale = node_id in self._stale
            page.stale_label.setVisible(stale)
            title = f"{node_id} (pinned)" if pinned else node_id  # no emoji: fonts lack it
            self.tabs.addTab(page, title + (" — stale" if stale else ""))
            self.tabs.setTabToolTip(self.tabs.count() - 1, f"{result.block}: {result.status}"
                                    + (" (stale: the graph changed since this run)"
                                       if stale else ""))
        for key, old in self._pages.items():
            if key not in pages:
                old.deleteLater()
        self._pages = pages
        self.tabs.addTab(self.compare, COMPARE_TAB)
        self.tabs.blockSignals(False)
        if self._current is not None and (self._current, False) in pages:
            self.tabs.setCurrentWidget(pages[(self._current, False)])
        elif self._current is not None and (self._current, True) in pages:
            self.tabs.setCurrentWidget(pages[(self._current, True)])
        elif keep_tab is not None and self.tabs.indexOf(keep_tab) >= 0:
            self.tabs.setCurrentWidget(keep_tab)
        else:
            self.tabs.setCurrentIndex(0)
        text = ""
        if not self._results:
            text = "No results yet: run the graph, then select a node."
        elif missing:
            text = "No results for " + ", ".join(missing) + " (not run yet, or it failed)."
        elif not pages:
            text = "Select a node to see its tensors."
        self.placeholder.setText(text)
        self.placeholder.setVisible(bool(text))
