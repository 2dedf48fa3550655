"""The quick-add search: a small popup listing blocks, filtered as the user types.

Contract: :func:`match_blocks(specs, query) <match_blocks>` filters and ranks block
declarations by name, title, category and tags (every word of the query must match
somewhere; names and titles that start with the query come first, then word starts, then
substrings; ties keep the library's order). :class:`QuickAddPopup` shows the result in a
search field over a list: typing filters, Up/Down move, Enter (or a click) emits
``chosen(block_name)`` and closes, Esc closes without choosing.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from blocks.spec import BlockSpec


def _score(spec: BlockSpec, word: str) -> int | None:
    """0: name or title starts with ``word``; 1: a word of them or a tag does; 2: a substring
    anywhere; ``None``: no match."""
    name, title = spec.name.lower(), spec.title.lower()
    if name.startswith(word) or title.startswith(word):
        return 0
    words = title.split() + [t.lower() for t in spec.tags] + [spec.category.lower()]
    if any(w.startswith(word) for w in words):
        return 1
    haystack = " ".join([name, title, spec.category.lower(), *(t.lower() for t in spec.tags)])
    return 2 if word in haystack else None


def match_blocks(specs: Sequence[BlockSpec], query: str) -> list[BlockSpec]:
    """The blocks matching ``query``, best first (see the module docstring)."""
    words = query.lower().split()
    if not words:
        return list(specs)
    ranked: list[tuple[int, int, BlockSpec]] = []
    for index, spec in enumerate(specs):
        scores = [_score(spec, word) for word in words]
        if all(s is not None for s in scores):
            ranked.append((sum(s for s in scores if s is not None), index, spec))
    ranked.sort(key=lambda entry: (entry[0], entry[1]))
    return [spec for _, _, spec in ranked]


class QuickAddPopup(QFrame):
    """The popup (see the module docstring)."""

    chosen = Signal(str)

    def __init__(
        self, specs: Sequence[BlockSpec], parent: QWidget | None = None, title: str = "Add block"
    ) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("QuickAddPopup")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.specs = list(specs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        heading = QLabel(title)
        heading.setTextFormat(Qt.TextFormat.PlainText)  # data, not markup
        heading.setObjectName("QuickAddTitle")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search blocks…")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout.addWidget(heading)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.resize(280, 240)
        self.search.textChanged.connect(self._refilter)
        self.search.installEventFilter(self)
        self.list.itemActivated.connect(self._choose_item)
        self.list.itemClicked.connect(self._choose_item)
        self._refilter("")

    def names(self) -> list[str]:
        """The block names listed now, in order."""
        return [
            str(self.list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.list.count())
        ]

    def _refilter(self, text: str) -> None:
        self.list.clear()
        for spec in match_blocks(self.specs, text):
            item = QListWidgetItem(f"{spec.title}    ·  {spec.category}")
            item.setData(Qt.ItemDataRole.UserRole, spec.name)
            item.setToolTip(spec.doc)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                step = 1 if key == Qt.Key.Key_Down else -1
                count = self.list.count()
                if count:
                    self.list.setCurrentRow((self.list.currentRow() + step) % count)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.choose_current()
                return True
            if key == Qt.Key.Key_Escape:
                self.close()
                return True
        return super().eventFilter(watched, event)

    def choose_current(self) -> None:
        """Choose the highlighted block (as Enter does)."""
        item = self.list.currentItem()
        if item is not None:
            self._choose_item(item)

    def _choose_item(self, item: QListWidgetItem) -> None:
        name = str(item.data(Qt.ItemDataRole.UserRole))
        self.close()
        self.chosen.emit(name)

    def popup_at(self, global_pos: QPoint) -> None:
        """Show at ``global_pos`` with the search field focused."""
        self.move(global_pos)
        self.show()
        self.search.setFocus()
