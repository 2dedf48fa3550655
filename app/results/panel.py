"""The results panel: every product tensor of the selected and pinned nodes.

Contract (:class:`ResultsPanel`):

* ``set_results({node id: NodeResult})`` replaces what the panel knows; ``set_report(report)``
  does the same from a ``graph.engine.RunReport`` (``None`` clears).
* ``show_node(node_id)`` selects the node whose tensors are shown (``None``: nothing);
  ``pin_node`` / ``unpin_node`` keep other nodes shown beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.results.data import NodeResult, results_from_report, tensor_stats


class ResultsPanel(QWidget):
    """Shows the product tensors of the selected node and of pinned nodes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._results: dict[str, NodeResult] = {}
        self._current: str | None = None
        self._pinned: list[str] = []
        self._layout = QVBoxLayout(self)
        self._label = QLabel("No results", self)
        self._layout.addWidget(self._label)

    def set_results(self, results: Mapping[str, NodeResult]) -> None:
        self._results = dict(results)
        self._refresh()

    def set_report(self, report: Any) -> None:
        self.set_results(results_from_report(report))

    def show_node(self, node_id: str | None) -> None:
        self._current = node_id
        self._refresh()

    def pin_node(self, node_id: str) -> None:
        if node_id not in self._pinned:
            self._pinned.append(node_id)
        self._refresh()

    def unpin_node(self, node_id: str) -> None:
        if node_id in self._pinned:
            self._pinned.remove(node_id)
        self._refresh()

    def _refresh(self) -> None:
        lines: list[str] = []
        shown = [*self._pinned]
        if self._current is not None and self._current not in shown:
            shown.insert(0, self._current)
        for node_id in shown:
            result = self._results.get(node_id)
            if result is None:
                continue
            lines.append(f"{node_id} ({result.block}): {result.status}")
            for port, array in result.outputs.items():
                lines.append(f"  {port}: {tensor_stats(array).summary()}")
        self._label.setText("\n".join(lines) if lines else "No results")
