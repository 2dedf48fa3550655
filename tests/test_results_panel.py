"""The results panel with bare NodeResult objects (no engine): tables, images, overlays."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QGraphicsRectItem
from pytestqt.qtbot import QtBot

from app.results.data import NodeResult, exact_value, format_value
from app.results.export import load_csv
from app.results.image import VIRIDIS, ImagePanel
from app.results.overlays import GlimpseView, PatchesView
from app.results.panel import ResultsPanel
from app.results.table import TensorTable
from app.results.views import TensorView

# ----------------------------------------------------------------------------- helpers


def settle() -> None:
    for _ in range(3):
        QApplication.processEvents()


def pixel(panel: ImagePanel, batch: int, y: int, x: int) -> QColor:
    """The colour drawn at the centre of image pixel (y, x)."""
    grabbed = panel.view.viewport().grab().toImage()
    point = panel.view.view_point(batch, y + 0.5, x + 0.5)
    return grabbed.pixelColor(point)


def rgb(colour: QColor) -> tuple[int, int, int]:
    return colour.red(), colour.green(), colour.blue()


def reference_patches(images: np.ndarray, k: tuple[int, int], s: tuple[int, int],
                      r: tuple[int, int], padding: str) -> tuple[np.ndarray, tuple[int, int]]:
    """SPEC section 1, written out with loops: (patches, (pad_top, pad_left))."""
    batch, height, width, channels = images.shape
    outs, pads = [], []
    for size, kernel, stride, rate in ((height, k[0], s[0], r[0]), (width, k[1], s[1], r[1])):
        k_eff = kernel + (kernel - 1) * (rate - 1)
        if padding == "VALID":
            outs.append((size - k_eff + stride) // stride)
            pads.append(0)
        else:
            out = -(-size // stride)
            outs.append(out)
            pads.append(max(0, (out - 1) * stride + k_eff - size) // 2)
    out = np.zeros((batch, outs[0], outs[1], k[0] * k[1] * channels), images.dtype)
    for b in range(batch):
        for i in range(outs[0]):
            for j in range(outs[1]):
                for a in range(k[0]):
                    for c in range(k[1]):
                        row = i * s[0] - pads[0] + a * r[0]
                        col = j * s[1] - pads[1] + c * r[1]
                        if 0 <= row < height and 0 <= col < width:
                            depth = (a * k[1] + c) * channels
                            out[b, i, j, depth : depth + channels] = images[b, row, col]
    return out, (pads[0], pads[1])


# ----------------------------------------------------------------------------- table


def test_table_cells_follow_the_chosen_batch_and_channel(qtbot: QtBot) -> None:
    rng = np.random.default_rng(0)
    tensor = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    table = TensorTable(tensor)
    qtbot.addWidget(table)
    model = table.model
    assert (model.rowCount(), model.columnCount()) == (3, 4)  # H x W by default
    table.set_index(0, 1)
    table.set_index(3, 4)
    for row in range(3):
        for col in range(4):
            index = model.index(row, col)
            value = tensor[1, row, col, 4]
            assert index.data() == format_value(value)
            assert index.data(Qt.ItemDataRole.ToolTipRole) == f"[1,{row},{col},4] = " + repr(
                float(value))
    table.set_dims(3, 1)  # rows: channel, columns: H; W stays fixed (at 0), batch at 1
    table.set_index(2, 3)
    assert (model.rowCount(), model.columnCount()) == (5, 3)
    assert model.index(2, 1).data() == format_value(tensor[1, 1, 3, 2])
    assert model.index(2, 1).data(Qt.ItemDataRole.ToolTipRole).startswith("[1,1,3,2] = ")
    np.testing.assert_array_equal(table.current_slice(), tensor[1, :, 3, :].T)


def test_tooltip_is_exact_for_every_dtype(qtbot: QtBot) -> None:
    for tensor in (np.array([[0.1, 1 / 3]], np.float32), np.array([[2**62 + 1, -7]], np.int64),
                   np.array([[1 / 3 + 0.1j, 2]], np.complex128)):
        table = TensorTable(tensor)
        qtbot.addWidget(table)
        for col in range(2):
            tip = table.model.index(0, col).data(Qt.ItemDataRole.ToolTipRole)
            text = tip.split(" = ", 1)[1]
            assert text == exact_value(tensor[0, col])
            assert np.array(complex(text) if tensor.dtype.kind == "c" else
                            (int(text) if tensor.dtype.kind == "i" else float(text)),
                            tensor.dtype) == tensor[0, col]


def test_a_twenty_million_element_tensor_is_shown_lazily(qtbot: QtBot) -> None:
    tensor = np.arange(20_000_000, dtype=np.float32).reshape(1, 4000, 5000, 1)
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_results({"big": NodeResult("big", "Input", outputs={"output": tensor})})
    panel.show_node("big")
    panel.show()
    settle()
    view = panel.tensor_view("big.output")
    assert view is not None
    table = view.table()
    page = table.parentWidget()
    assert page is not None
    view.tabs.setCurrentIndex(view.tabs.indexOf(page))
    settle()
    model = table.model
    assert (model.rowCount(), model.columnCount()) == (4000, 5000)
    assert model.current_slice().base is not None  # a view of the tensor, not a copy
    corner = model.index(3999, 4999)
    table.view.scrollTo(corner)
    settle()
    assert corner.data() == format_value(tensor[0, 3999, 4999, 0]) == "2e+07"


# ----------------------------------------------------------------------------- image


def test_image_pixels_have_the_expected_colour(qtbot: QtBot) -> None:
    grey = np.array([[0.0, 0.25], [0.5, 1.0]], np.float32).reshape(1, 2, 2, 1)
    panel = ImagePanel(grey)
    qtbot.addWidget(panel)
    panel.resize(400, 400)
    panel.show()
    panel.colour_map.setCurrentText("grey")
    panel.set_fixed_range(0.0, 1.0)
    panel.view.set_zoom(40)
    settle()
    for (y, x), level in {(0, 0): 0, (0, 1): 64, (1, 0): 128, (1, 1): 255}.items():
        assert rgb(pixel(panel, 0, y, x)) == (level, level, level)
    panel.colour_map.setCurrentText("viridis")
    settle()
    assert rgb(pixel(panel, 0, 1, 1)) == tuple(VIRIDIS[255])
    assert rgb(pixel(panel, 0, 0, 0)) == tuple(VIRIDIS[0])


def test_rgb_images_and_a_batch_grid(qtbot: QtBot) -> None:
    images = np.zeros((2, 3, 3, 3), np.float32)
    images[0, 1, 2] = (1.0, 0.0, 0.0)
    images[1, 0, 0] = (0.0, 0.0, 1.0)
    images[1, 2, 2] = (1.0, 1.0, 1.0)
    panel = ImagePanel(images)
    qtbot.addWidget(panel)
    panel.resize(500, 400)
    panel.show()
    panel.view.set_zoom(30)
    settle()
    assert panel.mode.currentData() == "rgb"
    assert rgb(pixel(panel, 0, 1, 2)) == (255, 0, 0)
    assert rgb(pixel(panel, 0, 0, 0)) == (0, 0, 0)
    assert rgb(pixel(panel, 1, 0, 0)) == (0, 0, 255)
    assert panel.view.origin(1).x() > panel.view.origin(0).x() + 3  # side by side, with a gap
    panel.set_channel(2)  # one channel through the colour map
    panel.colour_map.setCurrentText("grey")
    settle()
    assert rgb(pixel(panel, 1, 0, 0)) == (255, 255, 255)


def test_hover_shows_the_value_per_channel(qtbot: QtBot) -> None:
    images = np.arange(2 * 3 * 4 * 2, dtype=np.float32).reshape(2, 3, 4, 2)
    panel = ImagePanel(images)
    qtbot.addWidget(panel)
    panel.resize(500, 400)
    panel.show()
    panel.view.set_zoom(20)
    settle()
    point = panel.view.view_point(1, 2.5, 3.5)
    qtbot.mouseMove(panel.view.viewport(), point)
    settle()
    assert panel.status.text() == f"b 1  y 2  x 3  = {images[1, 2, 3, 0]:g}, {images[1, 2, 3, 1]:g}"


def test_zoom_keeps_pixels_square_and_nearest(qtbot: QtBot) -> None:
    image = np.array([[0.0, 1.0]], np.float32).reshape(1, 1, 2, 1)
    panel = ImagePanel(image)
    qtbot.addWidget(panel)
    panel.resize(400, 300)
    panel.show()
    panel.colour_map.setCurrentText("grey")
    panel.view.set_zoom(50)
    settle()
    # Just left and right of the boundary between the two pixels: no blending.
    grabbed = panel.view.viewport().grab().toImage()
    left = panel.view.view_point(0, 0.5, 0.96)
    right = panel.view.view_point(0, 0.5, 1.04)
    assert rgb(grabbed.pixelColor(left)) == (0, 0, 0)
    assert rgb(grabbed.pixelColor(right)) == (255, 255, 255)


# ----------------------------------------------------------------------------- glimpses


def _f32(value: float) -> np.float32:
    return np.float32(value)


def _spec_window(version: int, centered: bool, normalized: bool, offset: tuple[float, float],
                 image_hw: tuple[int, int], size: tuple[int, int]) -> tuple[int, int]:
    """SPEC section 2's table, in float32 one operation at a time, then truncation."""
    out = []
    for offset_value, big, small in zip(offset, image_hw, size, strict=True):
        o, big_f, small_f, two = _f32(offset_value), _f32(big), _f32(small), _f32(2)
        y: np.float32
        if centered and normalized:
            y = o * big_f / two + big_f / two - small_f / two
        elif normalized:
            y = o * big_f - small_f / two if version == 1 else o * big_f
        elif centered:
            y = (o / two + big_f / two - small_f / two) if version == 1 else o + big_f / two
        else:
            y = o - small_f / two if version == 1 else o
        out.append(math.trunc(float(y)))
    return out[0], out[1]


@pytest.mark.parametrize(
    ("block", "centered", "normalized", "offsets"),
    [
        ("ExtractGlimpse", False, True, [[0.5, 0.5], [0.05, 0.9], [0.7, 0.1]]),
        ("ExtractGlimpse", True, False, [[-3.0, 5.0], [7.0, -9.0], [0.0, 0.0]]),
        ("ExtractGlimpseV2", False, False, [[-2.5, 3.7], [10.0, 0.0], [1.0, 15.0]]),
        ("ExtractGlimpseV2", True, True, [[-0.9, 0.8], [0.0, 0.0], [0.3, -0.6]]),
    ],
)
def test_glimpse_windows_sit_where_the_spec_puts_them(
    qtbot: QtBot, block: str, centered: bool, normalized: bool, offsets: list[list[float]]
) -> None:
    images = np.random.default_rng(1).random((3, 16, 20, 1)).astype(np.float32)
    size = np.array([6, 8], np.int32)
    offsets_array = np.array(offsets, np.float32)
    glimpse = np.zeros((3, 6, 8, 1), np.float32)  # the view does not read the values
    result = NodeResult("g", block, {"input": images, "size": size, "offsets": offsets_array},
                        {"centered": centered, "normalized": normalized,
                         "uniform_noise": True, "noise": "uniform"}, {"glimpse": glimpse})
    view = GlimpseView(result, glimpse)
    qtbot.addWidget(view)
    version = 2 if block.endswith("V2") else 1
    expected = {}
    for b in range(3):
        top, left = _spec_window(version, centered, normalized, (offsets[b][0], offsets[b][1]),
                                 (16, 20), (6, 8))
        expected[b] = QRectF(left, top, 8, 6)
    assert view.window_rects() == expected
    panel = view.input_panel
    assert panel is not None
    drawn = {}
    for item in panel.view.scene().items():
        if isinstance(item, QGraphicsRectItem) and item.data(0) is not None:
            batch = item.data(0)
            origin = panel.view.origin(batch)
            drawn[batch] = item.rect().translated(-origin.x(), -origin.y())
    assert drawn == expected


def test_glimpse_overhang_is_hatched_and_all_fill_windows_are_listed(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QGraphicsPathItem

    images = np.ones((2, 10, 10, 1), np.float32)
    size = np.array([4, 4], np.int32)
    offsets = np.array([[-2.0, 8.0], [np.nan, 0.0]], np.float32)  # V2, uncentred pixels
    glimpse = np.zeros((2, 4, 4, 1), np.float32)
    result = NodeResult("g", "ExtractGlimpseV2", {"input": images, "size": size,
                                                   "offsets": offsets},
                        {"centered": False, "normalized": False, "uniform_noise": False,
                         "noise": "zero"}, {"glimpse": glimpse})
    view = GlimpseView(result, glimpse)
    qtbot.addWidget(view)
    assert view.window_rects() == {0: QRectF(8, -2, 4, 4)}
    assert "batch 1" in view.caption.text() and "zeros" in view.caption.text()
    assert view.input_panel is not None
    hatches = [i for i in view.input_panel.view.scene().items() if isinstance(i, QGraphicsPathItem)]
    assert len(hatches) == 1
    origin = view.input_panel.view.origin(0)
    area = hatches[0].path().translated(-origin.x(), -origin.y())
    assert area.contains(QPointF(9.0, -1.0))  # above the image: fill
    assert area.contains(QPointF(10.5, 1.0))  # right of the image: fill
    assert not area.contains(QPointF(9.0, 1.0))  # inside the image


# ----------------------------------------------------------------------------- patches


def _patches_result(rates: tuple[int, int] = (2, 3)) -> tuple[NodeResult, np.ndarray,
                                                              tuple[int, int]]:
    images = np.arange(1 * 9 * 10 * 2, dtype=np.float32).reshape(1, 9, 10, 2) + 1
    patches, pads = reference_patches(images, (3, 2), (2, 3), rates, "SAME")
    result = NodeResult("p", "ExtractImagePatches",
                        {"images": images, "ksizes": (1, 3, 2, 1), "strides": (1, 2, 3, 1),
                         "rates": (1, *rates, 1), "padding": "SAME"}, {}, {"patches": patches})
    return result, patches, pads


def test_receptive_field_outline_matches_the_dilated_taps(qtbot: QtBot) -> None:
    result, patches, (pad_top, pad_left) = _patches_result()
    view = PatchesView(result, patches)
    qtbot.addWidget(view)
    for row, col in ((0, 0), (2, 1), (4, 3)):
        view.show_location(0, row, col)
        expected = []
        for a in range(3):
            for c in range(2):
                tap_row, tap_col = row * 2 - pad_top + a * 2, col * 3 - pad_left + c * 3
                expected.append((tap_row, tap_col, 0 <= tap_row < 9 and 0 <= tap_col < 10))
        assert view.tap_rects() == expected
        assert view.input_panel is not None
        scene_items = [i for i in view.input_panel.view.scene().items()
                       if isinstance(i, QGraphicsRectItem)]
        taps = sorted(i.data(0) for i in scene_items if i.data(0) is not None)
        assert taps == sorted(expected)
        dashed = {i.data(0) for i in scene_items
                  if i.data(0) is not None and i.pen().style() == Qt.PenStyle.DashLine}
        assert dashed == {t for t in expected if not t[2]}
        extent = [i for i in scene_items if i.data(0) is None]
        assert len(extent) == 1
        origin = view.input_panel.view.origin(0)
        rows = [t[0] for t in expected]
        cols = [t[1] for t in expected]
        assert extent[0].rect().translated(-origin.x(), -origin.y()) == QRectF(
            min(cols), min(rows), max(cols) - min(cols) + 1, max(rows) - min(rows) + 1)
    view.show_location(0, 0, 0)  # the top-left location reads the zero padding
    assert [t for t in view.tap_rects() if not t[2]]
    assert [t for t in view.tap_rects() if t[2]]


def test_patch_tiles_unfold_the_depth_dim(qtbot: QtBot) -> None:
    result, patches, (pad_top, pad_left) = _patches_result(rates=(1, 1))
    images = result.inputs["images"]
    view = PatchesView(result, patches)
    qtbot.addWidget(view)
    tile = view.tile(0, 2, 2)
    assert tile.shape == (3, 2, 2)
    for a in range(3):
        for c in range(2):
            np.testing.assert_array_equal(tile[a, c],
                                          images[0, 4 - pad_top + a, 6 - pad_left + c])
    view.set_location(0, 2, 2)
    assert view.tile_panel is not None
    np.testing.assert_array_equal(view.tile_panel.tensor[0], tile)
    view.set_mode("all")
    mosaic_panel = view.tile_panel
    assert mosaic_panel is not None and mosaic_panel.gaps is not None
    mosaic = mosaic_panel.tensor[0]
    out_h, out_w = patches.shape[1:3]
    assert mosaic.shape == (out_h * 4 - 1, out_w * 3 - 1, 2)
    # Location (2, 2)'s tile starts at mosaic (2*(3+1), 2*(2+1)); gaps after each tile.
    np.testing.assert_array_equal(mosaic[8:11, 6:8], tile)
    assert mosaic_panel.gaps[11, 0] and mosaic_panel.gaps[0, 2] and not mosaic_panel.gaps[8, 6]
    # Hovering a tile of the mosaic outlines that location's receptive field.
    view._on_mosaic_hover(0, 8 + 1, 3 + 1)
    assert view.tap_rects()[0][:2] == (2 * 2 - pad_top, 1 * 3 - pad_left)


# ----------------------------------------------------------------------------- panel


def _two_results() -> dict[str, NodeResult]:
    a = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    b = a * 0.5
    b[0, 1, 2, 3] = -10
    return {"a": NodeResult("a", "Input", outputs={"output": a}),
            "b": NodeResult("b", "Input", outputs={"output": b})}


def test_show_pin_and_unpin_nodes(qtbot: QtBot) -> None:
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    results = _two_results()
    panel.set_results(results)
    panel.show_node("a")
    titles = [panel.tabs.tabText(i) for i in range(panel.tabs.count())]
    assert titles == ["a", "Compare"]
    panel.pin_node("a")
    panel.show_node("b")
    titles = [panel.tabs.tabText(i) for i in range(panel.tabs.count())]
    assert titles == ["b", "a (pinned)", "Compare"]
    assert panel.tabs.tabText(panel.tabs.currentIndex()) == "b"
    view = panel.tensor_view("b.output")
    assert view is not None and view.tensor is results["b"].outputs["output"]
    assert "[1,2,3,4] float32" in view.compute_stats().summary()
    panel.unpin_node("a")
    assert [panel.tabs.tabText(i) for i in range(panel.tabs.count())] == ["b", "Compare"]
    panel.show_node(None)
    assert panel.tabs.count() == 1
    panel.set_report(None)
    assert panel.results() == {} and not panel.placeholder.isHidden()


def test_a_failed_node_shows_its_error(qtbot: QtBot) -> None:
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_results({"x": NodeResult("x", "ExtractImagePatches", status="failed",
                                       error="ksizes is out of range.")})
    panel.show_node("x")
    view = panel.node_view("x")
    assert view is not None and "ksizes is out of range." in view.info.text()


def test_comparison_side_by_side_and_difference(qtbot: QtBot) -> None:
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    results = _two_results()
    panel.set_results(results)
    compare = panel.compare
    compare.compare("a.output", "b.output", "side")
    assert [v.address for v in compare.views] == ["a.output", "b.output"]
    compare.compare("a.output", "b.output", "difference")
    a, b = results["a"].outputs["output"], results["b"].outputs["output"]
    assert compare.diff is not None
    np.testing.assert_array_equal(compare.diff, a.astype(np.float64) - b.astype(np.float64))
    assert compare.max_abs_difference == 33.0  # 23 - (-10)
    assert "33" in compare.summary.text()
    compare.entries["c.output"] = np.zeros(3)
    compare.first.addItem("c.output")
    compare.compare("c.output", "b.output", "difference")
    assert compare.diff is None and "shapes differ" in compare.summary.text()


def test_export_from_the_panel(qtbot: QtBot, tmp_path: Path) -> None:
    tensor = np.random.default_rng(2).standard_normal((2, 3, 4, 2)).astype(np.float32)
    tensor[1, 2, 3, 1] = np.nan
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_results({"n": NodeResult("n", "Input", outputs={"output": tensor})})
    panel.show_node("n")
    view = panel.tensor_view("n.output")
    assert view is not None
    view.export_npy(str(tmp_path / "t.npy"))
    assert np.load(tmp_path / "t.npy", allow_pickle=False).tobytes() == tensor.tobytes()
    view.table().set_index(0, 1)
    view.table().set_index(3, 1)
    view.export_csv(str(tmp_path / "t.csv"))
    loaded = load_csv(str(tmp_path / "t.csv"), np.float32)
    assert loaded.tobytes() == np.ascontiguousarray(tensor[1, :, :, 1]).tobytes()
    image = view.image()
    image.set_channel(0)
    image.colour_map.setCurrentText("grey")
    image.set_fixed_range(-1.0, 1.0)
    view.export_png(str(tmp_path / "t.png"))
    png = QImage(str(tmp_path / "t.png"))
    assert not png.isNull()
    origin = image.view.origin(1)
    rect = image.view.images_rect()
    value = float(tensor[1, 2, 3, 0])
    level = int(np.clip((value + 1) * 127.5, 0, 255) + 0.5)
    colour = png.pixelColor(QPoint(int(origin.x() - rect.x()) + 3, int(origin.y() - rect.y()) + 2))
    assert rgb(colour) == (level, level, level)


def test_a_rerun_with_the_same_tensors_keeps_the_view(qtbot: QtBot) -> None:
    from types import SimpleNamespace

    array = np.ones((1, 2, 2, 1), np.float32)

    def report(output: np.ndarray) -> SimpleNamespace:
        node = SimpleNamespace(node="a", block="Input", status="cached", seconds=0.0,
                               error=None, inputs={"initvalues": "1"}, attrs={},
                               outputs={"output": output})
        return SimpleNamespace(nodes={"a": node})

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_report(report(array))
    panel.show_node("a")
    first = panel.node_view("a")
    assert first is not None
    panel.set_report(report(array))  # the engine's cache hands back the same array
    assert panel.node_view("a") is first
    panel.set_report(report(array.copy()))  # new values: a new view
    again = panel.node_view("a")
    assert again is not None and again is not first


@pytest.mark.parametrize(
    ("tensor", "rows", "cols"),
    [
        (np.zeros((1, 0, 0, 18), np.float32), 0, 0),  # VALID patches larger than the image
        (np.zeros((0, 5, 5, 3), np.float32), 0, 0),  # empty batch
        (np.array(2.5), 1, 1),  # a scalar
        (np.arange(7, dtype=np.int16), 7, 1),  # a vector: one column
        (np.array([[True, False]]), 1, 2),
    ],
)
def test_tables_of_every_rank_and_empty_tensors(qtbot: QtBot, tensor: np.ndarray, rows: int,
                                                cols: int) -> None:
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_results({"n": NodeResult("n", "Input", outputs={"output": tensor})})
    panel.show_node("n")
    view = panel.tensor_view("n.output")
    assert view is not None
    stats = view.compute_stats()
    assert stats.empty == (tensor.size == 0)
    assert ("empty" in view.header.text()) == (tensor.size == 0)
    model = view.table().model
    assert (model.rowCount(), model.columnCount()) == (rows, cols)
    if rows and cols:
        assert model.index(rows - 1, cols - 1).data() == format_value(
            tensor.reshape(rows, cols)[rows - 1, cols - 1])


def test_bfloat16_tensors_show_and_export_exactly(qtbot: QtBot, tmp_path: Path) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    tensor = np.array([0.1, -3.0, 1e30, np.nan], np.float32).astype(ml_dtypes.bfloat16)
    tensor = tensor.reshape(1, 2, 2, 1)
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_results({"n": NodeResult("n", "Input", outputs={"output": tensor})})
    panel.show_node("n")
    view = panel.tensor_view("n.output")
    assert view is not None
    stats = view.compute_stats()
    assert (stats.dtype, stats.nan, stats.max) == ("bfloat16", 1, float(tensor[0, 1, 0, 0]))
    tip = view.table().model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert float(tip.split(" = ")[1]) == float(tensor[0, 0, 0, 0])
    view.export_csv(str(tmp_path / "b.csv"))
    loaded = load_csv(str(tmp_path / "b.csv"), tensor.dtype)
    assert loaded.tobytes() == np.ascontiguousarray(tensor[0, :, :, 0]).tobytes()
    view.image().render_images()  # draws (NaN in magenta) without error


def test_a_tiny_fixed_range_is_kept_exactly(qtbot: QtBot) -> None:
    image = np.array([[0.0, 0.25e-9, 1e-9]]).reshape(1, 1, 3, 1)
    panel = ImagePanel(image)
    qtbot.addWidget(panel)
    panel.resize(400, 300)
    panel.show()
    panel.colour_map.setCurrentText("grey")
    panel.set_fixed_range(0.0, 1e-9)
    panel.view.set_zoom(40)
    settle()
    assert panel.range == (0.0, 1e-9)
    assert [rgb(pixel(panel, 0, 0, x))[0] for x in range(3)] == [0, 64, 255]
    assert panel.high.decimals() >= 12


def test_the_difference_image_is_symmetric_around_zero(qtbot: QtBot) -> None:
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_results(_two_results())
    panel.compare.compare("a.output", "b.output", "difference")
    view = panel.compare.views[0]
    image = view.image()
    assert image.range == (-33.0, 33.0)
    assert image.colour_map.currentText() == "diverging"


def test_statistics_of_a_large_tensor_come_from_a_worker_thread(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import app.results.views as views
    from app.results.data import tensor_stats

    monkeypatch.setattr(views, "SYNC_STATS_LIMIT", 10)
    tensor = np.arange(100, dtype=np.float32).reshape(1, 10, 10, 1)
    computed_on: list[str] = []
    real = views.tensor_stats

    def spy(array: np.ndarray) -> object:
        computed_on.append(threading.current_thread().name)
        return real(array)

    monkeypatch.setattr(views, "tensor_stats", spy)
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_results({"n": NodeResult("n", "Input", outputs={"output": tensor})})
    panel.show_node("n")
    view = panel.tensor_view("n.output")
    assert view is not None
    assert "statistics…" in view.header.text()  # shown before the numbers are known
    qtbot.waitUntil(lambda: "mean" in view.header.text(), timeout=5000)
    assert computed_on == ["tensorblocks-stats"]
    assert panel.stats.peek(tensor) == tensor_stats(tensor)
    assert tensor_stats(tensor).summary() in view.header.text()


def test_a_large_mosaic_shows_the_block_around_the_location(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.results.overlays as overlays

    monkeypatch.setattr(overlays, "MOSAIC_BUDGET", 6 * 4 * 4)  # 4 x 4 locations of 3x2x1
    result, patches, _ = _patches_result(rates=(1, 1))
    patches = patches[..., ::2].copy()  # one channel: depth 6
    result.inputs["images"] = result.inputs["images"][..., :1]
    view = PatchesView(result, patches)
    qtbot.addWidget(view)
    view.set_location(0, 4, 3)
    view.set_mode("all")
    assert view.tile_panel is not None
    out_h, out_w = patches.shape[1:3]
    assert (out_h, out_w) == (5, 4)
    # Rows 1..4 (centred on 4, clamped to the end), columns 0..3 (the whole width).
    assert view.tile_panel.tensor.shape == (1, 4 * 4 - 1, 4 * 3 - 1, 1)
    np.testing.assert_array_equal(view.tile_panel.tensor[0, 0:3, 0:2],
                                  view.tile(0, 1, 0))
    assert view._mosaic_location(0, 0) == (1, 0)


def test_wheel_zooms_around_the_cursor_and_a_click_picks_a_pixel(qtbot: QtBot) -> None:
    from PySide6.QtCore import QPoint as Point
    from PySide6.QtGui import QWheelEvent

    image = np.zeros((1, 200, 300, 1), np.float32)  # larger than the view: it can scroll
    panel = ImagePanel(image)
    qtbot.addWidget(panel)
    panel.resize(500, 400)
    panel.show()
    panel.view.set_zoom(8)
    panel.view.centerOn(panel.view.origin(0) + QPointF(15, 10))
    settle()
    viewport = panel.view.viewport()
    cursor = panel.view.view_point(0, 7.5, 11.5)
    before = panel.view.mapToScene(cursor)
    wheel = QWheelEvent(QPointF(cursor), QPointF(viewport.mapToGlobal(cursor)), Point(0, 0),
                        Point(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, wheel)
    settle()
    assert panel.view.zoom() == pytest.approx(10.0)
    after = panel.view.mapToScene(cursor)
    assert abs(after.x() - before.x()) < 0.2 and abs(after.y() - before.y()) < 0.2
    picked: list[tuple[int, int, int]] = []
    panel.view.clicked.connect(lambda b, y, x: picked.append((b, y, x)))
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=panel.view.view_point(0, 4.5, 9.5))
    assert picked == [(0, 4, 9)]


def test_op_views_without_their_inputs_explain_instead_of_failing(qtbot: QtBot) -> None:
    glimpse = np.zeros((1, 2, 2, 1), np.float32)
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_results({
        "g": NodeResult("g", "ExtractGlimpse", {"input": np.zeros((1, 4, 4, 1), np.float32)},
                        {}, {"glimpse": glimpse}),
        "p": NodeResult("p", "ExtractImagePatches", {}, {}, {"patches": glimpse}),
    })
    panel.show_node("g")
    view = panel.tensor_view("g.glimpse")
    assert view is not None
    page = view.page("Glimpses")
    assert isinstance(page, GlimpseView) and "unavailable" in page.caption.text()
    assert page.window_rects() == {}
    panel.show_node("p")
    view = panel.tensor_view("p.patches")
    assert view is not None
    patches_page = view.page("Patches")
    assert isinstance(patches_page, PatchesView) and "not known" in patches_page.caption.text()


def test_uint8_images_use_their_own_scale(qtbot: QtBot) -> None:
    image = np.array([[100, 200]], np.uint8).reshape(1, 1, 2, 1)
    panel = ImagePanel(image)
    qtbot.addWidget(panel)
    panel.resize(300, 200)
    panel.show()
    panel.view.set_zoom(40)
    settle()
    assert panel.range == (0.0, 255.0)
    assert [rgb(pixel(panel, 0, 0, x)) for x in range(2)] == [(100,) * 3, (200,) * 3]


def test_image_view_fits_until_the_user_zooms_or_pans(qtbot: QtBot) -> None:
    panel = ImagePanel(np.ones((1, 40, 80, 1), np.float32))
    qtbot.addWidget(panel)
    panel.resize(500, 400)
    panel.show()
    settle()
    view = panel.view
    viewport = view.viewport().rect()
    shown = view.mapFromScene(view.images_rect()).boundingRect()
    # Fitted: the 80-pixel-wide image spans (nearly) the viewport's width, far above 1:1.
    assert view.auto_fit and view.zoom() > 4
    assert shown.width() >= viewport.width() * 0.8  # (a margin: gap and fitInView)
    panel.resize(300, 400)
    settle()
    assert view.mapFromScene(view.images_rect()).boundingRect().width() <= \
        view.viewport().width() + 1  # refitted to the smaller view
    fitted = view.zoom()
    # A drag (pan) keeps the user's view: a resize no longer refits.
    centre = view.viewport().rect().center()
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseMove(view.viewport(), centre + QPoint(30, 10))
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=centre + QPoint(30, 10))
    assert not view.auto_fit
    panel.resize(600, 500)
    settle()
    assert view.zoom() == pytest.approx(fitted)
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    settle()
    assert view.auto_fit and view.zoom() > fitted  # fitted again, to the larger view


def test_domain_pages_come_from_the_block_declaration(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from blocks.library import REGISTRY

    images = np.ones((1, 8, 8, 1), np.float32)
    glimpse = np.ones((1, 2, 2, 1), np.float32)
    inputs = {"input": images, "size": np.array([2, 2], np.int32),
              "offsets": np.zeros((1, 2), np.float32)}
    result = NodeResult("g", "ExtractGlimpseV2", inputs, {}, {"glimpse": glimpse})
    view = TensorView("g.glimpse", glimpse, result=result)
    qtbot.addWidget(view)
    titles = [view.tabs.tabText(i) for i in range(view.tabs.count())]
    assert titles == ["Glimpses", "Image", "Table"]
    # A declaration renamed (or removed) changes the panel with no edit to the panel.
    spec = REGISTRY["ExtractGlimpseV2"]
    renamed = dataclasses.replace(spec.result_views[0], title="Windows")
    monkeypatch.setitem(REGISTRY._specs, spec.name,
                        dataclasses.replace(spec, result_views=(renamed,)))
    view = TensorView("g.glimpse", glimpse, result=result)
    qtbot.addWidget(view)
    assert view.tabs.tabText(0) == "Windows" and isinstance(view.page("Windows"), GlimpseView)
    monkeypatch.setitem(REGISTRY._specs, spec.name, dataclasses.replace(spec, result_views=()))
    view = TensorView("g.glimpse", glimpse, result=result)
    qtbot.addWidget(view)
    assert [view.tabs.tabText(i) for i in range(view.tabs.count())] == ["Image", "Table"]
