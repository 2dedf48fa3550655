"""Canvas colours for the light and dark themes.

Contract: :class:`CanvasTheme` is a frozen dataclass of colour strings (``#rrggbb`` or
``#aarrggbb``) that the canvas items read when they paint; :data:`LIGHT` and :data:`DARK`
are the two built-in themes. ``GraphScene.set_theme(theme)`` repaints everything with a
theme. The window's Qt stylesheet (app/style.py) is separate: this module only colours what
the canvas draws itself. Port colours are keyed by :class:`blocks.spec.PortKind` value, and
every output (always a tensor) uses the ``tensor`` colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from blocks.spec import PortKind


def _port_colours(tensor: str, int_list: str, string: str, dtype: str, path: str) -> dict[str, str]:
    return {
        PortKind.TENSOR.value: tensor,
        PortKind.INT_LIST.value: int_list,
        PortKind.STRING.value: string,
        PortKind.DTYPE.value: dtype,
        PortKind.PATH.value: path,
    }


@dataclass(frozen=True)
class CanvasTheme:
    """The colours the canvas paints with (see the module docstring)."""

    name: str
    background: str
    grid_minor: str
    grid_major: str
    node_body: str
    node_border: str
    node_selected: str
    node_shadow: str
    text: str
    text_dim: str
    header_text: str
    field_background: str
    field_border: str
    field_text: str
    field_default_text: str
    wire: str
    wire_selected: str
    wire_pending: str
    label_background: str
    label_text: str
    error: str
    ok: str
    cached: str
    highlight: str
    ports: dict[str, str] = field(default_factory=dict)

    def port_colour(self, kind: PortKind | None) -> str:
        """The colour of a port of ``kind`` (``None``: an output, i.e. a tensor)."""
        key = PortKind.TENSOR.value if kind is None else kind.value
        return self.ports.get(key, self.wire)


LIGHT = CanvasTheme(
    name="light",
    background="#f4f5f7",
    grid_minor="#e6e8ec",
    grid_major="#d5d9df",
    node_body="#ffffff",
    node_border="#c9ced6",
    node_selected="#2f7de1",
    node_shadow="#28000000",
    text="#1f2329",
    text_dim="#7a828e",
    header_text="#ffffff",
    field_background="#f1f3f6",
    field_border="#dde1e7",
    field_text="#1f2329",
    field_default_text="#9aa1ab",
    wire="#7d8794",
    wire_selected="#2f7de1",
    wire_pending="#2f7de1",
    label_background="#e8ebef",
    label_text="#3b424c",
    error="#d93b3b",
    ok="#2e9b55",
    cached="#8a929c",
    highlight="#2f7de1",
    ports=_port_colours("#3f86d6", "#1fa39a", "#d4a017", "#c0549a", "#7f8c5a"),
)

DARK = CanvasTheme(
    name="dark",
    background="#1e2024",
    grid_minor="#26292e",
    grid_major="#30343a",
    node_body="#2d3036",
    node_border="#3d4148",
    node_selected="#5aa2ff",
    node_shadow="#70000000",
    text="#e3e6ea",
    text_dim="#8d949e",
    header_text="#ffffff",
    field_background="#24272c",
    field_border="#3a3e45",
    field_text="#e3e6ea",
    field_default_text="#6f7680",
    wire="#9aa3ae",
    wire_selected="#5aa2ff",
    wire_pending="#5aa2ff",
    label_background="#383c43",
    label_text="#d5d9de",
    error="#ef5350",
    ok="#4caf6d",
    cached="#7c848e",
    highlight="#5aa2ff",
    ports=_port_colours("#5a9ee8", "#2cbfb3", "#e0b23a", "#d46aae", "#9aa86e"),
)
