"""Views that explain an op's geometry: windows over an image, patch receptive fields.

Both draw what a block declares on its BlockSpec (:class:`blocks.spec.ResultView`); they
never name a block nor reach into a kernel: the declaration's rule computes the geometry
with the kernel module's public functions.

Contract:

* :class:`GlimpseView` (a WINDOWS declaration, e.g. ExtractGlimpse) draws each batch item's
  window over the declared source image — a rectangle in image pixel units at
  ``(left, top)`` of size ``(w, h)``, labelled with the batch index — with the part hanging
  outside the image (filled with noise or zero) hatched; beside it, the output itself.
  ``window_rects()`` gives ``{batch: QRectF}`` in image pixels (``None`` windows: the whole
  window is fill, listed in the caption).
* :class:`PatchesView` (a PATCHES declaration, e.g. ExtractImagePatches) unfolds the depth
  dim into ``kh x kw x C`` tiles (``C = depth / (kh*kw)``): one output location's tile, or a
  mosaic of all locations of one image with thin gaps (for a very large output, the block
  of locations around the chosen one that fits :data:`MOSAIC_BUDGET` values). The chosen or
  hovered location's receptive field is outlined on the source image: each tap a small
  square (dashed where it falls in the padding) and the overall dilated extent.
  ``tap_rects()`` gives ``[(row, col, inside)]`` of the taps drawn.
* Either view explains in its caption when the declaration's rule cannot compute the
  geometry (missing or bad inputs) instead of failing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainterPath, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsTextItem,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.results.data import NodeResult
from app.results.image import ImagePanel
from blocks.library import REGISTRY
from blocks.spec import PatchGrid, ResultView, ResultViewKind

#: Distinct outline colours, one per batch item (cycled).
PALETTE = ("#ff5252", "#40c4ff", "#ffd740", "#69f0ae", "#e040fb", "#ff9100", "#b2ff59",
           "#18ffff")


def _pen(colour: str | QColor, width: float = 2.0, style: Qt.PenStyle = Qt.PenStyle.SolidLine
         ) -> QPen:
    pen = QPen(QColor(colour))
    pen.setCosmetic(True)  # constant screen width at every zoom
    pen.setWidthF(width)
    pen.setStyle(style)
    return pen


def _label(text: str, colour: str) -> QGraphicsTextItem:
    """A small label on a dark backing, the same size at every zoom."""
    item = QGraphicsTextItem()
    item.setHtml(f"<span style='background-color:rgba(0,0,0,170); color:{colour};"
                 f" font-weight:bold'>&nbsp;{text}&nbsp;</span>")
    font = QFont()
    font.setPointSize(8)
    item.setFont(font)
    item.document().setDocumentMargin(0)
    item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
    item.setZValue(4)
    return item


def _as_4d(value: Any) -> np.ndarray | None:
    array = np.asarray(value) if isinstance(value, np.ndarray) else None
    return array if array is not None and array.ndim == 4 else None


def declared_view(result: NodeResult, kind: ResultViewKind) -> ResultView | None:
    """The first view of ``kind`` that ``result``'s block declares, if any."""
    spec = REGISTRY.get(result.block)
    if spec is None:
        return None
    return next((view for view in spec.result_views if view.kind is kind), None)


class GlimpseView(QWidget):
    """Windows over the source images, and the output cut from them."""

    def __init__(self, result: NodeResult, glimpse: np.ndarray,
                 parent: QWidget | None = None, *, declaration: ResultView | None = None
                 ) -> None:
        super().__init__(parent)
        self.result = result
        self.declaration = declaration or declared_view(result, ResultViewKind.WINDOWS)
        self.caption = QLabel(self)
        self.caption.setTextFormat(Qt.TextFormat.PlainText)  # data, not markup
        self.caption.setWordWrap(True)
        self._items: list[Any] = []
        self._rects: dict[int, QRectF] = {}
        self.windows: list[tuple[int, int] | None] = []
        self._size = (0, 0)
        self.input_panel: ImagePanel | None = None
        source = self.declaration.source if self.declaration is not None else ""
        image = _as_4d(result.inputs.get(source))
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        if image is not None:
            self.input_panel = ImagePanel(image, splitter, title=f"{source}: hover for values")
            splitter.addWidget(self.input_panel)
        title = self.declaration.output if self.declaration is not None else "output"
        self.glimpse_panel = ImagePanel(glimpse, splitter, title=f"{title}s")
        splitter.addWidget(self.glimpse_panel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(splitter, 1)
        self._compute_windows(image)
        if self.input_panel is not None:
            # One value range for both, so a glimpse looks like the part of the image it
            # came from (min-max of each alone would stretch them differently).
            low = min(self.input_panel.range[0], self.glimpse_panel.range[0])
            high = max(self.input_panel.range[1], self.glimpse_panel.range[1])
            self.input_panel.set_fixed_range(low, high)
            self.glimpse_panel.set_fixed_range(low, high)
            self.input_panel.rendered.connect(self.draw_windows)
            self.draw_windows()

    def _compute_windows(self, image: np.ndarray | None) -> None:
        rule = None if self.declaration is None else self.declaration.windows
        if rule is None or self.declaration is None:
            self.caption.setText(f"Windows unavailable: {self.result.block} declares none.")
            return
        if image is None:
            self.caption.setText(f"Windows: the {self.declaration.source} image is not "
                                 "available.")
            return
        try:
            windows = rule(tuple(image.shape), self.result.inputs, self.result.attrs)
        except Exception as error:  # a bad input value: explain instead of failing the panel
            reason = getattr(error, "reason", str(error))
            self.caption.setText(f"{self.declaration.title} unavailable: {reason}")
            return
        self.windows, self._size = list(windows.origins), windows.size
        fill_only = [str(b) for b, w in enumerate(self.windows) if w is None]
        text = f"{self.declaration.title}: {windows.caption}"
        if fill_only:
            text += f" All fill (no image pixel): batch {', '.join(fill_only)}."
        self.caption.setText(text)

    def window_rects(self) -> dict[int, QRectF]:
        """``{batch: window rectangle in image pixels}`` as drawn."""
        return dict(self._rects)

    def draw_windows(self) -> None:
        """(Re)draw the windows of the batch images shown."""
        panel = self.input_panel
        if panel is None:
            return
        scene = panel.view.scene()
        for item in self._items:
            scene.removeItem(item)
        self._items, self._rects = [], {}
        if not self.windows:
            return
        height, width = self._size
        _, image_h, image_w, _ = panel.tensor.shape
        for batch in panel.shown_batches():
            if batch >= len(self.windows):
                break
            window = self.windows[batch]
            if window is None:
                continue
            top, left = window
            colour = PALETTE[batch % len(PALETTE)]
            origin = panel.view.origin(batch)
            rect = QRectF(float(left), float(top), float(width), float(height))
            self._rects[batch] = rect
            outside = QPainterPath()
            outside.addRect(rect)
            inside = QPainterPath()
            inside.addRect(QRectF(0, 0, image_w, image_h))
            hatched = outside.subtracted(inside)
            if not hatched.isEmpty():
                hatch = QGraphicsPathItem(hatched.translated(origin))
                hatch.setBrush(QBrush(QColor(colour), Qt.BrushStyle.BDiagPattern))
                hatch.setPen(QPen(Qt.PenStyle.NoPen))
                hatch.setZValue(2)
                scene.addItem(hatch)
                self._items.append(hatch)
            outline = QGraphicsRectItem(rect.translated(origin))
            outline.setPen(_pen(colour))
            outline.setZValue(3)
            outline.setData(0, batch)
            scene.addItem(outline)
            self._items.append(outline)
            label = _label(f"b{batch}", colour)
            label.setPos(origin + QPointF(left, top) + QPointF(0.5, 0.5))
            scene.addItem(label)
            self._items.append(label)


def unfold_tile(depth_vector: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """A patch's depth vector as ``[kh, kw, C]`` (depth order: row, column, channel)."""
    return depth_vector.reshape(kh, kw, -1)


def mosaic(patches: np.ndarray, kh: int, kw: int, gap: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``[R, Cc, depth]`` patches of a block of locations -> (``[R*(kh+gap)-gap, ..., C]``
    mosaic in the patches' dtype, bool gap mask)."""
    rows, cols, depth = patches.shape
    channels = depth // (kh * kw)
    tiles = patches.reshape(rows, cols, kh, kw, channels)
    padded = np.zeros((rows, cols, kh + gap, kw + gap, channels), dtype=patches.dtype)
    padded[:, :, :kh, :kw] = tiles
    gaps = np.ones((rows, cols, kh + gap, kw + gap), dtype=bool)
    gaps[:, :, :kh, :kw] = False
    height, width = rows * (kh + gap), cols * (kw + gap)
    image = padded.transpose(0, 2, 1, 3, 4).reshape(height, width, channels)
    mask = gaps.transpose(0, 2, 1, 3).reshape(height, width)
    return image[: height - gap, : width - gap], mask[: height - gap, : width - gap]


#: Most tensor values in the all-locations mosaic; beyond it, a block of locations around
#: the chosen one is shown (pick another location to move the block).
MOSAIC_BUDGET = 2_000_000


def mosaic_side(kh: int, kw: int, channels: int) -> int:
    """Locations per side of the mosaic block that fits :data:`MOSAIC_BUDGET`."""
    return max(1, math.isqrt(MOSAIC_BUDGET // max(1, kh * kw * channels)))


class PatchesView(QWidget):
    """Patch tiles and mosaics, with the receptive field on the source image."""

    def __init__(self, result: NodeResult, patches: np.ndarray,
                 parent: QWidget | None = None, *, declaration: ResultView | None = None
                 ) -> None:
        super().__init__(parent)
        self.result = result
        self.patches = patches
        self.declaration = declaration or declared_view(result, ResultViewKind.PATCHES)
        source = self.declaration.source if self.declaration is not None else ""
        self.images = _as_4d(result.inputs.get(source))
        batch, out_h, out_w, depth = patches.shape
        self.grid: PatchGrid | None = None
        problem = ""
        rule = None if self.declaration is None else self.declaration.patches
        if rule is None:
            problem = f"{result.block} declares no patches view"
        else:
            shape = tuple(self.images.shape) if self.images is not None else (batch, 0, 0, 0)
            try:
                self.grid = rule(shape, result.inputs)
            except Exception as error:  # a bad input value: explain instead of failing
                problem = str(getattr(error, "reason", error))
        self.kh, self.kw = self.grid.kernel if self.grid is not None else (1, 1)
        self.channels = depth // (self.kh * self.kw) if self.kh * self.kw else 0
        self._items: list[Any] = []
        self._taps: list[tuple[int, int, bool]] = []
        self._tap_items: list[QGraphicsRectItem] = []
        self._location = (0, 0, 0)
        self._origin = (0, 0)  # first (row, col) of the mosaic block
        self._tile_mark: QGraphicsRectItem | None = None

        self.caption = QLabel(self)
        self.caption.setTextFormat(Qt.TextFormat.PlainText)  # data, not markup
        self.mode = QComboBox(self)
        self.mode.addItem("one location", "one")
        self.mode.addItem("all locations", "all")
        self.batch = QSpinBox(self)
        self.batch.setPrefix("batch ")
        self.batch.setRange(0, max(0, batch - 1))
        self.row = QSpinBox(self)
        self.row.setPrefix("row ")
        self.row.setRange(0, max(0, out_h - 1))
        self.col = QSpinBox(self)
        self.col.setPrefix("col ")
        self.col.setRange(0, max(0, out_w - 1))
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        for widget in (self.mode, self.batch, self.row, self.col):
            controls.addWidget(widget)
        controls.addWidget(self.caption, 1)  # one row for both: the image gets the height

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.input_panel: ImagePanel | None = None
        if self.images is not None and self.images.size:
            self.input_panel = ImagePanel(self.images, self.splitter,
                                          title="input: receptive field of the location")
            self.splitter.addWidget(self.input_panel)
            self.input_panel.rendered.connect(self._redraw_field)
        self.tile_panel: ImagePanel | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.splitter, 1)

        valid = self.grid is not None and self.kh * self.kw * self.channels == depth > 0
        if valid and self.grid is not None:
            caption = f"tiles {self.kh}x{self.kw}x{self.channels} · {self.grid.caption}"
        elif problem:
            caption = f"{problem}: nothing to unfold"
        else:
            caption = f"depth {depth} is not kh*kw*C for {self.kh}x{self.kw} patches: " \
                      "nothing to unfold"
        self.caption.setText(caption)
        self.caption.setToolTip(
            f"{source or 'output'} {list(patches.shape)}: {caption}. Each output location's "
            f"depth vector unfolds into a {self.kh}x{self.kw}x{self.channels} tile (patch "
            "row, then column, then channel). Hover or click the mosaic to pick a location; "
            "hover a tile's pixel to see its tap on the input."
        )
        self._valid = valid and batch * out_h * out_w > 0
        for signal in (self.mode.currentIndexChanged, self.batch.valueChanged,
                       self.row.valueChanged, self.col.valueChanged):
            signal.connect(self._on_control)
        if self._valid:
            self._build_tiles()
            self.show_location(0, 0, 0)

    # ------------------------------------------------------------------ public

    def set_mode(self, mode: str) -> None:
        """``"one"`` (one location's tile) or ``"all"`` (a mosaic of locations)."""
        self.mode.setCurrentIndex(self.mode.findData(mode))

    def set_location(self, batch: int, row: int, col: int) -> None:
        """Choose the output location (spin boxes follow)."""
        for spin, value in ((self.batch, batch), (self.row, row), (self.col, col)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self._on_control()

    def tile(self, batch: int, row: int, col: int) -> np.ndarray:
        """Output location (row, col) of image ``batch`` as ``[kh, kw, C]``."""
        return unfold_tile(self.patches[batch, row, col], self.kh, self.kw)

    def tap_rects(self) -> list[tuple[int, int, bool]]:
        """The taps outlined: ``(row, col, inside the image)`` in depth order."""
        return list(self._taps)

    def show_location(self, batch: int, row: int, col: int) -> None:
        """Outline the receptive field of output (row, col) of image ``batch`` on the input."""
        self._location = (batch, row, col)
        self._redraw_field()

    # ------------------------------------------------------------------ internals

    def _build_tiles(self) -> None:
        batch, row, col = self.batch.value(), self.row.value(), self.col.value()
        if self.tile_panel is not None:
            self.tile_panel.setParent(None)
            self.tile_panel.deleteLater()
        if self.mode.currentData() == "one":
            tile = self.tile(batch, row, col)[None]
            self.tile_panel = ImagePanel(tile, self.splitter,
                                         title=f"tile of location ({row}, {col})")
            self.tile_panel.view.hovered.connect(self._on_tile_hover)
        else:
            _, out_h, out_w, _ = self.patches.shape
            side = mosaic_side(self.kh, self.kw, self.channels)
            row0 = max(0, min(row - side // 2, out_h - side))
            col0 = max(0, min(col - side // 2, out_w - side))
            block = self.patches[batch, row0 : row0 + side, col0 : col0 + side]
            self._origin = (row0, col0)
            image, gaps = mosaic(block, self.kh, self.kw)
            self.tile_panel = ImagePanel(image[None], self.splitter, gaps=gaps,
                                         title=f"locations rows {row0}..{row0 + block.shape[0] - 1}"
                                         f", cols {col0}..{col0 + block.shape[1] - 1}")
            self.tile_panel.view.hovered.connect(self._on_mosaic_hover)
            self.tile_panel.view.clicked.connect(self._on_mosaic_click)
        if self.input_panel is not None:
            # The input's value range, so a tile looks like the pixels it was cut from.
            low = min(self.input_panel.range[0], self.tile_panel.range[0])
            high = max(self.input_panel.range[1], self.tile_panel.range[1])
            self.tile_panel.set_fixed_range(low, high)
        self.splitter.addWidget(self.tile_panel)
        self._tile_mark = None
        self._mark_tile((row, col))

    def _on_tile_hover(self, _batch: int, y: int, x: int) -> None:
        """Hovering tap (y, x) of the tile: that tap's square is filled on the input."""
        chosen = -1 if y < 0 else y * self.kw + x
        for index, item in enumerate(self._tap_items):
            item.setBrush(QBrush(QColor(255, 215, 64, 150)) if index == chosen
                          else QBrush(Qt.BrushStyle.NoBrush))

    def _mosaic_location(self, y: int, x: int) -> tuple[int, int] | None:
        tile_y, in_y = divmod(y, self.kh + 1)
        tile_x, in_x = divmod(x, self.kw + 1)
        if in_y >= self.kh or in_x >= self.kw:
            return None
        return self._origin[0] + tile_y, self._origin[1] + tile_x

    def _on_mosaic_hover(self, _batch: int, y: int, x: int) -> None:
        where = None if y < 0 else self._mosaic_location(y, x)
        if where is None:
            where = (self.row.value(), self.col.value())
        self.show_location(self.batch.value(), *where)
        self._mark_tile(where)

    def _mark_tile(self, where: tuple[int, int]) -> None:
        """Outline location ``where``'s tile in the mosaic."""
        panel = self.tile_panel
        if panel is None or self.mode.currentData() != "all" or panel.view.image_count() == 0:
            return
        if self._tile_mark is None or self._tile_mark.scene() is not panel.view.scene():
            self._tile_mark = QGraphicsRectItem()
            self._tile_mark.setPen(_pen("#ffd740", 2.0))
            self._tile_mark.setZValue(3)
            panel.view.scene().addItem(self._tile_mark)
        row, col = where[0] - self._origin[0], where[1] - self._origin[1]
        origin = panel.view.origin(0)
        self._tile_mark.setRect(QRectF(col * (self.kw + 1), row * (self.kh + 1), self.kw,
                                       self.kh).translated(origin))

    def _on_mosaic_click(self, _batch: int, y: int, x: int) -> None:
        where = self._mosaic_location(y, x)
        if where is not None:
            for spin, value in ((self.row, where[0]), (self.col, where[1])):
                spin.blockSignals(True)
                spin.setValue(value)
                spin.blockSignals(False)
            self.show_location(self.batch.value(), *where)

    def _on_control(self, *_: Any) -> None:
        if not self._valid:
            return
        self._build_tiles()
        self.show_location(self.batch.value(), self.row.value(), self.col.value())

    def _redraw_field(self) -> None:
        panel = self.input_panel
        if panel is None or not self._valid:
            return
        scene = panel.view.scene()
        for item in self._items:
            scene.removeItem(item)
        self._items, self._taps, self._tap_items = [], [], []
        batch, row, col = self._location
        if batch not in panel.shown_batches():
            return
        try:
            assert self.grid is not None  # _valid says so
            taps = self.grid.taps(row, col)
        except Exception as error:  # explain, never fail the panel
            panel.status.setText(f"receptive field unavailable: {error}")
            return
        origin = panel.view.origin(batch)
        _, height, width, _ = panel.tensor.shape
        rows = [r for r, _ in taps]
        cols = [c for _, c in taps]
        extent = QGraphicsRectItem(QRectF(min(cols), min(rows), max(cols) - min(cols) + 1,
                                          max(rows) - min(rows) + 1).translated(origin))
        extent.setPen(_pen("#ffd740", 1.5))
        extent.setZValue(2)
        scene.addItem(extent)
        self._items.append(extent)
        inset = 0.15
        for tap_row, tap_col in taps:
            inside = 0 <= tap_row < height and 0 <= tap_col < width
            square = QGraphicsRectItem(QRectF(tap_col + inset, tap_row + inset, 1 - 2 * inset,
                                              1 - 2 * inset).translated(origin))
            style = Qt.PenStyle.SolidLine if inside else Qt.PenStyle.DashLine
            square.setPen(_pen("#40c4ff" if inside else "#ff5252", 1.5, style))
            square.setZValue(3)
            square.setData(0, (tap_row, tap_col, inside))
            scene.addItem(square)
            self._items.append(square)
            self._tap_items.append(square)
            self._taps.append((tap_row, tap_col, inside))
        outside = sum(1 for t in self._taps if not t[2])
        panel.status.setText(
            f"location b {batch} ({row}, {col}): {len(taps)} taps, rows {min(rows)}..{max(rows)},"
            f" cols {min(cols)}..{max(cols)}" + (f"; {outside} in the padding (dashed)"
                                                 if outside else "")
        )
