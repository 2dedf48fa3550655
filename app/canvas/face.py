"""What a block shows on its face besides its ports: its attrs and a thumbnail of its output.

Contract:

* :func:`attr_values` reads a node's attrs string against its declaration: every declared
  attr with its value (the default where the string omits it or cannot be read — the
  problem badge says why then). Nothing here names a block: the attrs come from
  ``BlockSpec.attrs``.
* :func:`attr_text` is an attr's compact face text: ``noise: zero``, ``"" (empty)``; bools
  are drawn as check boxes by the node item.
* :func:`edit_attr` is the in-place edit of one attr on the canvas, one undo step
  (``SetAttrs`` with the full canonical string): a bool toggles; a string with choices
  opens a menu of them at the pointer; a free string opens a line editor.
* :func:`thumbnail` makes a small QImage of an output when it is image-shaped —
  ``[N,H,W,C]`` or ``[H,W,C]`` with C in 1, 3 or 4 (the first batch item; C=4 shown as
  RGB), or ``[H,W]`` — contrast stretched min..max; ``None`` for anything else. The source
  is subsampled before any conversion, so a large output costs what the thumbnail costs.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtGui import QAction, QImage, QUndoStack
from PySide6.QtWidgets import QInputDialog, QMenu, QWidget

from app.commands import SetAttrs
from blocks.attrs import format_attrs, parse_attrs
from blocks.errors import TensorBlocksError
from blocks.spec import AttrSpec, AttrValue, BlockSpec
from graph.model import GraphModel

#: The longest side of an output thumbnail, in scene pixels.
THUMB_SIZE = 132


def attr_values(spec: BlockSpec, attrs: str) -> dict[str, AttrValue]:
    """Every declared attr's value in ``attrs`` (defaults where unreadable or absent)."""
    values = spec.default_attrs()
    # Unreadable attrs are shown as the defaults; the problem badge names what is wrong.
    with contextlib.suppress(TensorBlocksError):
        values.update(parse_attrs(attrs, spec))
    return values


def attr_text(attr: AttrSpec, value: AttrValue) -> str:
    """The compact text of a string attr on a block's face."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if value else '"" (empty)'


def choose_from_menu(menu: QMenu, screen_pos: QPoint) -> QAction | None:
    """Show ``menu`` at ``screen_pos`` and return the action picked (``None``: dismissed)."""
    return menu.exec(screen_pos)


def edit_attr(
    model: GraphModel,
    undo_stack: QUndoStack,
    node_id: str,
    attr_name: str,
    screen_pos: QPoint,
    parent: QWidget | None = None,
) -> bool:
    """Edit attr ``attr_name`` of ``node_id`` in place (see the module docstring); returns
    whether the attrs changed."""
    node = model.node(node_id)
    spec = model.registry.get(node.block)
    attr = None if spec is None else spec.attr(attr_name)
    if spec is None or attr is None:
        return False
    values = attr_values(spec, node.attrs)
    current = values[attr.name]
    new: AttrValue | None
    if attr.type is bool:
        new = not bool(current)
    elif attr.choices:
        menu = QMenu(parent)
        for choice in attr.choices:
            action = menu.addAction(attr_text(attr, choice))
            action.setCheckable(True)
            action.setChecked(choice == current)
            action.setData(choice)
        picked = choose_from_menu(menu, screen_pos)
        new = None if picked is None else str(picked.data())
    else:
        text, ok = QInputDialog.getText(parent, f"{node_id}: {attr.name}", attr.doc or attr.name,
                                        text=str(current))
        new = text if ok else None
    if new is None or new == current:
        return False
    values[attr.name] = new
    undo_stack.push(SetAttrs(model, node_id, format_attrs(values, spec)))
    return True


def _subsample(image: np.ndarray) -> np.ndarray:
    """Every k-th pixel so the longest side is at most THUMB_SIZE."""
    step = max(1, int(np.ceil(max(image.shape[0], image.shape[1]) / THUMB_SIZE)))
    return image[::step, ::step]


def image_of(array: Any) -> np.ndarray | None:
    """The [H,W,C] (C in 1, 3) image a thumbnail shows of ``array``, or ``None``."""
    if not isinstance(array, np.ndarray) or array.size == 0:
        return None
    if array.ndim == 4 and array.shape[0] > 0:
        array = array[0]
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or min(array.shape[:2]) < 2:
        return None
    if array.dtype.kind not in "biuf":
        return None
    return _subsample(array[:, :, :3] if array.shape[2] == 4 else array)


def thumbnail(array: Any) -> QImage | None:
    """A small RGB QImage of an image-shaped output (see the module docstring), or None."""
    image = image_of(array)
    if image is None:
        return None
    values = image.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return None
    low, high = float(values[finite].min()), float(values[finite].max())
    scale = 255.0 / (high - low) if high > low else 0.0
    pixels = np.where(finite, (values - low) * scale, 0.0).clip(0, 255).astype(np.uint8)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    qimage = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return qimage.copy()  # own the pixels: the numpy buffer goes away
