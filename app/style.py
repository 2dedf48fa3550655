"""Editor themes: colours, the Qt style sheet and the tinted SVG icons, light and dark.

Contract:

* :data:`LIGHT` and :data:`DARK` are :class:`Theme` objects; :func:`theme_named` finds one
  by name (``"light"``/``"dark"``, anything else gives LIGHT).
* :func:`apply_theme(app, theme) <apply_theme>` sets the application's palette and style
  sheet. The style sheet is ``assets/style/editor.qss`` with ``${name}`` placeholders filled
  from the theme's colours, so both themes share one set of rules and differ only in colour.
* :func:`icon(name, theme) <icon>` loads ``assets/icons/<name>.svg`` — drawn with
  ``currentColor`` — and tints it with the theme's icon colour (a disabled variant uses the
  muted colour). :func:`block_icon` finds ``block_<snake_name>.svg`` for a block and falls
  back to the generic ``block.svg``, so adding a block needs no list here.
* One theme system: a :class:`Theme` also carries the colours the canvas paints with
  (``theme.canvas``, an :class:`app.canvas.theme.CanvasTheme`), so switching the theme
  switches the widgets and the canvas together.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from string import Template

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from app.canvas import theme as canvas_themes
from app.canvas.theme import CanvasTheme
from graph.model import snake_case

ASSETS = Path(__file__).resolve().parents[1] / "assets"
ICONS = ASSETS / "icons"
STYLES = ASSETS / "style"


@dataclass(frozen=True)
class Theme:
    """The colours of one editor theme (CSS hex strings)."""

    name: str
    window: str  # main window and dock backgrounds
    panel: str  # raised panels: toolbar, headers, group boxes
    base: str  # text fields, lists
    alt_base: str  # alternating rows, hovered items
    text: str
    muted: str  # secondary text: docs, placeholders, inferred shapes
    border: str
    accent: str  # focus rings, selection, the primary button
    accent_text: str  # text on the accent colour
    selection: str  # selected rows (a soft accent)
    error: str
    warning: str
    success: str
    icon: str  # the tint of toolbar icons
    canvas: CanvasTheme  # what the canvas paints with

    @property
    def dark(self) -> bool:
        """Whether this is a dark theme."""
        return QColor(self.window).lightness() < 128


LIGHT = Theme(
    name="light",
    window="#f3f4f6",
    panel="#fbfbfc",
    base="#ffffff",
    alt_base="#f1f3f6",
    text="#1f2328",
    muted="#6b7280",
    border="#d6dae0",
    accent="#2f6feb",
    accent_text="#ffffff",
    selection="#dce8fd",
    error="#cf222e",
    warning="#9a6700",
    success="#1a7f37",
    icon="#3b4149",
    canvas=canvas_themes.LIGHT,
)

DARK = Theme(
    name="dark",
    window="#1d1f23",
    panel="#25282d",
    base="#181a1d",
    alt_base="#2b2e34",
    text="#e3e5e8",
    muted="#9299a3",
    border="#393d44",
    accent="#4c8dff",
    accent_text="#0d1117",
    selection="#26395c",
    error="#ff6b6b",
    warning="#e3b341",
    success="#56d364",
    icon="#c9ced6",
    canvas=canvas_themes.DARK,
)

THEMES = {LIGHT.name: LIGHT, DARK.name: DARK}


def theme_named(name: str | None) -> Theme:
    """The theme called ``name``; LIGHT for anything unknown."""
    return THEMES.get((name or "").strip().lower(), LIGHT)


def tinted_icon_file(name: str, colour: str) -> Path:
    """``assets/icons/<name>.svg`` drawn in ``colour``, as a file a style sheet can ``url()``."""
    folder = Path(tempfile.gettempdir()) / "tensorblocks-style"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}-{colour.lstrip('#')}.svg"
    svg = _svg_text(name) or ""
    if not target.is_file() or target.read_text(encoding="utf-8") != svg.replace(
        "currentColor", colour
    ):
        target.write_text(svg.replace("currentColor", colour), encoding="utf-8")
    return target


def style_sheet(theme: Theme) -> str:
    """The application style sheet for ``theme``."""
    template = Template((STYLES / "editor.qss").read_text(encoding="utf-8"))
    values = asdict(theme)
    # Style sheets cannot tint an image, so the arrow and check mark are written per colour.
    values["chevron"] = tinted_icon_file("chevron_down", theme.muted).as_posix()
    values["chevron_up"] = tinted_icon_file("chevron_up", theme.muted).as_posix()
    values["check"] = tinted_icon_file("check", theme.accent_text).as_posix()
    return template.safe_substitute(values)


def palette(theme: Theme) -> QPalette:
    """A QPalette matching ``theme`` (for widgets the style sheet does not reach)."""
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window,
        QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.base,
        QPalette.ColorRole.AlternateBase: theme.alt_base,
        QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.Button: theme.panel,
        QPalette.ColorRole.ButtonText: theme.text,
        QPalette.ColorRole.Highlight: theme.accent,
        QPalette.ColorRole.HighlightedText: theme.accent_text,
        QPalette.ColorRole.ToolTipBase: theme.panel,
        QPalette.ColorRole.ToolTipText: theme.text,
        QPalette.ColorRole.PlaceholderText: theme.muted,
        QPalette.ColorRole.Link: theme.accent,
        QPalette.ColorRole.Mid: theme.border,
        QPalette.ColorRole.Dark: theme.border,
        # Frame and tab-bar lines are drawn in Light/Midlight; left at Qt's white they
        # cross the dark theme's panels as thin white lines.
        QPalette.ColorRole.Light: theme.border,
        QPalette.ColorRole.Midlight: theme.border,
        QPalette.ColorRole.Shadow: theme.border,
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.ButtonText,
    ):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(theme.muted))
    return pal


def apply_theme(app: QApplication, theme: Theme) -> None:
    """Give the whole application ``theme``'s palette and style sheet."""
    app.setStyle("Fusion")  # the one style that honours palettes the same on every platform
    app.setPalette(palette(theme))
    app.setStyleSheet(style_sheet(theme))


@lru_cache(maxsize=256)
def _svg_text(name: str) -> str | None:
    path = ICONS / f"{name}.svg"
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8")


def _render(svg: str, colour: str, size: int) -> QPixmap:
    renderer = QSvgRenderer(QByteArray(svg.replace("currentColor", colour).encode("utf-8")))
    pixmap = QPixmap(QSize(size, size))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return pixmap


def icon(name: str, theme: Theme, colour: str | None = None) -> QIcon:
    """The icon ``assets/icons/<name>.svg`` tinted for ``theme`` (an empty icon if missing)."""
    svg = _svg_text(name)
    result = QIcon()
    if svg is None:
        return result
    for size in (16, 20, 24, 32, 48):
        result.addPixmap(_render(svg, colour or theme.icon, size), QIcon.Mode.Normal)
        result.addPixmap(_render(svg, theme.muted, size), QIcon.Mode.Disabled)
    return result


def block_icon_name(block: str) -> str:
    """``ExtractGlimpseV2`` -> ``block_extract_glimpse_v2`` if that icon exists, else ``block``."""
    name = f"block_{snake_case(block)}"
    return name if _svg_text(name) is not None else "block"


def block_icon(block: str, colour: str, theme: Theme) -> QIcon:
    """A block's glyph drawn in the block's colour."""
    return icon(block_icon_name(block), theme, colour)


def app_icon() -> QIcon:
    """The TensorBlocks application icon."""
    svg = _svg_text("tensorblocks")
    result = QIcon()
    if svg is not None:
        for size in (16, 32, 48, 64, 128, 256):
            result.addPixmap(_render(svg, "#ffffff", size))
    return result
