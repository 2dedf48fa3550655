"""Table view of any tensor: a lazy model over a 2-D slice, with selectors for the other dims.

Contract:

* :class:`TensorTableModel` exposes ``tensor[..., rows, ..., cols, ...]`` (two chosen dims,
  the others fixed at chosen indices) as a ``QAbstractTableModel``. The slice is a numpy
  view; ``data()`` reads and formats only the cell asked for, so a tensor of tens of
  millions of elements costs nothing until cells become visible (the lesson of Orange's
  item models: compute per cell on demand, answer unhandled roles fast, never size
  headers to contents). Display text is compact (6 significant digits); the tooltip is
  the exact ``repr`` with the full index.
* :class:`TensorTable` adds the controls: which dims are rows and columns (default H x W
  for 4-D tensors, the last two dims otherwise) and a spin box for each other dim (batch
  and channel for ``[B,H,W,C]``). ``current_slice()`` is the 2-D array shown;
  ``export_csv(path)`` writes it with full precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.results.data import exact_value, format_value
from app.results.export import save_csv

_ModelIndex = QModelIndex | QPersistentModelIndex

# Plain ints: data() is called ~7 times per visible cell, and comparing an int role with
# a Python enum member costs more than the lookup itself.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole.value)
_RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)


def dim_names(ndim: int) -> list[str]:
    """Names of a tensor's dims: batch/H/W/channel for 4-D, dim 0.. otherwise."""
    if ndim == 4:
        return ["batch", "H", "W", "channel"]
    return [f"dim {d}" for d in range(ndim)]


def default_dims(ndim: int) -> tuple[int | None, int | None]:
    """(row dim, column dim): H x W for 4-D, the last two dims otherwise."""
    if ndim == 0:
        return None, None
    if ndim == 1:
        return 0, None
    if ndim == 4:
        return 1, 2
    return ndim - 2, ndim - 1


class TensorTableModel(QAbstractTableModel):
    """A 2-D slice of a tensor, formatted cell by cell on demand."""

    def __init__(self, tensor: np.ndarray, parent: Any = None) -> None:
        super().__init__(parent)
        self.tensor = tensor
        self.row_dim, self.col_dim = default_dims(tensor.ndim)
        self.fixed: list[int] = [0] * tensor.ndim
        self._slice = self._make_slice()

    # ------------------------------------------------------------------ slicing

    def set_view(self, row_dim: int | None, col_dim: int | None, fixed: list[int]) -> None:
        """Choose the row/column dims and the indices of every other dim."""
        if row_dim is not None and row_dim == col_dim:
            raise ValueError("rows and columns must be different dims")
        self.beginResetModel()
        self.row_dim, self.col_dim = row_dim, col_dim
        self.fixed = [int(v) for v in fixed]
        self._slice = self._make_slice()
        self.endResetModel()

    def _make_slice(self) -> np.ndarray:
        """The 2-D view shown (never a copy)."""
        tensor = self.tensor
        if tensor.ndim == 0:
            return tensor.reshape(1, 1)
        key: list[Any] = []
        for dim in range(tensor.ndim):
            if dim in (self.row_dim, self.col_dim):
                key.append(slice(None))
            else:
                size = tensor.shape[dim]
                key.append(min(max(self.fixed[dim], 0), max(size - 1, 0)) if size else slice(0, 0))
        plane = tensor[tuple(key)]
        if self.col_dim is None:
            return plane.reshape(-1, 1)
        if plane.ndim > 2:  # an empty fixed dim kept as slice(0, 0)
            return np.empty((0, 0), dtype=tensor.dtype)
        if self.row_dim is not None and self.row_dim > self.col_dim:
            plane = plane.T
        return plane

    def current_slice(self) -> np.ndarray:
        return self._slice

    def full_index(self, row: int, col: int) -> tuple[int, ...]:
        """The tensor index of cell (row, col)."""
        if self.tensor.ndim == 0:
            return ()
        index = list(self.fixed)
        if self.row_dim is not None:
            index[self.row_dim] = row
        if self.col_dim is not None:
            index[self.col_dim] = col
        return tuple(index)

    # ------------------------------------------------------------------ Qt model

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else int(self._slice.shape[0])

    def columnCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else int(self._slice.shape[1])

    def data(self, index: _ModelIndex, role: int = _DISPLAY) -> Any:
        if role == _DISPLAY:
            return format_value(self._slice[index.row(), index.column()])
        if role == _ALIGNMENT:
            return _RIGHT
        if role == _TOOLTIP:
            row, col = index.row(), index.column()
            where = ",".join(str(i) for i in self.full_index(row, col))
            return f"[{where}] = {exact_value(self._slice[row, col])}"
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return str(section)
        return None


class TensorTable(QWidget):
    """A TensorTableModel in a QTableView, with row/column dim choice and index spin boxes."""

    def __init__(self, tensor: np.ndarray, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = TensorTableModel(tensor, self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.view.setFont(font)
        for header in (self.view.horizontalHeader(), self.view.verticalHeader()):
            # Fixed sizes: ResizeToContents would format every cell of a huge slice.
            header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.horizontalHeader().setDefaultSectionSize(96)
        self.view.verticalHeader().setDefaultSectionSize(20)
        self.view.setWordWrap(False)

        names = dim_names(tensor.ndim)
        self.rows = QComboBox(self)
        self.cols = QComboBox(self)
        for dim, name in enumerate(names):
            self.rows.addItem(f"rows: {name}", dim)
            self.cols.addItem(f"cols: {name}", dim)
        row_dim, col_dim = self.model.row_dim, self.model.col_dim
        if row_dim is not None:
            self.rows.setCurrentIndex(row_dim)
        if col_dim is not None:
            self.cols.setCurrentIndex(col_dim)
        self.rows.setVisible(tensor.ndim >= 2)
        self.cols.setVisible(tensor.ndim >= 2)

        self.spins: list[QSpinBox] = []
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.rows)
        controls.addWidget(self.cols)
        for dim, name in enumerate(names):
            spin = QSpinBox(self)
            spin.setPrefix(f"{name} ")
            spin.setRange(0, max(0, tensor.shape[dim] - 1))
            spin.valueChanged.connect(self._on_change)
            self.spins.append(spin)
            controls.addWidget(spin)
        controls.addStretch(1)
        self.rows.currentIndexChanged.connect(self._on_dims)
        self.cols.currentIndexChanged.connect(self._on_dims)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.view, 1)
        self.note = QLabel(self)
        self.note.setTextFormat(Qt.TextFormat.PlainText)  # data, not markup
        self.note.setVisible(False)
        layout.addWidget(self.note)
        self._update_spins()

    # ------------------------------------------------------------------ public

    def set_dims(self, row_dim: int, col_dim: int) -> None:
        """Choose which dims are rows and columns."""
        for combo, dim in ((self.rows, row_dim), (self.cols, col_dim)):
            combo.blockSignals(True)
            combo.setCurrentIndex(dim)
            combo.blockSignals(False)
        self._on_dims()

    def set_index(self, dim: int, value: int) -> None:
        """Fix dim ``dim`` (not a row or column dim) at ``value``."""
        self.spins[dim].setValue(value)

    def current_slice(self) -> np.ndarray:
        return self.model.current_slice()

    def export_csv(self, path: str) -> None:
        """Write the 2-D slice shown to a CSV file (exact, see :func:`save_csv`)."""
        save_csv(path, self.current_slice())

    # ------------------------------------------------------------------ internals

    def _update_spins(self) -> None:
        for dim, spin in enumerate(self.spins):
            spin.setVisible(dim not in (self.model.row_dim, self.model.col_dim))

    def _on_dims(self, *_: Any) -> None:
        row_dim, col_dim = int(self.rows.currentData()), int(self.cols.currentData())
        if row_dim == col_dim:
            # Swap so the two never collide: the other combo takes the old dim.
            other = self.cols if self.sender() is self.rows else self.rows
            old = self.model.row_dim if other is self.rows else self.model.col_dim
            if old is None or old == row_dim:
                old = next(d for d in range(self.model.tensor.ndim) if d != row_dim)
            other.blockSignals(True)
            other.setCurrentIndex(old)
            other.blockSignals(False)
            row_dim, col_dim = int(self.rows.currentData()), int(self.cols.currentData())
        self.model.set_view(row_dim, col_dim, [s.value() for s in self.spins])
        self._update_spins()

    def _on_change(self, *_: Any) -> None:
        self.model.set_view(self.model.row_dim, self.model.col_dim,
                            [s.value() for s in self.spins])
