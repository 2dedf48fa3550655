"""Image view of 4-D tensors: a batch grid of pixel-exact images with zoom, pan and probes.

Choice: written on ``QGraphicsView`` rather than pyqtgraph's ``ImageView``. A pyqtgraph
view would be one more heavy dependency (it pulls its own colour maps, ROI machinery and
OpenGL paths) and is awkward for what this panel needs most: overlays in image pixel
coordinates (glimpse windows with hatched fill, dilated receptive-field taps), a grid of
batch images in one scene, and exact control of how a value becomes a colour so tests can
check a pixel. Here each image is a ``QImage`` built straight from a uint8 numpy buffer
(one channel at a time, so a [1,512,512,75] tensor converts 512x512 values, not 20M),
shown by a ``QGraphicsPixmapItem`` with ``Qt.FastTransformation`` and smooth rendering
off, so zoomed pixels stay crisp squares (nearest neighbour).

Contract:

* :func:`to_rgb` maps a ``[H, W]`` or ``[H, W, 3]`` float plane to uint8 ``[H, W, 3]``
  given a value range: grey, the viridis-like :data:`VIRIDIS` table, or RGB; NaN is shown
  magenta, +inf as the top colour and -inf as the bottom one.
* :class:`PixelView` shows ``[B, H, W]`` / ``[B, H, W, 3]`` planes as a grid; scene
  coordinates of image ``b`` pixel (y, x) are ``origin(b) + (x, y)``, one scene unit per
  pixel, so overlays are placed in pixel units. ``hovered(b, y, x)`` is emitted under the
  cursor (``b = -1`` when outside every image); ``clicked(b, y, x)`` on a click.
* :class:`ImagePanel` wraps a PixelView with controls: channel, colour map, contrast
  (min-max of what is shown, or a fixed range), first batch shown, and a status line with
  the value per channel under the cursor. ``export_png(path)`` saves the rendered images.
* Fitting: a PixelView fits its images to the viewport when first shown, on every new
  set of images and on resize, until the user zooms (wheel, :meth:`PixelView.set_zoom`)
  or pans (drag); from then on their view is kept. A double-click (or :meth:`fit`)
  fits again and resumes fitting. ``auto_fit`` says which state the view is in.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsTextItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.results.data import format_number

#: Anchors of a viridis-like colour map (position, r, g, b), interpolated to 256 entries.
_VIRIDIS_ANCHORS = (
    (0.0, 68, 1, 84), (0.13, 71, 44, 122), (0.25, 59, 81, 139), (0.38, 44, 113, 142),
    (0.5, 33, 144, 141), (0.63, 39, 173, 129), (0.75, 92, 200, 99), (0.88, 170, 220, 50),
    (1.0, 253, 231, 37),
)


def _make_table(anchors: tuple[tuple[float, int, int, int], ...]) -> np.ndarray:
    positions = np.array([a[0] for a in anchors])
    steps = np.linspace(0.0, 1.0, 256)
    table = np.empty((256, 3), dtype=np.uint8)
    for channel in range(3):
        values = np.array([a[channel + 1] for a in anchors], dtype=np.float64)
        table[:, channel] = np.round(np.interp(steps, positions, values)).astype(np.uint8)
    return table


#: 256 x 3 uint8 colour table (viridis-like: dark blue-violet to yellow).
VIRIDIS = _make_table(_VIRIDIS_ANCHORS)
#: 256 x 3 uint8 grey ramp.
GREY = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
#: 256 x 3 uint8 diverging map (blue, white at the middle, red): for differences around 0.
DIVERGING = _make_table(((0.0, 33, 102, 172), (0.5, 247, 247, 247), (1.0, 178, 24, 43)))
COLOUR_MAPS = {"grey": GREY, "viridis": VIRIDIS, "diverging": DIVERGING}
NAN_COLOUR = (255, 0, 255)


def real_plane(values: np.ndarray) -> np.ndarray:
    """``values`` as floats for display (complex: magnitude), always a fresh array.

    float32 unless the source needs float64's range (float64, 64-bit integers, complex128):
    half the memory traffic of float64 for the common image dtypes.
    """
    if values.dtype.kind == "c":
        magnitude = np.abs(values)
        return magnitude.astype(np.float64 if magnitude.dtype.itemsize == 8 else np.float32)
    wide = values.dtype.itemsize == 8 and values.dtype.kind in "fiu"
    return np.array(values, dtype=np.float64 if wide else np.float32)


def finite_range(values: np.ndarray) -> tuple[float, float]:
    """(min, max) of the finite values of a float plane; (0, 1) when there are none."""
    if values.size == 0:
        return 0.0, 1.0
    low, high = float(np.min(values)), float(np.max(values))
    if not (math.isfinite(low) and math.isfinite(high)):
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return 0.0, 1.0
        low, high = float(finite.min()), float(finite.max())
    return low, high


def to_levels(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Float plane -> uint8 levels 0..255 linearly over [low, high] (clipped; NaN -> 0)."""
    span = high - low
    if not span > 0:  # one value: mid-grey, with what lies below/above at the ends
        levels = np.full(values.shape, 128, dtype=np.uint8)
        levels[values > low] = 255
        levels[values < low] = 0
        return levels
    work = np.array(values, dtype=values.dtype if values.dtype.kind == "f" else np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        work -= work.dtype.type(low)
        work *= work.dtype.type(255.0 / span)
        work += work.dtype.type(0.5)  # round half up on the cast below
        np.clip(work, 0.0, 255.0, out=work)
    if np.isnan(work.min()):  # min propagates NaN: the mask is paid only when needed
        work[np.isnan(work)] = 0.0
    return work.astype(np.uint8)


def to_rgb(values: np.ndarray, low: float, high: float, colour_map: str = "grey") -> np.ndarray:
    """``[H,W]`` (through a colour map) or ``[H,W,3]`` (RGB) float values -> uint8 ``[H,W,3]``."""
    levels = to_levels(values, low, high)
    rgb = levels if values.ndim == 3 else COLOUR_MAPS[colour_map][levels]
    if values.size and np.isnan(values.min()):
        nan = np.isnan(values)
        rgb = np.array(rgb, copy=True)
        mask = nan if values.ndim == 2 else nan.any(axis=2)
        rgb[mask] = NAN_COLOUR
    return np.ascontiguousarray(rgb)


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """uint8 ``[H,W,3]`` -> a QImage that owns a copy of the pixels."""
    height, width = rgb.shape[:2]
    buffer = np.ascontiguousarray(rgb)
    image = QImage(buffer.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()  # detach from the numpy buffer, which may be freed


def grid_columns(count: int, height: int, width: int, view_width: float,
                 view_height: float) -> int:
    """The number of columns that shows ``count`` images of ``height`` x ``width`` largest
    in a view of ``view_width`` x ``view_height`` (a wide panel gets a row, a tall one a
    column); a square-ish grid when the view has no size yet."""
    if count <= 1:
        return 1
    if view_width <= 1 or view_height <= 1 or height <= 0 or width <= 0:
        return max(1, math.ceil(math.sqrt(count)))
    gap = max(1, round(0.06 * max(height, width)))
    best, best_scale = 1, -1.0
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        scale = min(view_width / (columns * (width + gap) + gap),
                    view_height / (rows * (height + gap) + gap))
        if scale > best_scale + 1e-9:
            best, best_scale = columns, scale
    return best


class PixelView(QGraphicsView):
    """A grid of images in one scene; nearest-neighbour zoom (wheel) and pan (drag).

    Without an explicit ``columns``, the grid's columns follow the view's aspect ratio
    (:func:`grid_columns`); when a resize calls for another column count,
    ``regridRequested`` asks the owner to rebuild (overlays re-attach then)."""

    hovered = Signal(int, int, int)
    clicked = Signal(int, int, int)
    regridRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setMouseTracking(True)
        self.setBackgroundBrush(QColor(40, 40, 40))
        self._items: list[QGraphicsPixmapItem] = []
        self._labels: list[QGraphicsTextItem] = []
        self._sizes: list[tuple[int, int]] = []
        self._first = 0
        self._pressed_at: QPoint | None = None
        # Fit to the viewport until the user zooms (a hidden widget has no real size yet).
        self._auto_fit = True
        self._columns = 0
        self._auto_columns = True
        self._regrid_timer = QTimer(self)
        self._regrid_timer.setSingleShot(True)
        self._regrid_timer.setInterval(80)  # a dragged splitter sends many resizes
        self._regrid_timer.timeout.connect(self._maybe_regrid)

    # ------------------------------------------------------------------ content

    def set_images(self, images: list[np.ndarray], *, first: int = 0, columns: int = 0) -> None:
        """Show uint8 ``[H,W,3]`` images in a grid; ``first`` is the batch index of the first."""
        scene = self.scene()
        for item in [*self._items, *self._labels]:
            scene.removeItem(item)
        self._items, self._sizes, self._first, self._labels = [], [], first, []
        if not images:
            return
        height = max(img.shape[0] for img in images)
        width = max(img.shape[1] for img in images)
        self._auto_columns = not columns
        columns = columns or self._best_columns(len(images), height, width)
        self._columns = columns
        gap = max(1, round(0.06 * max(height, width, 1)))
        for index, rgb in enumerate(images):
            row, col = divmod(index, columns)
            item = QGraphicsPixmapItem(QPixmap.fromImage(rgb_to_qimage(rgb)))
            item.setTransformationMode(Qt.TransformationMode.FastTransformation)
            item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
            item.setPos(col * (width + gap), row * (height + gap))
            item.setZValue(0)
            scene.addItem(item)
            self._items.append(item)
            self._sizes.append((rgb.shape[0], rgb.shape[1]))
            if len(images) > 1 or first > 0:  # name each image of a batch grid
                label = QGraphicsTextItem()
                label.setHtml(f"<span style='background-color:rgba(0,0,0,150); color:#ddd'>"
                              f"&nbsp;b{first + index}&nbsp;</span>")
                label.document().setDocumentMargin(0)
                label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
                label.setPos(item.pos())
                label.setZValue(1)
                scene.addItem(label)
                self._labels.append(label)
        scene.setSceneRect(self.images_rect().adjusted(-gap, -gap, gap, gap))
        if self._auto_fit:
            self._fit_view()

    def _best_columns(self, count: int, height: int, width: int) -> int:
        size = self.viewport().size()
        return grid_columns(count, height, width, size.width(), size.height())

    def columns(self) -> int:
        """The columns of the grid shown."""
        return self._columns

    def _maybe_regrid(self) -> None:
        if not self._items or not self._auto_columns or not self._auto_fit:
            return
        height = max(h for h, _ in self._sizes)
        width = max(w for _, w in self._sizes)
        if self._best_columns(len(self._items), height, width) != self._columns:
            self.regridRequested.emit()

    def replace_image(self, index: int, rgb: np.ndarray) -> None:
        """Swap the pixels of one grid image (same size), keeping zoom and overlays."""
        self._items[index].setPixmap(QPixmap.fromImage(rgb_to_qimage(rgb)))

    @property
    def first(self) -> int:
        return self._first

    def batch_labels(self) -> list[QGraphicsTextItem]:
        """The "b<n>" labels of a batch grid."""
        return list(self._labels)

    def image_count(self) -> int:
        return len(self._items)

    def origin(self, batch: int) -> QPointF:
        """Scene position of pixel (0, 0)'s top-left corner of batch image ``batch``."""
        return self._items[batch - self._first].pos()

    def images_rect(self) -> QRectF:
        """The scene rectangle covering every image (overlays excluded)."""
        rect = QRectF()
        for item in self._items:
            rect = rect.united(item.sceneBoundingRect())
        return rect

    @property
    def auto_fit(self) -> bool:
        """Whether the view keeps fitting the images to the viewport."""
        return self._auto_fit

    def fit(self) -> None:
        """Zoom so every image is visible, and keep fitting when the view is resized."""
        self._auto_fit = True
        self._fit_view()

    def _fit_view(self) -> None:
        if not self._items:
            return
        # Overlays may reach past the images (a glimpse window partly outside): show them.
        # Screen-sized items (batch labels) have no meaningful scene size: left out.
        rect = self.scene().sceneRect()
        for item in self.scene().items():
            if not item.flags() & QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations:
                rect = rect.united(item.sceneBoundingRect())
        self.scene().setSceneRect(rect)
        if not rect.isEmpty():
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)

    def set_zoom(self, scale: float) -> None:
        """Screen pixels per image pixel (stops fitting to the view)."""
        self._auto_fit = False
        self.resetTransform()
        self.scale(scale, scale)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self._auto_fit:
            self._fit_view()
            self._regrid_timer.start()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._auto_fit:  # built hidden (a lazy tab): its real size is known only now
            self._fit_view()
            self._regrid_timer.start()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.fit()  # double-click: back to the whole grid
        event.accept()

    def zoom(self) -> float:
        return float(self.transform().m11())

    def view_point(self, batch: int, y: float, x: float) -> QPoint:
        """Viewport position of image point (y, x) of batch image ``batch`` (pixel centre: +0.5)."""
        return self.mapFromScene(self.origin(batch) + QPointF(x, y))

    def pixel_at(self, scene_pos: QPointF) -> tuple[int, int, int]:
        """(batch, y, x) under a scene position; batch -1 when outside every image."""
        for index, item in enumerate(self._items):
            local = scene_pos - item.pos()
            height, width = self._sizes[index]
            x, y = math.floor(local.x()), math.floor(local.y())
            if 0 <= x < width and 0 <= y < height:
                return index + self._first, y, x
        return -1, -1, -1

    # ------------------------------------------------------------------ events

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            factor = 1.25**steps
            new = self.zoom() * factor
            if 0.02 <= new <= 400.0:
                self._auto_fit = False
                # Keep the scene point under the cursor where it is (the event's position,
                # not the last mouse move Qt's AnchorUnderMouse would use).
                point = event.position().toPoint()
                before = self.mapToScene(point)
                self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
                self.scale(factor, factor)
                after = self.mapToScene(point)
                self.translate(after.x() - before.x(), after.y() - before.y())
                self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        super().mouseMoveEvent(event)
        pressed = self._pressed_at
        if (pressed is not None and self._auto_fit
                and (event.position().toPoint() - pressed).manhattanLength() > 3):
            self._auto_fit = False  # the user pans: keep their view from now on
        self.hovered.emit(*self.pixel_at(self.mapToScene(event.position().toPoint())))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        super().mousePressEvent(event)
        self._pressed_at = event.position().toPoint()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        pressed, self._pressed_at = self._pressed_at, None
        point = event.position().toPoint()
        # A click, not the end of a pan: the mouse stayed (nearly) where it was pressed.
        if (event.button() == Qt.MouseButton.LeftButton and pressed is not None
                and (point - pressed).manhattanLength() <= 3):
            batch, y, x = self.pixel_at(self.mapToScene(point))
            if batch >= 0:
                self.clicked.emit(batch, y, x)

    def leaveEvent(self, event: Any) -> None:
        super().leaveEvent(event)
        self.hovered.emit(-1, -1, -1)


#: Most batch images shown at once in a grid.
MAX_GRID = 16


class ImagePanel(QWidget):
    """A 4-D tensor ``[B,H,W,C]`` as images with controls and a value probe.

    ``gaps`` (optional, bool ``[H,W]``) marks pixels that are not data (the gaps of a
    mosaic): drawn in the background colour, left out of the min-max range and the probe.
    ``rendered`` is emitted after the images are rebuilt (overlays re-attach then).
    """

    rendered = Signal()

    def __init__(self, tensor: np.ndarray, parent: QWidget | None = None, *,
                 title: str = "", gaps: np.ndarray | None = None) -> None:
        super().__init__(parent)
        self.gaps = gaps
        if tensor.ndim != 4:
            raise ValueError(f"ImagePanel needs a 4-D tensor, got shape {tensor.shape}")
        self.tensor = tensor
        batch, _, _, channels = tensor.shape
        self.view = PixelView(self)
        self.view.regridRequested.connect(self.render_images)
        self.status = QLabel(title or " ", self)
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # data, not markup
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.mode = QComboBox(self)
        if channels == 3:
            self.mode.addItem("RGB", "rgb")
        self.mode.addItem("channel", "channel")
        self.channel = QSpinBox(self)
        self.channel.setRange(0, max(0, channels - 1))
        self.channel.setPrefix("channel ")
        self.colour_map = QComboBox(self)
        self.colour_map.addItems(list(COLOUR_MAPS))
        if channels != 1:
            self.colour_map.setCurrentText("viridis")
        self.contrast = QComboBox(self)
        self.contrast.addItem("min-max", "minmax")
        self.contrast.addItem("fixed range", "fixed")
        self.low = QDoubleSpinBox(self)
        self.high = QDoubleSpinBox(self)
        for spin, value in ((self.low, 0.0), (self.high, 1.0)):
            spin.setRange(-1e300, 1e300)
            spin.setDecimals(6)
            spin.setValue(value)
            spin.setEnabled(False)
            spin.setKeyboardTracking(False)
            spin.setMaximumWidth(120)
        self.first = QSpinBox(self)
        self.first.setRange(0, max(0, batch - 1))
        self.first.setPrefix("batch from ")
        self.first.setVisible(batch > MAX_GRID)

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        for widget in (self.mode, self.channel, self.colour_map, self.contrast, self.low,
                       self.high, self.first):
            controls.addWidget(widget)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.view, 1)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.status, 1)
        self.legend_low = QLabel(self)
        self.legend_low.setTextFormat(Qt.TextFormat.PlainText)  # data, not markup
        self.legend = QLabel(self)
        self.legend.setTextFormat(Qt.TextFormat.PlainText)  # data, not markup
        self.legend_high = QLabel(self)
        self.legend_high.setTextFormat(Qt.TextFormat.PlainText)  # data, not markup
        for label in (self.legend_low, self.legend, self.legend_high):
            bottom.addWidget(label)
        layout.addLayout(bottom)

        self.range: tuple[float, float] = (0.0, 1.0)
        self._fixed_range: tuple[float, float] | None = None
        self._update_enabled()
        for signal in (self.mode.currentIndexChanged, self.channel.valueChanged,
                       self.colour_map.currentIndexChanged, self.contrast.currentIndexChanged,
                       self.first.valueChanged):
            signal.connect(self._on_control)
        self.low.valueChanged.connect(self._on_range_edit)
        self.high.valueChanged.connect(self._on_range_edit)
        self.view.hovered.connect(self._on_hover)
        if tensor.dtype == np.uint8:  # 8-bit images: their own scale, not stretched
            self._fixed_range = (0.0, 255.0)
            self._show_range(0.0, 255.0)
            self.contrast.blockSignals(True)
            self.contrast.setCurrentIndex(self.contrast.findData("fixed"))
            self.contrast.blockSignals(False)
            self._update_enabled()
        self.render_images()

    # ------------------------------------------------------------------ public

    def set_channel(self, channel: int) -> None:
        self.mode.setCurrentIndex(self.mode.findData("channel"))
        self.channel.setValue(channel)

    def set_fixed_range(self, low: float, high: float) -> None:
        """Contrast by a fixed value range (``low`` -> bottom colour, ``high`` -> top)."""
        self._fixed_range = (float(low), float(high))
        self._show_range(low, high)
        self.contrast.blockSignals(True)
        self.contrast.setCurrentIndex(self.contrast.findData("fixed"))
        self.contrast.blockSignals(False)
        self._on_control()

    def set_colour_map(self, name: str) -> None:
        """``grey``, ``viridis`` or ``diverging`` (one-channel mode)."""
        self.colour_map.setCurrentText(name)

    def set_min_max(self) -> None:
        self.contrast.setCurrentIndex(self.contrast.findData("minmax"))

    def shown_batches(self) -> range:
        start = self.first.value() if self.tensor.shape[0] > MAX_GRID else 0
        return range(start, min(self.tensor.shape[0], start + MAX_GRID))

    def planes(self) -> list[np.ndarray]:
        """The float planes shown: ``[H,W]`` (one channel) or ``[H,W,3]`` (RGB) per image."""
        rgb = self.mode.currentData() == "rgb"
        channel = self.channel.value()
        out = []
        for b in self.shown_batches():
            values = self.tensor[b] if rgb else self.tensor[b, :, :, channel]
            plane = real_plane(values)
            if self.gaps is not None:
                plane = np.array(plane, copy=True)
                plane[self.gaps] = np.nan
            out.append(plane)
        return out

    def render_images(self) -> None:
        """Rebuild the images from the controls (one channel, or RGB, of the batches shown)."""
        if self.tensor.shape[3] == 0 or self.tensor.shape[1] * self.tensor.shape[2] == 0:
            self.view.set_images([])
            self.status.setText("empty: nothing to draw")
            return
        planes = self.planes()
        if self.contrast.currentData() == "fixed":
            # The exact values given (the spin boxes show them rounded to their decimals).
            low, high = self._fixed_range if self._fixed_range is not None else self.range
        else:
            ranges = [finite_range(p) for p in planes]
            low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
            self._show_range(low, high)
        self._fixed_range = (low, high)
        self.range = (low, high)
        self._update_legend()
        colour_map = str(self.colour_map.currentText())
        images = [to_rgb(p, low, high, colour_map) for p in planes]
        if self.gaps is not None:
            for rgb in images:
                rgb[self.gaps] = (40, 40, 40)
        self.view.set_images(images, first=self.shown_batches().start)
        self.rendered.emit()

    def value_text(self, batch: int, y: int, x: int) -> str:
        """``b 0  y 3  x 5  = 0.25, 0.5, 1`` for the status line."""
        values = self.tensor[batch, y, x]
        shown = ", ".join(format_number(v) for v in values[:8])
        if values.shape[0] > 8:
            shown += f", … ({values.shape[0]} channels)"
        return f"b {batch}  y {y}  x {x}  = {shown}"

    def export_png(self, path: str) -> None:
        """Save the images as shown (grid, colours, overlays; one pixel per value) as PNG."""
        scene = self.view.scene()
        rect = self.view.images_rect()
        image = QImage(max(1, math.ceil(rect.width())), max(1, math.ceil(rect.height())),
                       QImage.Format.Format_RGB32)
        image.fill(QColor(40, 40, 40))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        labels = self.view.batch_labels()
        for label in labels:  # screen-sized text would cover pixels at one pixel per value
            label.setVisible(False)
        scene.render(painter, QRectF(image.rect()), rect)
        for label in labels:
            label.setVisible(True)
        painter.end()
        if not image.save(path, "PNG"):  # type: ignore[call-overload]  # stubs want bytes
            raise OSError(f"could not write PNG file '{path}'")

    # ------------------------------------------------------------------ internals

    def _update_enabled(self) -> None:
        rgb = self.mode.currentData() == "rgb"
        self.mode.setVisible(self.mode.count() > 1)
        self.channel.setVisible(not rgb and self.tensor.shape[3] > 1)
        self.colour_map.setVisible(not rgb)
        fixed = self.contrast.currentData() == "fixed"
        for spin in (self.low, self.high):
            spin.setEnabled(fixed)
            spin.setToolTip("value shown as the bottom colour" if spin is self.low
                            else "value shown as the top colour")

    def _show_range(self, low: float, high: float) -> None:
        """Put a range in the spin boxes, with enough decimals for its span."""
        span = abs(high - low)
        decimals = 6 if not span > 0 else max(2, min(15, 3 - math.floor(math.log10(span))))
        for spin, value in ((self.low, low), (self.high, high)):
            spin.blockSignals(True)
            spin.setDecimals(decimals)
            spin.setValue(value)
            spin.blockSignals(False)

    def _on_range_edit(self, *_: Any) -> None:
        self._fixed_range = (self.low.value(), self.high.value())
        self.render_images()

    def _on_control(self, *_: Any) -> None:
        self._update_enabled()
        self.render_images()

    def _update_legend(self) -> None:
        """A colour bar from the bottom to the top value of the range shown."""
        low, high = self.range
        rgb = self.mode.currentData() == "rgb"
        table = GREY if rgb else COLOUR_MAPS[str(self.colour_map.currentText())]
        bar = np.ascontiguousarray(np.repeat(table[None, :, :], 10, axis=0))
        self.legend.setPixmap(QPixmap.fromImage(rgb_to_qimage(bar)).scaled(
            96, 10, Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.FastTransformation))
        self.legend_low.setText(format_number(low))
        self.legend_high.setText(format_number(high))
        self.legend.setToolTip("each channel's level" if rgb else "colour map")

    def _on_hover(self, batch: int, y: int, x: int) -> None:
        if batch >= 0 and (self.gaps is None or not self.gaps[y, x]):
            self.status.setText(self.value_text(batch, y, x))
