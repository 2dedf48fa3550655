"""The editor with a stranger's graph: outside files asked about once, text shown as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox

from app.inspector import Inspector
from app.main_window import MainWindow
from graph.fileformat import save_graph
from graph.model import GraphModel

HOSTILE = "<h1>x</h1><img src=file:///etc/passwd>"


@pytest.fixture
def make_window(qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TENSORBLOCKS_SETTINGS_DIR", str(tmp_path / "settings"))

    def make() -> MainWindow:
        window = MainWindow()
        qtbot.addWidget(window)
        window.show()
        return window

    return make


def outside_graph(tmp_path: Path) -> Path:
    """A graph in graph/ that reads ../data.npy."""
    np.save(tmp_path / "data.npy", np.zeros((1, 4, 4, 1), np.float32))
    folder = tmp_path / "graph"
    folder.mkdir()
    model = GraphModel()
    model.add_node("Input", "image", literals={"file": "../data.npy"}, pos=(0, 0))
    path = folder / "g.tbg.json"
    save_graph(model, path)
    return path


@pytest.mark.parametrize("answer", [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])
def test_outside_files_are_asked_about_before_the_first_run(
    make_window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: Any,
) -> None:
    window: MainWindow = make_window()
    shown: list[str] = []

    def exec_(box: QMessageBox) -> Any:
        assert box.textFormat() == Qt.TextFormat.PlainText
        shown.append(box.text())
        return answer

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    started: list[bool] = []
    monkeypatch.setattr(window.runner, "start", lambda *a, **k: started.append(True))
    window.open_path(outside_graph(tmp_path), ask=False, interactive=False)
    window.run_graph()
    assert len(shown) == 1 and "../data.npy" in shown[0] and "image" in shown[0]
    assert started == ([True] if answer == QMessageBox.StandardButton.Yes else [])
    window.run_graph()  # told once per graph: a second run asks again only if refused
    assert len(shown) == (1 if answer == QMessageBox.StandardButton.Yes else 2)


def test_text_from_files_is_plain_in_the_inspector(make_window: Any) -> None:
    window: MainWindow = make_window()
    window.model.add_node("ExtractGlimpse", "g", attrs=f"noise_ = {HOSTILE};", pos=(0, 0))
    window.session.select(["g"])
    inspector: Inspector = window.inspector
    labels = inspector.findChildren(QLabel)
    shown = [label for label in labels if "h1" in label.text()]
    assert shown, [label.text() for label in labels]
    assert all(label.textFormat() == Qt.TextFormat.PlainText for label in shown)
    tip = inspector.attrs_edit.toolTip() if inspector.attrs_edit is not None else ""
    assert "&lt;h1&gt;" in tip and "<h1>" not in tip


def test_problem_badges_show_file_text_as_text(make_window: Any) -> None:
    window: MainWindow = make_window()
    window.model.add_node("ExtractGlimpse", "g", attrs=f"noise_ = {HOSTILE};", pos=(0, 0))
    window.update_inference()
    item = window.scene.node_item("g")
    assert item is not None
    text = item.problem_tooltip()
    assert text is not None and "<h1>" in text  # the words, as the file has them
    badge_tip = item._problem_badge.toolTip() if item._problem_badge is not None else ""
    assert "<h1>" not in badge_tip and "&lt;h1&gt;" in badge_tip


def test_a_missing_result_names_the_ones_there() -> None:
    from graph.api import Graph
    from graph.model import GraphModel as Model

    model = Model()
    model.add_node("Input", "grid", literals={"initvalues": "{{1,2},{3,4}}",
                                               "shape": "{1,2,2,1}"}, pos=(0, 0))
    results = Graph(model).run()
    with pytest.raises(KeyError, match=r"no tensor 'grid.outptu'.*did you mean 'grid.output'"):
        results["grid.outptu"]


def test_the_memory_limit_is_a_setting_of_the_editor(
    make_window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.document import app_settings
    from app.memory_setting import SETTING
    from blocks.errors import TensorBlocksError

    app_settings().setValue(SETTING, "1M")
    window: MainWindow = make_window()
    assert window.session.engine.memory_limit == 1 << 20
    window.model.add_node("Input", "big", literals={"initvalues": "1", "shape": "{1,512,512,3}"},
                          pos=(0, 0))
    report = window.session.run()
    assert report.nodes["big"].status == "failed"
    assert "memory" in str(report.problems[0]).lower()
    with pytest.raises(TensorBlocksError):
        window.memory.set("lots")
    assert window.session.engine.memory_limit == 1 << 20  # unchanged
    window.memory.set("512M")
    assert window.session.engine.memory_limit == 512 << 20
    assert app_settings().value(SETTING) == "512M"
    assert window.session.run().ok
    assert "memory_limit" in window.actions_by_name


def test_no_label_in_the_window_renders_markup_from_a_file(make_window: Any) -> None:
    """Every label that shows the hostile attrs shows them as text (plain, or escaped)."""
    window: MainWindow = make_window()
    window.model.add_node("ExtractGlimpse", "g", attrs=f"noise_ = {HOSTILE};", pos=(0, 0))
    window.update_inference()
    window.session.run()
    window.session.select(["g"])
    shown = 0
    for label in window.findChildren(QLabel):
        text = label.text()
        if "h1" not in text:
            continue
        shown += 1
        plain = label.textFormat() == Qt.TextFormat.PlainText
        assert plain or "<h1>" not in text, (label.objectName(), text)
    assert shown >= 1
