"""The editor as a person uses it (issue 12): the wheel guard, Qt start-up messages, the
level of detail, attrs on the blocks' faces, output thumbnails, the start page, the
shortcuts sheet, the palette's empty-search hint, images that fill their view."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app import qt_check
from app.wheel_guard import install_wheel_guard

ROOT = Path(__file__).resolve().parents[1]


def wheel(widget: QWidget, steps: int = 1) -> None:
    """Send ``steps`` wheel notches (down) to the middle of ``widget``."""
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    for _ in range(steps):
        event = QWheelEvent(
            centre,
            QPointF(widget.mapToGlobal(QPoint(int(centre.x()), int(centre.y())))),
            QPoint(0, 0),
            QPoint(0, -120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(widget, event)


# ----------------------------------------------------------------------------- wheel guard


@pytest.fixture
def form(qtbot: Any) -> tuple[QScrollArea, QComboBox, QSpinBox, QSlider]:
    install_wheel_guard(QApplication.instance())  # type: ignore[arg-type]
    area = QScrollArea()
    inner = QWidget()
    layout = QVBoxLayout(inner)
    combo = QComboBox()
    combo.addItems(["uniform", "gaussian", "zero", ""])
    spin = QSpinBox()
    spin.setRange(0, 100)
    spin.setValue(50)
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, 100)
    slider.setValue(50)
    for widget in (combo, spin, slider):
        layout.addWidget(widget)
    area.setWidget(inner)
    qtbot.addWidget(area)
    area.show()
    qtbot.waitExposed(area)
    area.setFocus()
    return area, combo, spin, slider


def test_wheel_over_unfocused_value_widgets_changes_nothing(form: Any) -> None:
    _area, combo, spin, slider = form
    combo.setCurrentIndex(1)
    for widget in (combo, spin, slider):
        assert not widget.hasFocus()
        wheel(widget, 3)
    assert combo.currentIndex() == 1
    assert spin.value() == 50
    assert slider.value() == 50


def test_wheel_still_scrolls_the_scroll_area(form: Any, qtbot: Any) -> None:
    area, *_ = form
    area.widget().setMinimumHeight(3000)
    area.resize(200, 150)
    qtbot.waitUntil(lambda: area.verticalScrollBar().maximum() > 0)
    wheel(area.viewport(), 2)
    assert area.verticalScrollBar().value() > 0


def test_wheel_changes_a_focused_value_widget(form: Any, qtbot: Any) -> None:
    _area, _combo, spin, _slider = form
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    wheel(spin, 2)
    assert spin.value() == 48  # two notches down; the guard lets a focused widget do its job


def test_guarded_widgets_are_not_focused_by_the_wheel(form: Any) -> None:
    _area, combo, spin, slider = form
    for widget in (combo, spin, slider):
        assert widget.focusPolicy() != Qt.FocusPolicy.WheelFocus


def test_wheel_guard_is_installed_once() -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    assert install_wheel_guard(app) is install_wheel_guard(app)


# ----------------------------------------------------------------------------- Qt start-up


def test_debian_package_names_follow_the_soname() -> None:
    assert qt_check.debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert qt_check.debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert qt_check.debian_package("libxcb-keysyms.so.1") == "libxcb-keysyms1"
    assert qt_check.debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert qt_check.debian_package("libEGL.so.1") == "libegl1"
    assert qt_check.debian_package("libglib-2.0.so.0") == "libglib2.0-0"


def test_install_script_installs_every_package_the_check_names() -> None:
    script = (ROOT / qt_check.SCRIPT).read_text(encoding="utf-8")
    for soname in ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1",
                   "libxkbcommon-x11.so.0", "libEGL.so.1", "libGL.so.1"):
        assert qt_check.debian_package(soname) in script.split()


def test_platform_follows_the_environment() -> None:
    assert qt_check.qt_platform({"QT_QPA_PLATFORM": "offscreen"}) == "offscreen"
    assert qt_check.qt_platform({"QT_QPA_PLATFORM": "wayland;xcb"}) == "wayland"
    if sys.platform.startswith("linux"):
        assert qt_check.qt_platform({}) == "xcb"
        assert qt_check.startup_problem({"QT_QPA_PLATFORM": "offscreen"}) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb check is Linux's")
def test_no_display_is_one_line() -> None:
    problem = qt_check.startup_problem({"QT_QPA_PLATFORM": "xcb"})
    assert problem is not None and "\n" not in problem
    assert "DISPLAY" in problem


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb check is Linux's")
def test_a_local_display_without_an_x_server_is_one_line() -> None:
    problem = qt_check.startup_problem({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":987"})
    assert problem is not None and "\n" not in problem and ":987" in problem


def test_a_missing_library_names_its_package() -> None:
    error = ImportError("libEGL.so.1: cannot open shared object file: No such file or directory")
    line = qt_check.library_problem(error)
    assert line is not None and "\n" not in line
    assert "libEGL.so.1" in line and "apt-get install libegl1" in line
    assert qt_check.SCRIPT in line
    assert qt_check.library_problem(ImportError("No module named 'PySide6'")) is None


def test_missing_libraries_of_the_xcb_plugin_come_from_ldd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = (
        "\tlibxcb-cursor.so.0 => not found\n\tlibc.so.6 => /lib/libc.so.6\n"
        "\tlibxcb-icccm.so.4 => not found\n"
    )

    class Done:
        stdout = listing

    monkeypatch.setattr(qt_check.subprocess, "run", lambda *_a, **_k: Done())
    missing = qt_check._missing_libraries(tmp_path / "libqxcb.so", "")
    assert missing == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb check is Linux's")
def test_edit_without_a_display_says_so_and_does_not_abort() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "xcb"
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "edit"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 1  # not 134 (abort)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no X display" in lines[0]


def test_screenshot_prints_no_propagate_size_hints(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               TENSORBLOCKS_SETTINGS_DIR=str(tmp_path / "settings"))
    png = tmp_path / "shot.png"
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "edit", "assets/examples/glimpses.tbg.json",
         "--screenshot", str(png)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert png.is_file()
    assert "propagateSizeHints" not in done.stderr + done.stdout


def test_readme_set_up_is_two_commands_and_the_first_installs_the_system_packages() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in section.splitlines() if line.startswith("    ")]
    assert len(commands) == 2
    assert commands[0].startswith(qt_check.SCRIPT + " && python3 -m venv .venv")
    assert os.access(ROOT / qt_check.SCRIPT, os.X_OK)


# ----------------------------------------------------------------------------- style sheets


@pytest.mark.parametrize("name", ["light", "dark"])
def test_spin_box_arrows_are_drawn_by_the_style_sheet(name: str) -> None:
    import re

    from app import style

    sheet = style.style_sheet(style.theme_named(name))
    assert "${" not in sheet
    for arrow in ("up-arrow", "down-arrow"):
        rule = re.search(r"QSpinBox::" + arrow + r"[^{]*\{[^}]*url\(([^)]+)\)", sheet)
        assert rule is not None and Path(rule.group(1)).is_file()


def test_dark_theme_frame_lines_are_not_white() -> None:
    from PySide6.QtGui import QColor, QPalette

    from app import style

    pal = style.palette(style.DARK)
    for role in (QPalette.ColorRole.Light, QPalette.ColorRole.Midlight):
        assert pal.color(role) == QColor(style.DARK.border)


# ----------------------------------------------------------------------------- palette


def test_palette_says_so_when_the_search_finds_nothing(qtbot: Any) -> None:
    from app.palette import Palette

    palette = Palette()
    qtbot.addWidget(palette)
    palette.show()
    palette.set_filter("zzz")
    assert palette.visible_blocks() == []
    assert palette.empty_hint.isVisible()
    assert "zzz" in palette.empty_hint.text() and "tag" in palette.empty_hint.text()
    palette.set_filter("glimpse")
    assert palette.visible_blocks() and not palette.empty_hint.isVisible()


# ----------------------------------------------------------------------------- canvas view


def glimpse_model() -> Any:
    from graph.model import GraphModel, PortRef

    m = GraphModel()
    m.add_node("Input", "image", literals={"initvalues": "{{{{1},{2}},{{3},{4}}}}"}, pos=(0, 0))
    m.add_node("ExtractGlimpse", "glimpse", literals={"size": "{1,1}"}, pos=(320, 0))
    m.connect(PortRef("image", "output"), PortRef("glimpse", "input"))
    return m


@pytest.fixture
def view(qtbot: Any) -> Any:
    from PySide6.QtGui import QUndoStack

    from app.canvas.scene import GraphScene
    from app.canvas.view import GraphView

    stack = QUndoStack()
    from graph.session import Session

    scene = GraphScene(Session(glimpse_model()), stack)
    graph_view = GraphView(scene)
    graph_view.stack = stack  # type: ignore[attr-defined]
    graph_view.resize(900, 600)
    qtbot.addWidget(graph_view)
    graph_view.show()
    qtbot.waitExposed(graph_view)
    yield graph_view
    scene.detach()


def test_fit_all_holds_through_resizes_until_the_user_zooms(view: Any, qtbot: Any) -> None:
    view.fit_all()
    before = view.zoom()
    view.resize(450, 300)  # the window laying out its docks after the first show
    qtbot.waitUntil(lambda: view.zoom() < before)
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(view.graph_scene.nodes_rect())
    view.zoom_by(1.5)
    zoomed = view.zoom()
    view.resize(900, 600)
    QApplication.processEvents()
    assert view.zoom() == pytest.approx(zoomed)  # the user's zoom is kept


def test_quick_added_block_is_in_view_and_the_popup_inside_the_canvas(view: Any) -> None:
    view.resetTransform()
    view.centerOn(300, 100)
    corner = view.mapToScene(view.viewport().rect().bottomRight())
    popup = view.show_quick_add(corner - QPointF(5, 5))
    top_left = view.viewport().mapFromGlobal(popup.geometry().topLeft())
    frame = 4  # the platform's window frame around the popup
    assert top_left.x() + popup.width() <= view.viewport().width() + frame
    assert top_left.y() + popup.height() <= view.viewport().height() + frame
    popup.search.setText("patches")
    popup.choose_current()
    QApplication.processEvents()
    added = [i for i in view.graph_scene.node_items() if i.block == "ExtractImagePatches"]
    assert len(added) == 1
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(added[0].sceneBoundingRect())


def test_pointer_scene_pos_is_none_off_the_canvas(view: Any) -> None:
    # Offscreen Qt has no mouse to move: the global position is given.
    assert view.pointer_scene_pos(view.mapToGlobal(QPoint(-50, -50))) is None
    inside = view.viewport().mapToGlobal(QPoint(100, 80))
    assert view.pointer_scene_pos(inside) == view.mapToScene(QPoint(100, 80))


def test_paste_lands_at_the_pointer(qtbot: Any, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from app.main_window import MainWindow

    monkeypatch.setenv("TENSORBLOCKS_SETTINGS_DIR", str(tmp_path / "settings"))
    monkeypatch.setattr(QMessageBox, "question", lambda *_a: QMessageBox.StandardButton.Discard)
    window = MainWindow(restore_layout=False, autosave_dir=tmp_path)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    window.add_block("Input", (0.0, 0.0))
    window.scene.select_nodes(window.model.node_ids())
    window.actions_by_name["copy"].trigger()
    target = QPoint(60, 50)
    expected = window.view.mapToScene(target)
    pointer = window.view.viewport().mapToGlobal(target)
    where = window.view.pointer_scene_pos
    # Offscreen Qt has no mouse to move: the pointer is where the test says.
    monkeypatch.setattr(window.view, "pointer_scene_pos", lambda: where(pointer))
    window.actions_by_name["paste"].trigger()
    pasted = [n for n in window.model.nodes() if n.id != "input"]
    assert len(pasted) == 1
    x, y = pasted[0].pos
    # snapped to the grid at the pointer
    assert abs(x - expected.x()) <= 20 and abs(y - expected.y()) <= 20
    # Offscreen Qt crashes at exit when the clipboard still holds data (seen on main too).
    QApplication.clipboard().clear()


# ----------------------------------------------------------------------------- block faces


def test_attrs_on_the_face_follow_the_model_and_edit_in_place(
    view: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QMenu

    from app.commands import SetAttrs

    scene = view.graph_scene
    item = scene.node_item("glimpse")
    assert item.attr_shown("centered") is True and item.attr_shown("noise") == "uniform"
    scene.undo_stack.push(SetAttrs(scene.model, "glimpse", "centered_ = false;"))
    assert item.attr_shown("centered") is False  # the face follows an edit made elsewhere
    scene.undo_stack.undo()
    assert item.attr_shown("centered") is True

    def click(name: str) -> None:
        rect = item._cells[name].rect
        pos = view.mapFromScene(item.mapToScene(rect.left() + 3, rect.center().y()))
        from PySide6.QtTest import QTest

        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier, pos)
        QApplication.processEvents()

    view.resetTransform()
    view.centerOn(item.sceneBoundingRect().center())
    click("centered")
    assert "centered_ = false" in scene.model.node("glimpse").attrs
    assert item.attr_shown("centered") is False
    assert scene.undo_stack.undoText().startswith("Set attrs")

    def pick_zero(menu: QMenu, _pos: Any) -> QAction:
        return next(a for a in menu.actions() if a.data() == "zero")

    from app.canvas import face

    monkeypatch.setattr(face, "choose_from_menu", pick_zero)
    click("noise")
    assert item.attr_shown("noise") == "zero"
    assert "noise_ = zero" in scene.model.node("glimpse").attrs
    scene.undo_stack.undo()
    assert item.attr_shown("noise") == "uniform"


def test_a_block_shows_a_thumbnail_of_an_image_output_switchable_per_block(view: Any) -> None:
    import numpy as np

    item = view.graph_scene.node_item("image")
    height = item.height
    image = np.zeros((2, 40, 60, 3), np.float32)
    image[0, :, 30:, 0] = 1.0
    item.set_outputs({"output": image})
    thumb = item.thumbnail()
    assert thumb is not None and (thumb.width(), thumb.height()) == (60, 40)
    assert thumb.pixelColor(45, 20).red() == 255 and thumb.pixelColor(5, 20).red() == 0
    assert item.height > height  # the block grew to show it
    item.set_preview_enabled(False)
    assert item.thumbnail() is None and item.height < height + 30
    item.set_preview_enabled(True)
    item.set_run_status("stale", "stale")
    assert item.thumbnail_stale  # an old result: drawn veiled
    item.set_run_status("ran", "ran 1 ms")
    assert not item.thumbnail_stale
    item.set_outputs({"output": np.zeros((1, 2, 2, 768), np.float32)})  # not an image
    assert item.thumbnail() is None


def test_thumbnail_of_a_large_output_is_small() -> None:
    import numpy as np

    from app.canvas import face

    thumb = face.thumbnail(np.arange(2000 * 1000, dtype=np.float32).reshape(1, 2000, 1000, 1))
    assert thumb is not None and max(thumb.width(), thumb.height()) <= face.THUMB_SIZE
    assert face.thumbnail(np.full((4, 4), np.nan)) is None
    assert face.thumbnail("not an array") is None


def test_run_report_feeds_the_thumbnails(view: Any) -> None:
    from graph.engine import Engine

    scene = view.graph_scene
    report = Engine().run(scene.model)
    scene.set_run_report(report)
    assert scene.node_item("image").thumbnail() is not None
    scene.set_run_report(None)
    assert scene.node_item("image").thumbnail() is None


def test_far_zoomed_out_blocks_show_a_large_title_and_no_port_rows(view: Any) -> None:
    from PySide6.QtGui import QImage, QPainter

    item = view.graph_scene.node_item("glimpse")
    view.resetTransform()
    view.scale(0.3, 0.3)
    view.centerOn(item.sceneBoundingRect().center())
    canvas = QImage(view.viewport().size(), QImage.Format.Format_ARGB32)
    painter = QPainter(canvas)
    view.render(painter)
    painter.end()
    assert item.compact_title() == "glimpse"
    view.resetTransform()
    item._compact_title = ""
    canvas.fill(0)
    painter = QPainter(canvas)
    view.render(painter)
    painter.end()
    assert item.compact_title() == ""  # at 100 % the full rows are drawn


def test_wire_labels_are_drawn_above_the_blocks(view: Any) -> None:
    scene = view.graph_scene
    wire = scene.wire_items()[0]
    assert wire.label_item.scene() is scene
    assert wire.label_item.zValue() > scene.node_item("glimpse").zValue()
    scene.model.disconnect(wire.wire.dst)
    assert wire.label_item.scene() is None  # leaves with its wire


# ----------------------------------------------------------------------------- results images


def test_batch_grid_follows_the_views_aspect_ratio() -> None:
    from app.results.image import grid_columns

    assert grid_columns(4, 48, 48, 1200, 200) == 4  # a wide panel: one row
    assert grid_columns(4, 48, 48, 200, 1200) == 1  # a tall one: one column
    assert grid_columns(4, 48, 48, 500, 500) == 2
    assert grid_columns(4, 48, 48, 0, 0) == 2  # no size yet: square-ish
    assert grid_columns(1, 48, 48, 1200, 200) == 1


def test_image_panel_regrids_when_the_view_changes_shape(qtbot: Any) -> None:
    import numpy as np

    from app.results.image import ImagePanel

    panel = ImagePanel(np.zeros((4, 32, 32, 3), np.float32))
    qtbot.addWidget(panel)
    panel.resize(1200, 300)
    panel.show()
    qtbot.waitExposed(panel)
    qtbot.waitUntil(lambda: panel.view.columns() == 4, timeout=3000)
    rendered: list[int] = []
    panel.rendered.connect(lambda: rendered.append(1))
    panel.resize(300, 1200)
    qtbot.waitUntil(lambda: panel.view.columns() == 1, timeout=3000)
    assert rendered  # overlays re-attach on the new grid
    # The images fill the view: the grid's height uses most of it.
    shown = panel.view.mapFromScene(panel.view.images_rect()).boundingRect()
    assert shown.height() > 0.8 * panel.view.viewport().height()


# ----------------------------------------------------------------------------- shortcuts


def test_shortcuts_sheet_lists_actions_and_gestures(qtbot: Any) -> None:
    from PySide6.QtGui import QAction, QKeySequence

    from app.shortcuts import ShortcutsSheet, shortcut_rows, show_shortcuts_sheet

    parent = QWidget()
    qtbot.addWidget(parent)
    save = QAction("&Save", parent)
    save.setShortcut(QKeySequence("Ctrl+S"))
    silent = QAction("&About", parent)
    rows = shortcut_rows([save, silent])
    assert ("Commands", "Save", "Ctrl+S") in rows
    assert not any(what == "About" for _, what, _ in rows)  # no shortcut, not listed
    keys = " ".join(k for _, _, k in rows)
    for gesture in ("Tab", "Mouse wheel", "Middle-drag", "Space + drag", "Esc"):
        assert gesture in keys
    sheet = show_shortcuts_sheet(parent, [save])
    assert isinstance(sheet, ShortcutsSheet)
    assert "Quick-add a block at the pointer" in sheet.text.toPlainText()
    assert show_shortcuts_sheet(parent, [save]) is sheet  # one at a time


# ----------------------------------------------------------------------------- start page


def test_start_page_lists_examples_with_thumbnails_and_hides_with_a_graph(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    from app.main_window import MainWindow
    from app.start_page import examples, install_start_page

    monkeypatch.setenv("TENSORBLOCKS_SETTINGS_DIR", str(tmp_path / "settings"))
    monkeypatch.setattr(QMessageBox, "question", lambda *_a: QMessageBox.StandardButton.Discard)
    window = MainWindow(restore_layout=False, autosave_dir=tmp_path)
    qtbot.addWidget(window)
    page = install_start_page(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    assert page.isVisible()
    assert page.examples.count() == len(examples()) >= 5
    for index in range(page.examples.count()):
        assert not page.examples.item(index).icon().isNull()  # a thumbnail of the graph
    assert len(window.examples_menu.actions()) == len(examples())
    item = next(page.examples.item(i) for i in range(page.examples.count())
                if "attention" in page.examples.item(i).text())
    page._on_activated(item)
    assert len(window.model) > 0 and not page.isVisible()
    assert window.document.path is not None and window.document.path.name.startswith("attention")
    window.files.new_graph()
    assert page.isVisible()  # back over the empty canvas, with the file now recent
    assert page.recent.count() == 1


# ----------------------------------------------------------------------------- compare


def test_compare_says_why_it_cannot_subtract_and_keeps_the_stats_start_visible(
    qtbot: Any,
) -> None:
    import numpy as np

    from app.results.views import CompareView, StatsCache, TensorView

    compare = CompareView(StatsCache())
    qtbot.addWidget(compare)
    compare.entries = {"a.out": np.zeros((4, 8, 8, 3), np.float32),
                       "b.out": np.zeros((4, 4, 4, 3), np.float32)}
    compare.first.addItems(list(compare.entries))
    compare.second.addItems(list(compare.entries))
    compare.compare("a.out", "b.out", "difference")
    text = compare.summary.text()
    assert "No difference" not in text and "Cannot subtract" in text and "shapes" in text

    view = TensorView("attention.glimpse", np.arange(4 * 48 * 48 * 3, dtype=np.float32)
                      .reshape(4, 48, 48, 3))
    qtbot.addWidget(view)
    view.resize(420, 300)
    view.show()
    qtbot.waitExposed(view)
    view.header.setText("<b>attention.glimpse</b>  " + "min 0 max 255 mean 137.361 " * 4)
    view.resize(430, 300)
    corner = view.tabs.cornerWidget()
    tab_bar = view.tabs.tabBar()
    # The corner asks only for the room beside the tabs, so the label is clipped at its
    # right end (the name and shape stay readable), never hung under the tabs on the left.
    room = view.tabs.width() - tab_bar.sizeHint().width()
    assert corner.sizeHint().width() <= max(room, corner.minimumSizeHint().width())
    assert view.header.geometry().left() >= 0


def test_far_zoomed_out_titles_shrink_or_break_before_they_elide(qtbot: Any) -> None:
    from PySide6.QtGui import QImage, QPainter, QUndoStack

    from app.canvas.scene import GraphScene
    from app.canvas.view import GraphView
    from graph.fileformat import load_graph
    from graph.session import Session

    session = Session(load_graph(ROOT / "assets" / "examples" / "glimpses.tbg.json"))
    scene = GraphScene(session, QUndoStack())
    view = GraphView(scene)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.scale(0.18, 0.18)
    view.centerOn(scene.itemsBoundingRect().center())
    canvas = QImage(view.viewport().size(), QImage.Format.Format_ARGB32)
    painter = QPainter(canvas)
    view.render(painter)
    painter.end()
    for node_id in ("scene", "centre", "red_square", "corner_zero"):
        assert scene.node_item(node_id).compact_title() == node_id  # no "re…", no "sce…"
