"""The main window: palette, undo/redo actions, files and the unsaved-changes prompt, runs,
drops, autosave and recovery, settings, themes and the ``edit --screenshot`` entry point.

Every test points the settings and autosave folder at ``tmp_path`` and replaces the modal
QMessageBox functions, so no test blocks on a dialog or touches the user's settings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox

from app import style
from app.document import AUTOSAVE_NAME, pending_recovery
from app.main_window import SCREENSHOT_SIZE, MainWindow
from app.palette import BLOCK_MIME
from graph.fileformat import load_graph, models_equal
from graph.model import GraphModel, PortRef

Button = QMessageBox.StandardButton


class Dialogs:
    """Stands in for QMessageBox's static functions; records what was asked."""

    def __init__(self) -> None:
        self.answer = Button.Discard
        self.asked: list[str] = []
        self.warnings: list[str] = []

    def question(self, _parent: Any, title: str, text: str, *_: Any) -> Any:
        self.asked.append(f"{title}: {text}")
        return self.answer

    def warning(self, _parent: Any, title: str, text: str, *_: Any) -> Any:
        self.warnings.append(f"{title}: {text}")
        return Button.Ok


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> Dialogs:
    fake = Dialogs()
    monkeypatch.setattr(QMessageBox, "question", fake.question)
    monkeypatch.setattr(QMessageBox, "warning", fake.warning)
    monkeypatch.setattr(QMessageBox, "information", fake.warning)
    return fake


@pytest.fixture
def settings_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "settings"
    monkeypatch.setenv("TENSORBLOCKS_SETTINGS_DIR", os.fspath(folder))
    return folder


@pytest.fixture
def make_window(qtbot, settings_dir: Path, dialogs: Dialogs):  # type: ignore[no-untyped-def]
    def make(*, size: tuple[int, int] | None = (1200, 800), **kwargs: Any) -> MainWindow:
        window = MainWindow(**kwargs)
        qtbot.addWidget(window)
        if size is not None:
            window.resize(*size)
        window.show()
        return window

    yield make
    app = QApplication.instance()
    if isinstance(app, QApplication):
        style.apply_theme(app, style.LIGHT)


@pytest.fixture
def window(make_window) -> MainWindow:  # type: ignore[no-untyped-def]
    return make_window()


def small_graph() -> GraphModel:
    model = GraphModel()
    model.add_node("Input", "image", literals={"initvalues": "{{{{1},{2}},{{3},{4}}}}"}, pos=(0, 0))
    model.add_node("ExtractImagePatches", "tiles", literals={"ksizes": "{1,2,2,1}"}, pos=(280, 0))
    model.connect(PortRef("image", "output"), PortRef("tiles", "images"))
    return model


def write_graph(path: Path, model: GraphModel | None = None) -> Path:
    from graph.fileformat import save_graph

    save_graph(model or small_graph(), path)
    return path


def drop_on_canvas(window: MainWindow, mime: QMimeData, at: QPoint) -> None:
    """Deliver drag-enter and drop to the canvas the way Qt does during a real drag.

    (Qt delivers drop events only while its drag manager runs a drag, which a test cannot
    start offscreen, so the window's event filter on the canvas gets them directly.)
    """
    viewport = window.view.viewport()
    buttons, modifiers = Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(at, Qt.DropAction.CopyAction, mime, buttons, modifiers)
    assert window.drops.eventFilter(viewport, enter) and enter.isAccepted()
    drop = QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    assert window.drops.eventFilter(viewport, drop) and drop.isAccepted()


# ----------------------------------------------------------------------------- palette


def test_palette_filters_by_name_title_and_tags(window: MainWindow) -> None:
    palette = window.block_palette
    assert palette.visible_blocks() == list(window.model.registry)
    palette.set_filter("glimpse")
    assert palette.visible_blocks() == ["ExtractGlimpse", "ExtractGlimpseV2"]
    palette.set_filter("im2col")  # a tag
    assert palette.visible_blocks() == ["ExtractImagePatches"]
    palette.set_filter("Extract Glimpse V2")  # the title, word by word
    assert palette.visible_blocks() == ["ExtractGlimpseV2"]
    palette.set_filter("no such block")
    assert palette.visible_blocks() == []
    palette.set_filter("")
    assert len(palette.visible_blocks()) == len(window.model.registry)


def test_palette_double_click_adds_at_the_view_centre(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    palette = window.block_palette
    item = palette.item_for("ExtractGlimpse")
    assert item is not None
    rect = palette.tree.visualItemRect(item)
    qtbot.mouseClick(palette.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(palette.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert [node.block for node in window.model.nodes()] == ["ExtractGlimpse"]
    node = window.model.nodes()[0]
    centre = window.view.mapToScene(window.view.viewport().rect().center())
    assert abs(node.pos[0] - centre.x()) < 200 and abs(node.pos[1] - centre.y()) < 200
    assert window.scene.selected_node_ids() == [node.id]
    assert window.inspector.node_id == node.id
    # Enter in the search field adds the first match.
    palette.search.setText("patches")
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert [n.block for n in window.model.nodes()] == ["ExtractGlimpse", "ExtractImagePatches"]


def test_a_palette_drag_dropped_on_the_canvas_adds_there(window: MainWindow) -> None:
    mime = QMimeData()
    mime.setData(BLOCK_MIME, b"ExtractGlimpseV2")
    at = QPoint(300, 200)
    drop_on_canvas(window, mime, at)
    nodes = window.model.nodes()
    assert [n.block for n in nodes] == ["ExtractGlimpseV2"]
    target = window.view.mapToScene(at)
    assert abs(nodes[0].pos[0] - target.x()) <= 20 and abs(nodes[0].pos[1] - target.y()) <= 20


# ----------------------------------------------------------------------------- undo / redo


def test_undo_and_redo_through_the_window_actions(window: MainWindow) -> None:
    undo, redo = window.actions_by_name["undo"], window.actions_by_name["redo"]
    assert not undo.isEnabled()
    window.add_block("Input", (0, 0))
    window.add_block("ExtractImagePatches", (280, 0))
    assert len(window.model) == 2 and undo.isEnabled()
    undo.trigger()
    assert window.model.node_ids() == ["input"]
    undo.trigger()
    assert len(window.model) == 0 and not undo.isEnabled()
    redo.trigger()
    redo.trigger()
    assert window.model.node_ids() == ["input", "extract_image_patches"]
    assert undo.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)


# ----------------------------------------------------------------------------- files


def test_save_then_reopen_gives_the_same_graph(window: MainWindow, tmp_path: Path) -> None:
    window.model.replace_with(small_graph())
    window.undo_stack.clear()
    window.add_block("ExtractGlimpse", (280, 200))
    path = tmp_path / "saved.tbg.json"
    assert window.files.save_to(path)
    assert path.is_file() and not window.isWindowModified()
    assert window.windowTitle().startswith("saved.tbg.json")
    assert models_equal(load_graph(path), window.model)
    glimpse = window.model.node("extract_glimpse")
    assert glimpse.attrs.startswith("centered_ = true;")  # new blocks get canonical attrs

    reopened = MainWindow()
    try:
        assert reopened.open_path(path, ask=False, interactive=False)
        assert models_equal(reopened.model, window.model)
        assert reopened.document.path == path.resolve()
        assert not reopened.document.dirty
    finally:
        reopened.deleteLater()


def test_dirty_mark_follows_the_undo_stack(window: MainWindow, tmp_path: Path) -> None:
    path = write_graph(tmp_path / "g.tbg.json")
    assert window.open_path(path, ask=False, interactive=False)
    assert window.windowTitle() == "g.tbg.json[*] — TensorBlocks"
    assert not window.isWindowModified()
    window.add_block("ExtractGlimpse", (0, 300))
    assert window.isWindowModified()
    window.actions_by_name["undo"].trigger()
    assert not window.isWindowModified()  # back at the saved state


def test_unsaved_changes_prompt_cancel_discard_and_save(
    window: MainWindow, dialogs: Dialogs, tmp_path: Path
) -> None:
    path = write_graph(tmp_path / "g.tbg.json")
    assert window.open_path(path, ask=False, interactive=False)
    window.add_block("ExtractGlimpse", (0, 300))

    dialogs.answer = Button.Cancel
    assert not window.files.new_graph()
    assert len(dialogs.asked) == 1 and "unsaved changes" in dialogs.asked[0]
    assert len(window.model) == 3  # nothing lost

    dialogs.answer = Button.Save
    assert window.files.new_graph()
    assert len(load_graph(path)) == 3  # saved first
    assert len(window.model) == 0 and window.document.path is None

    window.add_block("Input", (0, 0))
    dialogs.answer = Button.Discard
    assert window.open_path(path)
    assert len(window.model) == 3 and len(dialogs.asked) == 3

    # Closing with unsaved changes asks too; Cancel keeps the window open.
    window.add_block("Input", (0, 500))
    dialogs.answer = Button.Cancel
    assert not window.close()
    assert window.isVisible()
    dialogs.answer = Button.Discard
    assert window.close()


def test_a_graph_that_cannot_be_opened_is_reported_not_raised(
    window: MainWindow, tmp_path: Path, dialogs: Dialogs
) -> None:
    bad = tmp_path / "bad.tbg.json"
    bad.write_text('{"format": "tensorblocks.graph", "version": 99, "nodes": [], "edges": []}')
    assert not window.open_path(bad, ask=False)
    assert dialogs.warnings and "version" in dialogs.warnings[0]
    assert any("cannot open" in text for text in window.log.texts())
    assert window.document.path is None


def test_save_as_into_another_folder_rewrites_relative_file_names(
    window: MainWindow, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    np.save(data / "values.npy", np.ones((1, 2, 2, 1), np.float32))
    model = GraphModel()
    model.add_node("Input", "values", literals={"file": "values.npy"})
    path = write_graph(data / "g.tbg.json", model)
    assert window.open_path(path, ask=False, interactive=False)
    other = tmp_path / "elsewhere" / "moved.tbg.json"
    other.parent.mkdir()
    assert window.files.save_to(other)
    assert window.model.node("values").literals["file"] == "../data/values.npy"
    assert load_graph(other).node("values").literals["file"] == "../data/values.npy"
    assert not window.isWindowModified()


def test_recent_files_are_remembered(
    window: MainWindow, tmp_path: Path, settings_dir: Path
) -> None:
    first = write_graph(tmp_path / "first.tbg.json")
    second = write_graph(tmp_path / "second.tbg.json")
    window.open_path(first, ask=False, interactive=False)
    window.open_path(second, ask=False, interactive=False)
    window._fill_recent_menu()
    names = [a.text() for a in window.recent_menu.actions() if a.text()]
    assert names[:2] == ["second.tbg.json", "first.tbg.json"]
    stored = QSettings(os.fspath(settings_dir / "tensorblocks.ini"), QSettings.Format.IniFormat)
    assert Path(str(stored.value("recentFiles")[0])) == second.resolve()


def test_dropping_a_graph_file_on_the_window_opens_it(window: MainWindow, tmp_path: Path) -> None:
    path = write_graph(tmp_path / "dropped.tbg.json")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(os.fspath(path))])
    drop_on_canvas(window, mime, QPoint(100, 100))
    assert window.document.path == path.resolve()
    assert window.model.node_ids() == ["image", "tiles"]


# ----------------------------------------------------------------------------- data drops


def test_dropping_a_npy_makes_an_input_block(window: MainWindow, tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.int32).reshape(1, 2, 3, 2)
    npy = tmp_path / "sample data.npy"
    np.save(npy, array)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(os.fspath(npy))])
    drop_on_canvas(window, mime, QPoint(200, 150))
    (node,) = window.model.nodes()
    assert node.block == "Input" and node.id == "sample_data"
    # Untitled graph: the file literal is absolute; the file's dtype is kept.
    assert node.literals["file"] == npy.resolve().as_posix()
    assert node.literals["dtype"] == "DT_INT32"
    inference = window.update_inference()
    assert inference is not None and inference.ok
    assert inference.ports["sample_data.output"].shape == (1, 2, 3, 2)
    window.actions_by_name["undo"].trigger()
    assert len(window.model) == 0  # one undo step


def test_a_dropped_file_is_relative_to_a_saved_graph(window: MainWindow, tmp_path: Path) -> None:
    assert window.files.save_to(tmp_path / "graph.tbg.json")
    (tmp_path / "arrays").mkdir()
    npz = tmp_path / "arrays" / "pair.npz"
    np.savez(npz, left=np.zeros((1, 4, 4, 1), np.float32), right=np.ones((2, 2), np.float64))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(os.fspath(npz))])
    drop_on_canvas(window, mime, QPoint(200, 150))
    literals = {node.id: dict(node.literals) for node in window.model.nodes()}
    assert literals == {
        "left": {"file": "arrays/pair.npz:left"},
        "right": {"file": "arrays/pair.npz:right", "dtype": "DT_DOUBLE"},
    }
    inference = window.update_inference()
    assert inference is not None and inference.ok


# ----------------------------------------------------------------------------- runs and log


def test_run_pushes_the_report_to_the_panels(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.model.replace_with(small_graph())
    window.select_node("tiles")
    with qtbot.waitSignal(window.runner.runFinished, timeout=20_000):
        window.actions_by_name["run"].trigger()
        assert window.actions_by_name["stop"].isEnabled()
    assert window.session.report is not None and window.session.report.ok
    assert window.session.report.results["tiles.patches"].shape == (1, 1, 1, 4)
    assert not window.actions_by_name["stop"].isEnabled()
    assert window.inspector.run_label is not None
    assert window.inspector.run_label.text().startswith("last run: ran")
    assert "Run finished" in window.run_label.text()


def test_stop_action_cancels_a_run(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    from test_runner import GatedEngine, chain

    engine = GatedEngine()
    window = make_window(engine=engine)
    window.model.replace_with(chain(4))
    with qtbot.waitSignal(window.runner.runFinished, timeout=20_000) as blocker:
        window.run_graph()
        assert engine.holding.wait(10)
        window.actions_by_name["stop"].trigger()
    assert blocker.args[0].cancelled
    assert any("cancelled" in text for text in window.log.texts())


def test_run_problems_are_logged_with_their_node_and_select_it(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    model = small_graph()
    model.set_literal("tiles", "strides", "{2,1,1,1}")  # "Only support strides across space."
    window.model.replace_with(model)
    with qtbot.waitSignal(window.runner.runFinished, timeout=20_000):
        window.run_graph()
    assert "tiles" in window.log.nodes()
    row = window.log.items()[window.log.nodes().index("tiles")]
    assert "strides" in row.text(2)
    window.log.itemClicked.emit(row, 0)
    assert window.scene.selected_node_ids() == ["tiles"]
    assert window.inspector.node_id == "tiles"
    # The live problems list names the node too.
    window.update_inference()
    assert "tiles" in window.problems.nodes()


def test_auto_run_reruns_only_what_changed(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.model.replace_with(small_graph())
    with qtbot.waitSignal(window.runner.runFinished, timeout=20_000):
        window.actions_by_name["autorun"].setChecked(True)
    from app.commands import SetLiteral

    with qtbot.waitSignal(window.runner.runFinished, timeout=20_000) as blocker:
        window.undo_stack.push(SetLiteral(window.model, "tiles", "ksizes", "{1,1,1,1}"))
    assert blocker.args[0].statuses() == {"image": "cached", "tiles": "ran"}
    assert window.session.report is not None
    assert window.session.report.results["tiles.patches"].shape == (1, 2, 2, 1)


def test_an_exception_in_a_handler_goes_to_the_log(window: MainWindow) -> None:
    def broken() -> None:
        raise RuntimeError("handler bug")

    window.guarded(broken)
    assert any("handler bug" in text for text in window.log.texts())
    try:
        raise KeyError("hook")
    except KeyError as error:
        window.report_exception(KeyError, error, error.__traceback__)
    assert any("KeyError" in text for text in window.log.texts())


def test_inference_reaches_the_scene_and_inspector(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.model.replace_with(small_graph())
    with qtbot.waitSignal(window.inferenceUpdated, timeout=2_000) as blocker:
        window.model.set_literal("tiles", "ksizes", "{1,1,1,1}")
    inference = blocker.args[0]
    assert inference.ports["tiles.patches"].shape == (1, 2, 2, 1)
    window.select_node("tiles")
    assert window.inspector.output_labels["patches"].text() == "[1,2,2,1] float32"


# ------------------------------------------------------------------ autosave, settings, theme


def test_autosave_is_offered_back_after_a_crash(
    make_window, dialogs: Dialogs, tmp_path: Path, settings_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    path = write_graph(tmp_path / "work.tbg.json")
    crashed = make_window()
    crashed.open_path(path, ask=False, interactive=False)
    crashed.add_block("ExtractGlimpse", (0, 300))
    assert crashed.document.autosave()
    autosave = settings_dir / AUTOSAVE_NAME
    assert autosave.is_file()
    recovery = pending_recovery(settings_dir)
    assert recovery is not None and recovery.original == path.resolve()
    expected = crashed.model.copy()
    crashed.undo_stack.setClean()  # the "crash": nothing is asked, nothing is cleaned up
    crashed.hide()

    dialogs.answer = Button.Yes
    restored = make_window()
    assert restored.offer_recovery()
    assert models_equal(restored.model, expected)
    assert restored.document.dirty and restored.isWindowModified()
    assert restored.document.path == path.resolve()
    assert restored.files.save()
    assert not autosave.exists()  # a clean save removes it
    assert len(load_graph(path)) == 3


def test_declining_recovery_deletes_the_autosave(
    make_window, dialogs: Dialogs, settings_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    first = make_window()
    first.add_block("Input", (0, 0))
    assert first.document.autosave()
    assert not first.document.autosave()  # nothing changed since
    first.undo_stack.setClean()
    dialogs.answer = Button.No
    second = make_window()
    assert not second.offer_recovery()
    assert pending_recovery(settings_dir) is None
    assert len(second.model) == 0


def test_geometry_and_dock_state_are_remembered(make_window, settings_dir: Path) -> None:  # type: ignore[no-untyped-def]
    first = make_window(size=(777, 555))  # within the offscreen screen (800x600)
    first.log_dock.hide()
    assert first.close()
    stored = QSettings(os.fspath(settings_dir / "tensorblocks.ini"), QSettings.Format.IniFormat)
    assert stored.value("window/state") is not None
    second = make_window(size=None)
    assert not second.log_dock.isVisible()
    assert (second.width(), second.height()) == (777, 555)


def test_theme_toggle_switches_widgets_and_canvas(window: MainWindow, settings_dir: Path) -> None:
    toggle = window.actions_by_name["dark_theme"]
    assert not toggle.isChecked()
    toggle.trigger()
    assert window.theme is style.DARK
    app = QApplication.instance()
    assert isinstance(app, QApplication) and style.DARK.window in app.styleSheet()
    assert window.scene.theme.name == "dark"
    toggle.trigger()
    assert window.theme is style.LIGHT and window.scene.theme.name == "light"
    stored = QSettings(os.fspath(settings_dir / "tensorblocks.ini"), QSettings.Format.IniFormat)
    assert stored.value("theme") == "light"


def test_every_menu_action_has_a_shortcut_or_is_a_menu_only_command(window: MainWindow) -> None:
    with_keys = {
        name for name, action in window.actions_by_name.items() if not action.shortcut().isEmpty()
    }
    assert {
        "new",
        "open",
        "save",
        "save_as",
        "undo",
        "redo",
        "run",
        "stop",
        "fit",
        "layout",
        "delete",
        "copy",
        "paste",
        "dark_theme",
        "autorun",
    } <= with_keys


# ----------------------------------------------------------------------------- entry point


def test_screenshot_entry_point_writes_a_png_of_the_window(
    qtbot, tmp_path: Path, settings_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    from app.editor import run_editor

    graph = write_graph(tmp_path / "shot.tbg.json")
    png = tmp_path / "out" / "shot.png"
    settings_dir.mkdir(parents=True, exist_ok=True)
    left_behind = settings_dir / AUTOSAVE_NAME
    left_behind.write_text("{}")
    assert run_editor(["edit", os.fspath(graph), "--run", "--screenshot", os.fspath(png)]) == 0
    image = QImage(os.fspath(png))
    assert not image.isNull()
    assert (image.width(), image.height()) == SCREENSHOT_SIZE
    # Not a blank grab: many distinct colours.
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, image.height(), 29)
    }
    assert len(colours) > 20
    # A screenshot leaves the user's settings and a crashed session's autosave alone.
    ini = settings_dir / "tensorblocks.ini"
    keys = QSettings(os.fspath(ini), QSettings.Format.IniFormat).allKeys()
    assert not {"window/geometry", "window/state", "recentFiles", "lastDir"} & set(keys)
    assert left_behind.read_text() == "{}"


def test_entry_point_usage_and_open_errors(
    qtbot, tmp_path: Path, settings_dir: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    from app.editor import run_editor

    assert run_editor(["edit", "--theme", "purple"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    missing = tmp_path / "missing.tbg.json"
    assert (
        run_editor(["edit", os.fspath(missing), "--screenshot", os.fspath(tmp_path / "x.png")]) == 1
    )
    err = capsys.readouterr().err
    assert "missing.tbg.json" in err and "no such file" in err
    assert not (tmp_path / "x.png").exists()


def test_the_autosave_file_is_a_graph_file(window: MainWindow, settings_dir: Path) -> None:
    window.add_block("Input", (0, 0))
    assert window.document.autosave()
    data = json.loads((settings_dir / AUTOSAVE_NAME).read_text())
    assert data["format"] == "tensorblocks.graph"
    assert data["nodes"][0]["id"] == "input"


def test_an_exception_hook_call_from_another_thread_is_queued_to_the_log(
    qtbot, window: MainWindow
) -> None:  # type: ignore[no-untyped-def]
    import threading

    def worker() -> None:
        try:
            raise ValueError("from a thread")
        except ValueError as error:
            window.report_exception(ValueError, error, error.__traceback__)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: any("from a thread" in t for t in window.log.texts()), timeout=2000)


def test_keyboard_shortcuts_on_the_canvas_act_once(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.add_block("Input", (0, 0))
    window.add_block("ExtractImagePatches", (280, 0))
    window.add_block("ExtractGlimpse", (280, 200))
    window.activateWindow()
    window.view.setFocus()
    qtbot.waitUntil(window.view.hasFocus, timeout=2000)
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.model.node_ids() == ["input", "extract_image_patches"]  # one step, not two
    window.scene.select_nodes(["input"])
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)
    assert window.model.node_ids() == ["extract_image_patches"]
    # Plain keys belong to the canvas: typing F in a panel field does not fit the view.
    window.view.zoom_by(2.0)
    zoom = window.view.zoom()
    window.block_palette.search.setFocus()
    qtbot.keyClick(window.block_palette.search, Qt.Key.Key_F)
    assert window.block_palette.search.text() == "f" and window.view.zoom() == zoom
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_F)
    assert window.view.zoom() != zoom
    assert window.zoom_label.text() == f"{window.view.zoom() * 100:.0f}%"


def test_dropping_an_image_makes_a_float_input_of_shape_1hwc(
    window: MainWindow, tmp_path: Path
) -> None:
    from PIL import Image

    png = tmp_path / "photo.png"
    Image.fromarray(np.zeros((6, 5, 3), np.uint8)).save(png)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(os.fspath(png)), QUrl("https://example.com/x.png")])
    drop_on_canvas(window, mime, QPoint(10, 10))
    (node,) = window.model.nodes()
    assert node.id == "photo" and dict(node.literals) == {"file": png.resolve().as_posix()}
    inference = window.update_inference()
    assert inference is not None
    info = inference.ports["photo.output"]
    assert info.shape == (1, 6, 5, 3) and info.dtype == np.float32  # Input's default DT_FLOAT


def test_opening_a_window_writes_no_settings(make_window, settings_dir: Path) -> None:  # type: ignore[no-untyped-def]
    window = make_window(theme="dark")
    assert window.theme is style.DARK and window.actions_by_name["dark_theme"].isChecked()
    ini = settings_dir / "tensorblocks.ini"
    keys = QSettings(os.fspath(ini), QSettings.Format.IniFormat).allKeys() if ini.exists() else []
    assert "theme" not in keys and "autorun" not in keys


def noisy_graph() -> GraphModel:
    model = GraphModel()
    model.add_node("Input", "image", literals={"initvalues": "{{{{1},{2}},{{3},{4}}}}"},
                   pos=(0, 0))
    model.add_node("ExtractGlimpseV2", "glimpse", pos=(300, 0),
                   attrs="centered_ = true;normalized_ = true;uniform_noise_ = true;"
                         "noise_ = uniform;",
                   literals={"size": "{8,8}", "offsets": "{{0,0}}"})
    model.connect(PortRef("image", "output"), PortRef("glimpse", "input"))
    return model


def run_noise(qtbot, window: MainWindow) -> np.ndarray:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.runner.runFinished, timeout=20_000) as blocker:
        window.run_graph()
    report = blocker.args[0]
    assert not report.problems
    return np.array(report.results["glimpse.glimpse"])


def test_seed_control_gives_repeatable_or_fresh_noise(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    from graph.engine import Engine

    seeds: list[int | None] = []

    class RecordingEngine(Engine):
        def run(self, *args: Any, **kwargs: Any) -> Any:
            seeds.append(kwargs.get("seed"))
            return super().run(*args, **kwargs)

    window = make_window(engine=RecordingEngine())
    window.model.replace_with(noisy_graph())
    window.seed_spin.setValue(5)
    first = run_noise(qtbot, window)
    window.clear_cache()
    second = run_noise(qtbot, window)
    assert seeds == [5, 5]
    np.testing.assert_array_equal(first, second)
    assert np.unique(first).size > 4  # real noise around the 2x2 image, not a constant
    window.fresh_noise.setChecked(True)
    assert not window.seed_spin.isEnabled() and window.seed_controls.seed is None
    third = run_noise(qtbot, window)
    fourth = run_noise(qtbot, window)
    assert seeds[2:] == [None, None]
    assert not np.array_equal(third, fourth)  # redrawn: never served from the cache
    # Both are remembered for the next window.
    again = make_window()
    assert again.seed_controls.seed is None and again.seed_spin.value() == 5


def test_screenshot_select_option_picks_the_node_shown(
    qtbot, tmp_path: Path, settings_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    from app.editor import run_editor

    graph = write_graph(tmp_path / "shot.tbg.json")
    png = tmp_path / "shot.png"
    shown: list[tuple[str | None, list[str]]] = []
    original = MainWindow.select_node

    def select_node(self: MainWindow, node_id: str) -> None:
        original(self, node_id)
        shown.append((self.results.current_node(), self.scene.selected_node_ids()))

    monkeypatch.setattr(MainWindow, "select_node", select_node)
    argv = ["edit", os.fspath(graph), "--run", "--select", "image", "--screenshot", os.fspath(png)]
    assert run_editor(argv) == 0
    # The first block, not the default last one ("tiles").
    assert shown == [("image", ["image"])]
    assert png.exists()
    argv[4] = "nowhere"
    assert run_editor(argv) == 1
    assert "no node 'nowhere'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the session


def test_edited_results_are_marked_stale_until_the_next_run(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    assert not window.autorun
    window.model.replace_with(small_graph())
    window.select_node("tiles")
    with qtbot.waitSignal(window.runner.runFinished, timeout=20_000):
        window.run_graph()
    item = window.scene.node_item("tiles")
    assert item is not None and (item.run_badge_text() or "").startswith("ran")
    page = window.results.tabs.currentWidget()
    assert window.results.tabs.tabText(0) == "tiles"
    window.scene.edit_literal("image", "initvalues")
    editor = window.scene.literal_editor()
    assert editor is not None
    editor.setText("{{{{5},{6}},{{7},{8}}}}")
    editor.committed.emit(editor.text())
    # Both blocks are stale: the edited one and the one downstream of it.
    assert window.session.stale == {"image", "tiles"}
    assert item.run_badge_text() == "stale"
    assert window.results.is_stale("tiles") and "stale" in window.results.tabs.tabText(0)
    assert window.results.tabs.currentWidget() is page and page.stale_label.isVisibleTo(page)
    assert window.inspector.run_label is not None and "stale" in window.inspector.run_label.text()
    with qtbot.waitSignal(window.runner.runFinished, timeout=20_000):
        window.run_graph()
    assert window.session.stale == frozenset()
    assert (item.run_badge_text() or "").startswith(("ran", "cached"))
    assert window.results.tabs.tabText(0) == "tiles" and not window.results.is_stale("tiles")
    assert "stale" not in window.inspector.run_label.text()


def test_the_first_save_rebases_paths_typed_while_untitled(
    window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    np.save(work / "data" / "x.npy", np.ones((1, 2, 2, 1), np.float32))
    monkeypatch.chdir(work)
    node = window.add_block("Input", (0, 0), literals={"file": "data/x.npy"})
    assert node is not None
    inference = window.update_inference()
    assert inference is not None and inference.ok  # resolves in the current folder
    (tmp_path / "graphs").mkdir()
    assert window.files.save_to(tmp_path / "graphs" / "g.tbg.json")
    assert window.model.node(node).literals["file"] == "../work/data/x.npy"
    assert window.undo_stack.undoText() == "Rewrite file paths for the new folder"
    assert not window.document.dirty
    monkeypatch.chdir(tmp_path)
    inference = window.update_inference()
    assert inference is not None and inference.ok


def test_selection_is_one_state_for_canvas_inspector_and_results(window: MainWindow) -> None:
    window.model.replace_with(small_graph())
    window.scene.select_nodes(["image"])
    assert window.session.selection == ("image",)
    assert window.inspector.node_id == "image" and window.results.current_node() == "image"
    window.session.select(["tiles"])
    assert window.scene.selected_node_ids() == ["tiles"]
    assert window.inspector.node_id == "tiles" and window.results.current_node() == "tiles"


def test_quick_add_and_the_palette_store_the_same_canonical_attrs(window: MainWindow) -> None:
    from PySide6.QtCore import QPointF

    from graph.edits import new_node_attrs

    palette = window.add_block("ExtractGlimpse", (0, 0))
    quick = window.scene.add_block("ExtractGlimpse", QPointF(0, 300))
    assert palette is not None and quick is not None
    expected = new_node_attrs(window.model.registry["ExtractGlimpse"])
    assert expected.startswith("centered_ = true;")
    assert window.model.node(palette).attrs == window.model.node(quick).attrs == expected


def test_padding_escape_is_judged_alike_on_canvas_and_in_validation(window: MainWindow) -> None:
    window.model.replace_with(small_graph())
    window.model.set_literal("tiles", "padding", '"SA\\ME"')
    inference = window.update_inference()
    assert inference is not None and inference.ok
    item = window.scene.node_item("tiles")
    assert item is not None and "padding" not in item.literal_errors
    window.model.set_literal("tiles", "padding", "same")
    assert "padding" in item.literal_errors
