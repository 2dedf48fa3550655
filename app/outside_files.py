"""The editor's warning for a graph that reads files outside its own folder (issue 10, 9).

Contract: :func:`confirm_outside_files(parent, model, graph_path, settings)` is called
before a graph's first run. When the graph reads files outside its folder
(:func:`graph.fileformat.files_outside`) and the user has not yet been told about this
graph (once per graph file and set of files, remembered in ``settings``), it shows a
dialog listing those files as plain text — never rich text: the names come from a
stranger's file — and returns whether to go on. It returns True without asking when there
is nothing to tell, when told before, or when the setting ``files/warn_outside`` is off.
Opening a graph never reads data: inference reads file headers only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from graph.fileformat import OutsideFile, files_outside
from graph.model import GraphModel
from graph.text import safe_text

#: The setting that turns the warning off (bool, default on).
WARN_SETTING = "files/warn_outside"
_TOLD_GROUP = "files/outside_told"


def _told_key(graph_path: Path, files: list[OutsideFile]) -> str:
    """A key for (this graph, these files): a new outside file is told again."""
    text = "\n".join([str(graph_path.resolve()), *sorted(str(f.path) for f in files)])
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def outside_files_to_tell(
    model: GraphModel, graph_path: Path, settings: QSettings
) -> list[OutsideFile]:
    """The outside files to tell the user about now (empty: nothing to ask)."""
    if str(settings.value(WARN_SETTING, True)).lower() in ("false", "0"):
        return []
    files = files_outside(model, graph_path.parent)
    if not files or settings.value(f"{_TOLD_GROUP}/{_told_key(graph_path, files)}", False):
        return []
    return files


def confirm_outside_files(
    parent: QWidget | None, model: GraphModel, graph_path: Path, settings: QSettings
) -> bool:
    """Tell (once per graph) which outside files the graph reads; whether to run it."""
    files = outside_files_to_tell(model, graph_path, settings)
    if not files:
        return True
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Files outside the graph's folder")
    box.setTextFormat(Qt.TextFormat.PlainText)
    shown = files[:20]
    lines = [f"{safe_text(f.text)}  (node {safe_text(f.node)})" for f in shown]
    if len(files) > len(shown):
        lines.append(f"... and {len(files) - len(shown)} more")
    box.setText(
        f"{safe_text(graph_path.name)} reads {len(files)} file(s) outside its own folder:\n\n"
        + "\n".join(lines)
        + "\n\nRun it anyway?"
    )
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    if box.exec() != QMessageBox.StandardButton.Yes:
        return False
    settings.setValue(f"{_TOLD_GROUP}/{_told_key(graph_path, files)}", True)
    return True
