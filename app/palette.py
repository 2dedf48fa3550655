"""The block palette: every declared block by category, with a search field.

Contract:

* Built from a :class:`~blocks.library.BlockRegistry` alone: categories from
  ``BlockSpec.category``, labels from ``title``, tool tips from ``doc``, glyphs by the
  block's name (:func:`app.style.block_icon`). No block is listed here by name.
* ``set_filter(text)`` (the search field calls it) keeps the blocks whose name, title,
  category or tags contain every word of ``text`` (case-insensitive) and hides empty
  categories; ``visible_blocks()`` lists what is shown. When nothing matches, a hint
  (``empty_hint``) says so and what one can search by, with tags taken from the registry.
* Double-click (or Enter on a block, or Enter in the search field for the first match)
  emits ``blockActivated(name)``; the window adds that block at the view centre.
* Dragging a block starts a drag whose mime data holds the block name under
  :data:`BLOCK_MIME`; the window accepts such drops on the canvas.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QDrag, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.style import LIGHT, Theme, block_icon, icon
from blocks.library import REGISTRY, BlockRegistry
from blocks.spec import BlockSpec

#: The mime type of a palette drag: the block name, UTF-8.
BLOCK_MIME = "application/x-tensorblocks-block"
_BLOCK_ROLE = Qt.ItemDataRole.UserRole + 1


def block_matches(spec: BlockSpec, text: str) -> bool:
    """Whether every word of ``text`` occurs in the block's name, title, category or tags."""
    haystack = " ".join((spec.name, spec.title, spec.category, *spec.tags)).lower()
    return all(word in haystack for word in text.lower().split())


def empty_search_hint(registry: BlockRegistry, text: str) -> str:
    """What the palette says when no block matches ``text``: what one can search by."""
    tags = list(dict.fromkeys(tag for spec in registry.values() for tag in spec.tags))
    categories = list(registry.categories())
    examples = ", ".join(list(dict.fromkeys([*(c.lower() for c in categories[:2]), *tags]))[:5])
    return (
        f"No block matches \u201c{text.strip()}\u201d. Search by block name, category or "
        f"tag ({examples}); clear the field to see every block."
    )


class _BlockTree(QTreeWidget):
    """The tree of blocks; drags carry the block name."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setRootIsDecorated(False)
        self.setIndentation(8)
        self.setIconSize(QSize(20, 20))
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformRowHeights(True)

    def mimeTypes(self) -> list[str]:
        return [BLOCK_MIME]

    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:  # type: ignore[override]
        data = QMimeData()
        names = [item.data(0, _BLOCK_ROLE) for item in items if item.data(0, _BLOCK_ROLE)]
        if names:
            data.setData(BLOCK_MIME, str(names[0]).encode("utf-8"))
            data.setText(str(names[0]))
        return data

    def startDrag(self, supported: Qt.DropAction) -> None:
        item = self.currentItem()
        if item is None or not item.data(0, _BLOCK_ROLE):
            return
        drag = QDrag(self)
        drag.setMimeData(self.mimeData([item]))
        drag.setPixmap(item.icon(0).pixmap(32, 32))
        drag.exec(Qt.DropAction.CopyAction)


class Palette(QWidget):
    """Search field over a categorised tree of the declared blocks."""

    blockActivated = Signal(str)

    def __init__(self, registry: BlockRegistry = REGISTRY, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("paletteContent")
        self.registry = registry
        self.search = QLineEdit(self)
        self.search.setObjectName("searchField")
        self.search.setPlaceholderText("Search blocks…")
        self.search.setClearButtonEnabled(True)
        self.tree = _BlockTree(self)
        self.empty_hint = QLabel(self)
        self.empty_hint.setTextFormat(Qt.TextFormat.PlainText)  # data, not markup
        self.empty_hint.setObjectName("muted")
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.empty_hint)
        layout.addWidget(self.tree, 1)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._categories: dict[str, QTreeWidgetItem] = {}
        self._theme = LIGHT
        self._search_action = self.search.addAction(
            icon("search", LIGHT), QLineEdit.ActionPosition.LeadingPosition
        )
        self._build()
        self.search.textChanged.connect(self.set_filter)
        self.search.returnPressed.connect(self._activate_first)
        self.search.installEventFilter(self)
        # Activation is a double-click (Fusion style) or Enter; one signal, so one block.
        self.tree.itemActivated.connect(self._on_activated)

    def _build(self) -> None:
        self.tree.clear()
        self._items.clear()
        self._categories.clear()
        for category, specs in self.registry.categories().items():
            header = QTreeWidgetItem([category.upper()])
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = header.font(0)
            font.setBold(True)
            font.setPointSizeF(max(font.pointSizeF() * 0.85, 7.0))
            header.setFont(0, font)
            self.tree.addTopLevelItem(header)
            self._categories[category] = header
            for spec in specs:
                item = QTreeWidgetItem([spec.title])
                item.setData(0, _BLOCK_ROLE, spec.name)
                item.setToolTip(0, f"<b>{spec.title}</b> ({spec.name})<br>{spec.doc}")
                item.setFlags(
                    Qt.ItemFlag.ItemIsEnabled
                    | Qt.ItemFlag.ItemIsSelectable
                    | Qt.ItemFlag.ItemIsDragEnabled
                )
                header.addChild(item)
                self._items[spec.name] = item
            header.setExpanded(True)
        self.set_theme(self._theme)

    def set_theme(self, theme: Theme) -> None:
        """Redraw the glyphs for ``theme``."""
        self._theme = theme
        self._search_action.setIcon(icon("search", theme))
        for name, item in self._items.items():
            spec = self.registry[name]
            item.setIcon(0, block_icon(spec.name, spec.color, theme))
        for header in self._categories.values():
            header.setForeground(0, self.palette().placeholderText())

    # ------------------------------------------------------------------ filtering

    def set_filter(self, text: str) -> None:
        """Show only the blocks matching ``text`` (see :func:`block_matches`)."""
        if self.search.text() != text:
            self.search.setText(text)  # re-enters through textChanged
            return
        first: QTreeWidgetItem | None = None
        for header in self._categories.values():
            shown = 0
            for index in range(header.childCount()):
                child = header.child(index)
                if child is None:
                    continue
                spec = self.registry[str(child.data(0, _BLOCK_ROLE))]
                match = block_matches(spec, text)
                child.setHidden(not match)
                if match:
                    shown += 1
                    first = first or child
            header.setHidden(shown == 0)
        if text.strip() and first is not None:
            self.tree.setCurrentItem(first)
        self.empty_hint.setText(empty_search_hint(self.registry, text) if first is None else "")
        self.empty_hint.setVisible(first is None)

    def visible_blocks(self) -> list[str]:
        """The names of the blocks shown, in palette order."""
        return [
            name
            for name, item in self._items.items()
            if not item.isHidden() and not _parent_hidden(item)
        ]

    def item_for(self, block: str) -> QTreeWidgetItem | None:
        """The tree item of ``block`` (for tests and drags)."""
        return self._items.get(block)

    # ------------------------------------------------------------------ activation

    def _on_activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        name = item.data(0, _BLOCK_ROLE)
        if name:
            self.blockActivated.emit(str(name))

    def _activate_first(self) -> None:
        item = self.tree.currentItem()
        if item is None or item.isHidden() or not item.data(0, _BLOCK_ROLE):
            visible = self.visible_blocks()
            item = self._items[visible[0]] if visible else None
        if item is not None:
            self._on_activated(item)

    def eventFilter(self, watched: object, event: object) -> bool:
        # Up/Down in the search field walk the visible blocks without leaving the field.
        if (
            watched is self.search
            and isinstance(event, QKeyEvent)
            and event.type() == QKeyEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up)
        ):
            visible = self.visible_blocks()
            if visible:
                current = self.tree.currentItem()
                name = str(current.data(0, _BLOCK_ROLE)) if current is not None else ""
                index = visible.index(name) if name in visible else -1
                step = 1 if event.key() == Qt.Key.Key_Down else -1
                index = max(0, min(len(visible) - 1, index + step))
                self.tree.setCurrentItem(self._items[visible[index]])
            return True
        return super().eventFilter(watched, event)  # type: ignore[arg-type]


def _parent_hidden(item: QTreeWidgetItem) -> bool:
    parent = item.parent()
    return parent is not None and parent.isHidden()
