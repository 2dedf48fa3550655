"""The editor's memory budget: Run > Memory Limit… (issue 10: one budget per run).

Contract: :class:`MemorySetting` reads the setting ``run/memory_limit`` (a size such as
``2G`` or ``512M``, :func:`graph.memory.parse_memory_size`; default the command line's
2 GiB) when the window starts and applies it to the session's engine, which every run,
inference and batch run of the editor uses. :meth:`MemorySetting.ask` lets the user change
it (a size that does not parse is refused with the reason, nothing changes); the new value
is stored and applies from the next run. A stored value that does not parse is ignored.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox

from blocks.errors import TensorBlocksError
from blocks.spec import DEFAULT_MEMORY_LIMIT
from graph.memory import format_bytes, parse_memory_size

if TYPE_CHECKING:
    from app.main_window import MainWindow

SETTING = "run/memory_limit"


def size_text(nbytes: int) -> str:
    """``2147483648`` -> ``2G``; sizes that are not whole units stay in bytes."""
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if nbytes % size == 0:
            return f"{nbytes // size}{unit}"
    return str(nbytes)


class MemorySetting:
    """See the module docstring."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        stored = window.settings.value(SETTING, None)
        limit = DEFAULT_MEMORY_LIMIT
        if stored is not None:
            with contextlib.suppress(TensorBlocksError):  # a hand-edited file: the default
                limit = parse_memory_size(str(stored))
        window.session.engine.memory_limit = limit

    @property
    def limit(self) -> int:
        """The budget of the editor's runs, in bytes."""
        return int(self.window.session.engine.memory_limit)

    def set(self, text: str) -> int:
        """Apply and store the size ``text``; TensorBlocksError (nothing changes) if invalid."""
        nbytes = parse_memory_size(text)
        self.window.session.engine.memory_limit = nbytes
        self.window.settings.setValue(SETTING, size_text(nbytes))
        return nbytes

    def ask(self) -> None:
        """Run > Memory Limit…: ask for a new size."""
        text, accepted = QInputDialog.getText(
            self.window, "Memory limit",
            "The most memory one run may use for its tensors and working memory\n"
            "(e.g. 512M, 4G). A run that would need more stops before allocating it:",
            QLineEdit.EchoMode.Normal, size_text(self.limit),
        )
        if not accepted:
            return
        try:
            nbytes = self.set(text)
        except TensorBlocksError as error:
            QMessageBox.warning(self.window, "Memory limit", error.reason)
            return
        self.window.statusBar().showMessage(f"Memory limit: {format_bytes(nbytes)}", 4000)
